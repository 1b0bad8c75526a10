package apikey

import (
	"testing"
	"time"
)

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute, "1s": time.Second, "3650d": 3650 * 24 * time.Hour} {
		if got, err := ParseLifetime(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "0d", "-1d", "1.5d", "d", "30x", "3651d", "500ms", "1e9d"} {
		if _, err := ParseLifetime(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
