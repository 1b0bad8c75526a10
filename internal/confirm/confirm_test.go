package confirm

import (
	"errors"
	"strings"
	"testing"
)

type answer struct {
	ok    bool
	err   error
	asked *int
}

func (a answer) Confirm(string) (bool, error) { *a.asked++; return a.ok, a.err }

func TestAsk(t *testing.T) {
	n := 0
	if err := Ask(answer{ok: false, asked: &n}, true, "q"); err != nil || n != 0 {
		t.Fatalf("--yes: %v (asked %d)", err, n)
	}
	if err := Ask(nil, false, "create?"); err == nil || !strings.Contains(err.Error(), "--yes") || !strings.Contains(err.Error(), "create?") {
		t.Fatalf("no terminal: %v", err)
	}
	if err := Ask(answer{ok: false, asked: &n}, false, "q"); !errors.Is(err, ErrDeclined) {
		t.Fatalf("no: %v", err)
	}
	if err := Ask(answer{ok: true, asked: &n}, false, "q"); err != nil {
		t.Fatalf("yes: %v", err)
	}
	boom := errors.New("interrupted")
	if err := Ask(answer{err: boom, asked: &n}, false, "q"); !errors.Is(err, boom) {
		t.Fatalf("prompt error: %v", err)
	}
}
