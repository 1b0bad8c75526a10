package whoami

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

func TestWhoamiOptionsAndErrors(t *testing.T) {
	for _, tty := range []bool{false, true} {
		f, _, _ := cmdutil.TestFactory(t.TempDir(), "", tty)
		var got *WhoamiOptions
		if err := cmdutil.ExecuteTest(NewCmdWhoami(f, func(o *WhoamiOptions) error { got = o; return nil }), "-o", "yaml"); err != nil || *got.Format != "yaml" {
			t.Fatalf("%+v %v", got, err)
		}
		if err := cmdutil.ExecuteTest(NewCmdWhoami(f, nil), "extra"); err == nil || !strings.Contains(err.Error(), "unknown command") && !strings.Contains(err.Error(), "accepts 0 arg") {
			t.Errorf("an argument: %v", err)
		}
		// No environment: the error of the environment lookup, as is.
		err := cmdutil.ExecuteTest(NewCmdWhoami(f, nil))
		if !errors.Is(err, cliconfig.ErrNoEnvironments) {
			t.Errorf("no environment: %v", err)
		}
		want := errors.New("boom")
		err = cmdutil.ExecuteTest(NewCmdWhoami(f, func(o *WhoamiOptions) error {
			o.Client = func(context.Context) (*client.Client, *cliconfig.Environment, error) { return nil, nil, want }
			return whoamiRun(o)
		}))
		if !errors.Is(err, want) {
			t.Errorf("client error: %v", err)
		}
	}
}
