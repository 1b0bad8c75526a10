package local

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The replica log *file* tells the API's lines from the supervisor's ("source"), but the stream
// `cortex logs` shows (the hub) does not: the supervisor's events are "[api-N] cortex: ..." and an
// API that prints "cortex: ..." produces byte-identical lines. It can forge restarts, readiness or
// "killed by signal" events, and since lastLine skips "cortex: " lines, the same prefix also hides
// its real last words from the status reason.
func TestRedteamAPIOutputForgesSupervisorEventsInTheLogStream(t *testing.T) {
	t.Skip("redteam: reproduces 'API output can forge supervisor event lines in the cortex logs stream (and hide its last words from the status)'; unskip when fixed")
	hub := newLogHub()
	prefix := "[iris-0] "
	forged := "cortex: exited (killed by signal killed); restarting in 100ms\n"
	pump(strings.NewReader(forged), prefix, nil, hub)                 // what the API printed
	hub.add([]byte(prefix + strings.TrimSuffix(forged, "\n") + "\n")) // what the supervisor says
	var out bytes.Buffer
	if err := hub.stream(context.Background(), false, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	if lines[0] == lines[1] {
		t.Errorf("an API's line and the supervisor's event are indistinguishable in cortex logs: %q", lines[0])
	}
}
