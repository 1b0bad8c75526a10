package cmdutil

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// TestFactory returns a factory for command tests: buffers for streams (stdin holds in; every
// stream a terminal when tty), a prompter on them, and configDir as the configuration directory.
func TestFactory(configDir, in string, tty bool) (f *Factory, out, errOut *bytes.Buffer) {
	ios, stdin, out, errOut := Test()
	stdin.WriteString(in)
	ios.SetStdinTTY(tty)
	ios.SetStdoutTTY(tty)
	ios.SetStderrTTY(tty)
	f = &Factory{IO: ios, Prompter: NewPrompter(ios), Now: time.Now, Getenv: func(string) string { return "" },
		ConfigDir: func() (string, error) { return configDir, nil }}
	return f, out, errOut
}

// ExecuteTest runs cmd with args the way the root command would (silently: the caller looks at
// the error and the buffers).
func ExecuteTest(cmd *cobra.Command, args ...string) error {
	cmd.SetArgs(args)
	cmd.SetIn(&bytes.Buffer{})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}
