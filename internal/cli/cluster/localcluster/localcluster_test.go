package localcluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func TestLocalClusterCommandsWithoutACluster(t *testing.T) {
	for _, tty := range []bool{false, true} {
		dir := t.TempDir()
		f, out, _ := cmdutil.TestFactory(dir, "", tty)
		err := cmdutil.ExecuteTest(NewCmdInfo(f, nil))
		if err == nil || !strings.Contains(err.Error(), "there is no local cluster") {
			t.Errorf("info (tty %v): %v", tty, err)
		}
		var ee *cmdutil.ExitError
		if !asExit(err, &ee) || ee.Code != 1 {
			t.Errorf("info exit: %v", err)
		}
		if err := cmdutil.ExecuteTest(NewCmdDown(f, nil), "--keep-state"); err != nil || !strings.Contains(out.String(), "local cluster was not running") {
			t.Errorf("down (tty %v): %v %q", tty, err, out)
		}
	}
}

func TestNewCmdUpParsesIntoOptions(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	f.EnvName = "dev"
	var got *UpOptions
	err := cmdutil.ExecuteTest(NewCmdUp(f, func(o *UpOptions) error { got = o; return nil }),
		"--operator-port", "8888", "--auth", "iam", "--account-id", "123456789012", "--start-timeout", "5s", "-o", "json")
	if err != nil || got.Core.OperatorPort != 8888 || got.Core.Auth != "iam" || got.Core.AccountID != "123456789012" ||
		got.Core.StartTimeout != 5*time.Second || *got.Format != "json" || got.EnvName() != "dev" {
		t.Fatalf("%+v %v", got, err)
	}
	if err := cmdutil.ExecuteTest(NewCmdUp(f, nil), "extra"); err == nil {
		t.Fatal("an argument accepted")
	}
}

func asExit(err error, target **cmdutil.ExitError) bool { return errors.As(err, target) }
