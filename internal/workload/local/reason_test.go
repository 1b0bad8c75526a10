package local

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// A replica's last output line becomes its status reason (lastLine). The operator serves it in
// GET /v1/apis[/NAME] and `cortex get` prints it to the user's terminal, so the output of any API
// (its code, its dependencies, or whatever a caller makes it print before it dies) must not reach
// it raw: its escapes would retitle, clear and repaint the terminal of whoever looks at the
// cluster. The reason carries them escaped, visibly.
func TestReplicaLastWordsReachStatusEscaped(t *testing.T) {
	b, err := New(Options{Dir: t.TempDir(), BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	spec := apispec.Spec{Name: "esc", Kind: apispec.KindRealtime, Replicas: 1,
		Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{"/bin/sh", "-c",
			`printf '\033]0;cluster OK\007\033[2J\033[H\033[32mall replicas ready\033[0m\n'; exit 1`}}}
	if err := b.Apply(context.Background(), workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, b, "esc", "error", func(s workload.Status) bool { return s.State == workload.Error })
	for i := 0; i < len(st.Reason); i++ {
		if c := st.Reason[i]; c < 0x20 || c == 0x7f {
			t.Fatalf("status reason carries control byte %#x: %q", c, st.Reason)
		}
	}
	if !strings.Contains(st.Reason, `\x1b]0;cluster OK\x07\x1b[2J`) {
		t.Errorf("status reason does not show the escapes: %q", st.Reason)
	}
}

func TestReasonText(t *testing.T) {
	for in, want := range map[string]string{
		"  plain text\n":                  "plain text",
		"tab\there":                       `tab\x09here`,
		"\x1b[2Jbell\a del\x7f":           `\x1b[2Jbell\x07 del\x7f`,
		"c1 \u009b31m and \xff\xfe bytes": `c1 \u009b31m and \xff\xfe bytes`,
		"caf\u00e9 \u65e5\u672c":          "caf\u00e9 \u65e5\u672c",
		strings.Repeat("a", 400):          strings.Repeat("a", 300) + "...",
		strings.Repeat("\x1b", 101):       strings.Repeat(`\x1b`, 75) + "...",
		strings.Repeat("\u00e9", 200):     strings.Repeat("\u00e9", 150) + "...",
	} {
		if got := reasonText([]byte(in)); got != want {
			t.Errorf("reasonText(%q) = %q, want %q", in, got, want)
		}
	}
}
