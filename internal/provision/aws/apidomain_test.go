package aws

import "testing"

// A certificate covers a host as TLS clients match it: exactly, or a wildcard for one label
// directly under its parent, never the parent itself nor two labels down.
func TestCertCovers(t *testing.T) {
	names := []string{"api.example.com", "*.models.example.com"}
	for host, want := range map[string]bool{
		"api.example.com":           true,
		"iris.models.example.com":   true,
		"models.example.com":        false,
		"a.iris.models.example.com": false,
		"www.example.com":           false,
		"api.example.com.evil.io":   false,
		"xapi.example.com":          false,
	} {
		if got := certCovers(names, host); got != want {
			t.Errorf("%s: covered %v, want %v", host, got, want)
		}
	}
}
