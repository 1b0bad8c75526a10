package cluster

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// revoke in auth mode account says, in one line on stderr, that a principal of the cluster's
// account keeps the account role (a revoke removes its rule, not that role); in rules mode, or
// for a principal of another account, it says nothing of the kind. Real operators, signed in
// with the local admin credential.
func TestRevokeSaysTheAccountModeKeepsTheRole(t *testing.T) {
	const bob, other = "arn:aws:iam::123456789012:user/bob", "arn:aws:iam::111122223333:role/ci"
	for _, tc := range []struct {
		mode, role string
		principal  string
		want       string // "" = no note
	}{
		{"", "", bob, "note: " + bob + " keeps role deploy on c through auth mode account (every identity of account 123456789012 has it); only auth mode rules removes it\n"},
		{"account", "read", bob, "keeps role read on c through auth mode account"},
		{"account", "", "123456789012", "note: 123456789012 keeps role deploy on c"},
		{"account", "", other, ""},
		{"rules", "", bob, ""},
	} {
		state := t.TempDir()
		tokenFile := filepath.Join(state, "admin.token")
		op := opserver.Start(t, operator.Config{StateDir: filepath.Join(state, "state"), Provider: "local", LocalTokenFile: tokenFile,
			STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012", AuthMode: tc.mode, AccountRole: tc.role})
		dir := filepath.Join(t.TempDir(), "cortex")
		cfg, err := cliconfig.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Put(cliconfig.Environment{Name: "c", Provider: "local", OperatorEndpoint: op.URL, CACert: string(op.CAPEM()),
			Auth: cliconfig.AuthLocal, LocalTokenFile: tokenFile, ClusterID: op.Cluster().ID})
		cfg.DefaultEnvironment = "c"
		if err := cfg.Save(); err != nil {
			t.Fatal(err)
		}
		f, out, errOut := cmdutil.TestFactory(dir, "", false)
		if err := cmdutil.ExecuteTest(NewCmdAccess(f), "grant", tc.principal, "--role", "read"); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		errOut.Reset()
		if err := cmdutil.ExecuteTest(NewCmdAccess(f), "revoke", tc.principal); err != nil {
			t.Fatalf("%+v: revoke: %v", tc, err)
		}
		if !strings.Contains(out.String(), "revoked the access rule of "+tc.principal) {
			t.Errorf("%+v: stdout %q", tc, out)
		}
		switch {
		case tc.want == "" && errOut.Len() != 0:
			t.Errorf("%+v: stderr %q, want nothing", tc, errOut)
		case tc.want != "" && (!strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1):
			t.Errorf("%+v: stderr %q, want one line with %q", tc, errOut, tc.want)
		}
		op.Stop()
	}
}
