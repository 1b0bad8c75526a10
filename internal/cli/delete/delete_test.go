package delete

import (
	"context"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Without --yes, delete asks on a terminal and refuses without one, before any request. The test
// environment's credential file does not exist, so getting as far as a request is an error of
// its own ("read the local admin credential"): the refusals come before it.
func TestDeleteConfirmation(t *testing.T) {
	env := &cliconfig.Environment{Name: "prod", OperatorEndpoint: "https://127.0.0.1:1", Auth: cliconfig.AuthLocal, LocalTokenFile: "/nonexistent"}
	for _, tc := range []struct {
		name  string
		tty   bool
		in    string
		args  []string
		err   string
		asked bool
	}{
		{"pipe without --yes", false, "", []string{"iris"}, "refusing to delete api iris from environment prod (https://127.0.0.1:1) without confirmation: pass --yes", false},
		{"terminal, no", true, "n\n", []string{"iris", "echo"}, "nothing deleted", true},
		{"terminal, empty answer", true, "\n", []string{"iris"}, "nothing deleted", true},
		{"terminal, end of input", true, "", []string{"iris"}, "no answer", true},
		{"terminal, yes", true, "y\n", []string{"iris"}, "delete iris: read the local admin credential", true},
		{"pipe, --yes", false, "", []string{"iris", "--yes"}, "delete iris: read the local admin credential", false},
		{"no API", false, "", nil, "requires at least 1 arg", false},
	} {
		f, _, errOut := cmdutil.TestFactory(t.TempDir(), tc.in, tc.tty)
		// runF swaps in a client of the test environment (nothing listens at its endpoint).
		cmd := NewCmdDelete(f, func(o *DeleteOptions) error {
			o.Client = func(context.Context) (*client.Client, *cliconfig.Environment, error) {
				c, err := client.ForEnvironment(t.TempDir(), env, nil, nil)
				return c, env, err
			}
			return deleteRun(o)
		})
		err := cmdutil.ExecuteTest(cmd, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
		if asked := strings.Contains(errOut.String(), "[y/N]"); asked != tc.asked {
			t.Errorf("%s: asked %v, want %v: %q", tc.name, asked, tc.asked, errOut)
		}
	}
}
