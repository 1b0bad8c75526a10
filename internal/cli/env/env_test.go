package env

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
)

func seed(t *testing.T, dir string, def string, envs ...string) {
	t.Helper()
	cfg, _ := cliconfig.Load(dir)
	for _, e := range envs {
		cfg.Put(cliconfig.Environment{Name: e, OperatorEndpoint: "https://127.0.0.1:1", Auth: cliconfig.AuthAWS, ClusterID: "c-" + e})
	}
	cfg.DefaultEnvironment = def
	if err := cfg.Save(); err != nil {
		t.Fatal(err)
	}
}

// The env commands' errors and outputs, on a terminal and not. None of these contacts an
// operator (configure's binding is covered against a real one in internal/cli/root).
func TestEnvCommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		def     string
		envs    []string
		cmd     string
		args    []string
		out     string
		err     string
		nowDef  string
		remains []string
	}{
		{name: "list empty", cmd: "list", out: "no environments: run `cortex cluster up`"},
		{name: "list with default", def: "a", envs: []string{"a", "b"}, cmd: "list", out: "a (default)", nowDef: "a"},
		{name: "list without default", envs: []string{"a", "b"}, cmd: "list", out: "no default environment: pass -e NAME"},
		{name: "list json", def: "a", envs: []string{"a"}, cmd: "list", args: []string{"-o", "json"}, out: `"default": true`, nowDef: "a"},
		{name: "default", envs: []string{"a", "b"}, cmd: "default", args: []string{"b"}, out: "b is the default environment", nowDef: "b"},
		{name: "default unknown", def: "a", envs: []string{"a"}, cmd: "default", args: []string{"zz"}, err: `environment "zz" is not configured (environments: a`, nowDef: "a"},
		{name: "default no arg", cmd: "default", err: "accepts 1 arg"},
		{name: "delete the default", def: "a", envs: []string{"a", "b"}, cmd: "delete", args: []string{"a"}, out: "there is no default environment now: run `cortex env default NAME` (b)", remains: []string{"b"}},
		{name: "delete another", def: "a", envs: []string{"a", "b"}, cmd: "delete", args: []string{"b"}, out: "deleted environment b", nowDef: "a", remains: []string{"a"}},
		{name: "delete unknown", cmd: "delete", args: []string{"x"}, err: `environment "x" is not configured`},
		{name: "configure bad name", cmd: "configure", args: []string{"Prod"}, err: "invalid environment name"},
		{name: "configure new without endpoint", cmd: "configure", args: []string{"new"}, err: "--operator-endpoint is required"},
		{name: "configure bad auth", envs: []string{"a"}, def: "a", cmd: "configure", args: []string{"a", "--auth", "basic"}, err: "invalid --auth", nowDef: "a"},
		{name: "configure local without token file", envs: []string{"a"}, def: "a", cmd: "configure", args: []string{"a", "--auth", "local"}, err: "needs --local-token-file", nowDef: "a"},
		{name: "configure bad creds flag", envs: []string{"a"}, def: "a", cmd: "configure", args: []string{"a", "--aws-credentials-for-apis", "yes"}, err: "use true or false", nowDef: "a"},
		{name: "configure plain http", cmd: "configure", args: []string{"n", "--operator-endpoint", "http://10.0.0.1:8888"}, err: "refusing plain http://"},
		{name: "configure one field", envs: []string{"a"}, def: "a", cmd: "configure", args: []string{"a", "--aws-profile", "ml"}, out: "environment a: https://127.0.0.1:1 (cluster c-a)", nowDef: "a"},
	} {
		for _, tty := range []bool{false, true} {
			dir := t.TempDir()
			if len(tc.envs) > 0 {
				seed(t, dir, tc.def, tc.envs...)
			}
			f, out, _ := cmdutil.TestFactory(dir, "", tty)
			cmd := NewCmdEnv(f)
			err := cmdutil.ExecuteTest(cmd, append([]string{tc.cmd}, tc.args...)...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s (tty %v): err %v, want %q", tc.name, tty, err, tc.err)
				}
			} else if err != nil || !strings.Contains(out.String(), tc.out) {
				t.Errorf("%s (tty %v): err %v, output %q, want %q", tc.name, tty, err, out, tc.out)
			}
			cfg, _ := cliconfig.Load(dir)
			if cfg.DefaultEnvironment != tc.nowDef {
				t.Errorf("%s: default is %q, want %q", tc.name, cfg.DefaultEnvironment, tc.nowDef)
			}
			if tc.remains != nil && strings.Join(cfg.Names(), ",") != strings.Join(tc.remains, ",") {
				t.Errorf("%s: environments %v, want %v", tc.name, cfg.Names(), tc.remains)
			}
		}
	}
}
