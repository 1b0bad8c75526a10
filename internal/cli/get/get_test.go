package get

import (
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func TestNewCmdGetParsesIntoOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want GetOptions
		err  string
	}{
		{args: nil, want: GetOptions{Interval: 2 * time.Second}},
		{args: []string{"iris", "-w", "--interval", "500ms"}, want: GetOptions{API: "iris", Watch: true, Interval: 500 * time.Millisecond}},
		{args: []string{"-o", "json"}, want: GetOptions{Interval: 2 * time.Second}},
		{args: []string{"a", "b"}, err: "accepts at most 1 arg"},
		{args: []string{"-o", "xml"}, err: "use table, json or yaml"},
		{args: []string{"--interval", "-1s"}, err: "invalid --interval"},
	} {
		for _, tty := range []bool{false, true} {
			f, _, _ := cmdutil.TestFactory(t.TempDir(), "", tty)
			var got *GetOptions
			err := cmdutil.ExecuteTest(NewCmdGet(f, func(o *GetOptions) error { got = o; return nil }), tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			if got.API != tc.want.API || got.Watch != tc.want.Watch || got.Interval != tc.want.Interval || got.IO.IsStdoutTTY() != tty {
				t.Errorf("%v (tty %v): %+v", tc.args, tty, got)
			}
		}
	}
}

func TestTable(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		apis []apitypes.APIStatus
		one  bool
		want []string
	}{
		{"none", nil, false, []string{"no APIs are deployed (cortex deploy)"}},
		{"list", []apitypes.APIStatus{{Name: "iris", Status: apitypes.Live, Replicas: apitypes.Replicas{Requested: 2, Ready: 2}, Endpoint: "https://x/iris", UpdatedAt: now.Add(-90 * time.Second)}},
			false, []string{"NAME", "iris", "live", "2/2", "https://x/iris", "1m ago"}},
		{"error reason", []apitypes.APIStatus{{Name: "bad", Status: apitypes.Error, Reason: "exit 1"}}, false, []string{"bad: exit 1"}},
		{"one with replicas", []apitypes.APIStatus{{Name: "iris", Status: apitypes.Updating, Reason: "starting",
			Details: []apitypes.ReplicaStatus{{ID: 0, State: "starting", Restarts: 3, Reason: "boom"}}}}, true, []string{"reason: starting", "REPLICA", "boom"}},
	} {
		var b strings.Builder
		if err := cmdutil.Print(&b, cmdutil.FormatTable, nil, func(tw *tabwriter.Writer) { table(tw, tc.apis, tc.one, now) }); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: %q missing from\n%s", tc.name, w, b.String())
			}
		}
	}
}

// `cortex get NAME` prints the status reason the operator sends (a replica's last output line,
// see internal/workload/local TestReplicaLastWordsReachStatusEscaped) with its control
// characters escaped, as `cortex logs` does on a terminal: the API's bytes must not drive the
// user's terminal, whichever operator sent them.
func TestGetShowsReasonEscapesEscaped(t *testing.T) {
	reason := "replica 0: exited (exit status 1: \x1b]0;cluster OK\a\x1b[2J\x1b[H\x1b[32mall replicas ready\x1b[0m)"
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	table(tw, []apitypes.APIStatus{{Name: "esc", Status: apitypes.Error, Reason: reason,
		Details: []apitypes.ReplicaStatus{{ID: 0, State: "error", Reason: reason}}}}, true, time.Now())
	tw.Flush()
	if strings.ContainsAny(b.String(), "\x1b\a") {
		t.Fatalf("cortex get wrote raw control characters to the terminal: %q", b.String())
	}
	if !strings.Contains(b.String(), `\x1b]0;cluster OK\x07`) {
		t.Errorf("cortex get does not show the escapes: %q", b.String())
	}
}
