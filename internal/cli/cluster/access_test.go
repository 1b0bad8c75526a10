package cluster

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

// Principals and roles are validated before any environment or request (a typo never reaches the
// cluster): with no environment configured, a bad grant fails on the grant, a good one on the
// missing environment.
func TestAccessCommandsValidateFirst(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
		err  string
	}{
		{"grant", []string{"arn:aws:iam::111122223333:user/bob", "--role", "owner"}, "role"},
		{"grant", []string{"not-an-arn", "--role", "read"}, "principal"},
		{"grant", []string{"arn:aws:iam::111122223333:user/bob"}, `required flag(s) "role" not set`},
		{"grant", []string{"arn:aws:iam::111122223333:user/bob", "--role", "read"}, "no environment is configured"},
		{"revoke", []string{"nope"}, "principal"},
		{"revoke", []string{"111122223333"}, "no environment is configured"},
		{"list", []string{"-o", "json"}, "no environment is configured"},
		{"list", []string{"extra"}, "unknown command"},
	} {
		for _, tty := range []bool{false, true} {
			f, _, _ := cmdutil.TestFactory(t.TempDir(), "", tty)
			err := cmdutil.ExecuteTest(NewCmdAccess(f), append([]string{tc.cmd}, tc.args...)...)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.err) {
				t.Errorf("%s %v (tty %v): err %v, want %q", tc.cmd, tc.args, tty, err, tc.err)
			}
		}
	}
}
