package operatorcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

// Flags win over --config; both land in the operator's configuration.
func TestServeOptions(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "operator.yaml")
	_ = os.WriteFile(conf, []byte("state_dir: /from/file\nlisten: 127.0.0.1:1\napis:\n  aws_settings_file: /file/apis-aws.json\n"), 0o600)
	f, _, _ := cmdutil.TestFactory(dir, "", false)
	var got *ServeOptions
	err := cmdutil.ExecuteTest(NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil }),
		"--config", conf, "--listen", "127.0.0.1:2", "--apis-aws-settings-file", "/flag/apis-aws.json")
	if err != nil {
		t.Fatal(err)
	}
	if got.configFile != conf || !got.changed("listen") || got.changed("state-dir") || got.cfg.APIs.AWSSettingsFile != "/flag/apis-aws.json" {
		t.Fatalf("%+v", got)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, "--state-dir (or state_dir in --config) is required"},
		{[]string{"--state-dir", dir, "--log-level", "loud"}, "invalid --log-level"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"extra"}, "unknown command"},
	} {
		if err := cmdutil.ExecuteTest(NewCmdServe(f, nil), tc.args...); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
		}
	}
}
