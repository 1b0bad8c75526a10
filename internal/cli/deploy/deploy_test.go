package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

func TestNewCmdDeployParsesIntoOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want DeployOptions
		err  string
	}{
		{args: nil, want: DeployOptions{File: "cortex.yaml", Timeout: 5 * time.Minute}},
		{args: []string{"examples/echo", "--no-wait", "--timeout", "1m"}, want: DeployOptions{File: "examples/echo", NoWait: true, Timeout: time.Minute}},
		{args: []string{"a", "b"}, err: "accepts at most 1 arg"},
		{args: []string{"--timeout", "0s"}, err: "invalid --timeout"},
		{args: []string{"-o", "csv"}, err: "use table, json or yaml"},
	} {
		for _, tty := range []bool{false, true} {
			f, _, _ := cmdutil.TestFactory(t.TempDir(), "", tty)
			var got *DeployOptions
			err := cmdutil.ExecuteTest(NewCmdDeploy(f, func(o *DeployOptions) error { got = o; return nil }), tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
				}
				continue
			}
			if err != nil || got.File != tc.want.File || got.NoWait != tc.want.NoWait || got.Timeout != tc.want.Timeout {
				t.Errorf("%v: %+v %v", tc.args, got, err)
			}
		}
	}
}

// The spec is read and validated before the environment is even looked at; a directory means its
// cortex.yaml (like the Python client's deploy).
func TestDeployChecksTheSpecFirst(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "handler.py"), []byte("class Handler: pass\n"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "cortex.yaml"), []byte("- name: echo\n  kind: RealtimeAPI\n  handler: {type: python, path: handler.py}\n"), 0o600)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("- name: Not_Valid\n  kind: RealtimeAPI\n"), 0o600)
	errNoEnv := errors.New("no environment (test)")
	for _, tc := range []struct {
		file, err string
	}{
		{dir, "no environment (test)"}, // read and valid: next is the environment
		{filepath.Join(dir, "cortex.yaml"), "no environment (test)"},
		{filepath.Join(dir, "nope.yaml"), "does not exist: pass a cortex.yaml or a directory"},
		{t.TempDir(), "cortex.yaml does not exist"}, // a directory without one
		{bad, "bad.yaml"},
	} {
		f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
		err := cmdutil.ExecuteTest(NewCmdDeploy(f, func(o *DeployOptions) error {
			o.Client = func(context.Context) (*client.Client, *cliconfig.Environment, error) { return nil, nil, errNoEnv }
			return deployRun(o)
		}), tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.file, err, tc.err)
		}
	}
}
