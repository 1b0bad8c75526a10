package operator

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDenialLogWindows(t *testing.T) {
	var buf strings.Builder
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	d := newDenialLog(l, l, time.Minute)
	k := denialKey{client: "192.0.2.1", decision: "deny", reason: "no_token", status: 401}
	other := denialKey{client: "192.0.2.2", decision: "deny", reason: "no_token", status: 401}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	full := 0
	for i := 0; i < 1000; i++ {
		if d.admit(k, "/v1/info", t0.Add(time.Duration(i)*time.Millisecond)) {
			full++
		}
	}
	if full != 1 || !d.admit(other, "/x", t0) {
		t.Fatalf("full lines = %d, want 1; another address must get its own first line", full)
	}
	d.flush(t0.Add(30*time.Second), false)
	if buf.Len() != 0 {
		t.Fatalf("summary before the window ended: %s", buf.String())
	}
	d.flush(t0.Add(61*time.Second), false)
	var m map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &m); err != nil || m["denials_suppressed"] != float64(999) || m["first_path"] != "/v1/info" {
		t.Fatalf("summary = %s (%v)", buf.String(), err)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("a window with nothing suppressed wrote a summary: %s", buf.String())
	}
	// A new window: the next denial is logged in full again.
	if !d.admit(k, "/v1/info", t0.Add(62*time.Second)) {
		t.Fatal("first denial of a new window was suppressed")
	}
	// A window that ended without a flush is summarized by the next denial of its key.
	buf.Reset()
	d.admit(k, "/v1/info", t0.Add(63*time.Second))
	if !d.admit(k, "/v1/info", t0.Add(200*time.Second)) || !strings.Contains(buf.String(), `"denials_suppressed":1`) {
		t.Fatalf("late denial: %s", buf.String())
	}
}

// Beyond maxKeys keys in a window, denials are counted into one overflow summary instead of each
// being written in full: a flood from many addresses has a bounded volume.
func TestDenialLogOverflowIsCountedNotWritten(t *testing.T) {
	var auth, anon strings.Builder
	d := newDenialLog(slog.New(slog.NewJSONHandler(&auth, nil)), slog.New(slog.NewJSONHandler(&anon, nil)), time.Minute)
	d.maxKeys = 10
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	full := 0
	for i := 0; i < 1000; i++ {
		k := denialKey{client: "192.0.2." + strconv.Itoa(i%250), decision: "deny", reason: "no_token", status: 401, method: "GET"}
		if d.admit(k, "/v1/info", t0) {
			full++
		}
	}
	if full != 10 {
		t.Fatalf("%d full lines from 250 addresses with maxKeys 10, want 10", full)
	}
	d.flush(t0.Add(61*time.Second), false)
	if !strings.Contains(anon.String(), `"client":"*"`) || !strings.Contains(anon.String(), `"reason":"too_many_clients"`) {
		t.Fatalf("no overflow summary in the denial log:\n%s", anon.String())
	}
	if auth.Len() != 0 {
		t.Fatalf("unauthenticated summaries reached the audit log of principals:\n%s", auth.String())
	}
	// Denials of a verified principal are summarized in the principals' log, keyed by ARN.
	k := denialKey{client: "192.0.2.1", decision: "deny", reason: "role_too_low", status: 403, arn: "arn:aws:iam::1:user/m", method: "PUT"}
	d2 := newDenialLog(slog.New(slog.NewJSONHandler(&auth, nil)), slog.New(slog.NewJSONHandler(&anon, nil)), time.Minute)
	d2.admit(k, "/v1/access", t0)
	d2.admit(k, "/v1/access", t0)
	d2.flush(t0.Add(61*time.Second), false)
	if !strings.Contains(auth.String(), `"arn":"arn:aws:iam::1:user/m"`) {
		t.Fatalf("a principal's suppressed denials are not summarized with its ARN:\n%s", auth.String())
	}
}
