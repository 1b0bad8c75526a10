package logs

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func TestNewCmdLogsParsesIntoOptions(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		api    string
		follow bool
		err    string
	}{
		{args: []string{"iris"}, api: "iris"},
		{args: []string{"iris", "-f"}, api: "iris", follow: true},
		{args: nil, err: "accepts 1 arg"},
		{args: []string{"a", "b"}, err: "accepts 1 arg"},
	} {
		for _, tty := range []bool{false, true} {
			f, _, _ := cmdutil.TestFactory(t.TempDir(), "", tty)
			var got *LogsOptions
			err := cmdutil.ExecuteTest(NewCmdLogs(f, func(o *LogsOptions) error { got = o; return nil }), tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%v: err %v", tc.args, err)
				}
				continue
			}
			// The terminal decision (escaping) comes from the streams.
			if err != nil || got.API != tc.api || got.Follow != tc.follow || got.IO.IsStdoutTTY() != tty {
				t.Errorf("%v: %+v %v", tc.args, got, err)
			}
		}
	}
}
