package local

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The replica log *file* tells the API's lines from the supervisor's ("source"), and so must the
// stream `cortex logs` shows (the hub): an API that prints what looks like a supervisor event
// ("cortex: exited ...; restarting") must not produce the event's line. Nor may such a line hide
// the API's last words from the status reason (lastLine goes by the line's source).
func TestAPIOutputCannotForgeSupervisorEventsInTheLogStream(t *testing.T) {
	hub := newLogHub()
	src := lineSource{api: "iris", replica: 0}
	event := "exited (killed by signal killed); restarting in 100ms"
	// What the API printed: the event's text, and the event's whole line as the stream shows it.
	pump(strings.NewReader("cortex: "+event+"\n"+src.eventPrefix()+event+"\n"), src, nil, hub)
	hub.add(src.event(event)) // what the supervisor says
	var out bytes.Buffer
	if err := hub.stream(context.Background(), false, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	for _, l := range lines[:2] {
		if l == lines[2] || strings.HasPrefix(l, src.eventPrefix()) {
			t.Errorf("an API's line passes for the supervisor's event in cortex logs: %q (event: %q)", l, lines[2])
		}
	}
	r := &replica{a: &api{hub: hub}, id: 0}
	if got, want := r.lastLine(), src.eventPrefix()+event; got != want {
		t.Errorf("lastLine = %q, want the API's last line %q", got, want)
	}
}
