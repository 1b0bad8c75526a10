// Package root assembles the `cortex` command tree and runs it: exit codes, usage errors and
// interrupts are decided here, once for every command.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/apikey"
	"github.com/cortexlabs-go/cortex/internal/cli/call"
	"github.com/cortexlabs-go/cortex/internal/cli/cluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	deletecmd "github.com/cortexlabs-go/cortex/internal/cli/delete"
	"github.com/cortexlabs-go/cortex/internal/cli/deploy"
	"github.com/cortexlabs-go/cortex/internal/cli/env"
	"github.com/cortexlabs-go/cortex/internal/cli/gatewaycmd"
	"github.com/cortexlabs-go/cortex/internal/cli/get"
	"github.com/cortexlabs-go/cortex/internal/cli/logs"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/cli/restart"
	"github.com/cortexlabs-go/cortex/internal/cli/token"
	"github.com/cortexlabs-go/cortex/internal/cli/whoami"
)

// NewCmd returns the root command wired to f, with every command registered explicitly.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cortex",
		Short: "Deploy machine-learning model APIs, secured with AWS IAM",
		Long: `cortex deploys model APIs to a cluster (local, or on AWS) and secures them with AWS IAM.

Quick start (no cloud account needed):
  cortex cluster up                 # local cluster, environment "local"
  cortex deploy examples/iris/cortex.yaml
  cortex get`,
		Example: `  cortex cluster up
  cortex deploy examples/echo
  cortex call echo '{"x": 1}'
  cortex -e prod get`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.PersistentFlags().StringVarP(&f.EnvName, "env", "e", "", "`NAME` of the environment to use (default: the default environment; see cortex env list)")
	_ = cmd.RegisterFlagCompletionFunc("env", cmdutil.CompleteEnvNames(f))

	cmd.AddCommand(
		cluster.NewCmdCluster(f),
		env.NewCmdEnv(f),
		deploy.NewCmdDeploy(f, nil),
		get.NewCmdGet(f, nil),
		logs.NewCmdLogs(f, nil),
		call.NewCmdCall(f, nil),
		apikey.NewCmdAPIKey(f),
		token.NewCmdToken(f, nil),
		deletecmd.NewCmdDelete(f, nil),
		restart.NewCmdRestart(f, nil),
		whoami.NewCmdWhoami(f, nil),
		NewCmdVersion(f, nil),
		operatorcmd.NewCmdOperator(f),
		gatewaycmd.NewCmdGateway(f),
	)
	finish(cmd)
	return cmd
}

// finish applies the rules every command follows: usage errors (a bad flag or argument count)
// exit 2 and point to the command's --help, and cobra's own commands have examples too.
func finish(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.UsageError{Command: c.CommandPath(), Err: err}
	})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil {
					return &cmdutil.UsageError{Command: c.CommandPath(), Err: err}
				}
				return nil
			}
		}
		switch c.Name() {
		case "help":
			if c.Example == "" && c.Parent() == root {
				c.Example = "  cortex help deploy"
			}
		case "completion":
			c.Example = "  source <(cortex completion bash)\n  cortex completion zsh > \"${fpath[1]}/_cortex\"\n  cortex completion fish > ~/.config/fish/completions/cortex.fish"
		case "bash", "zsh", "fish", "powershell":
			if c.Parent() != nil && c.Parent().Name() == "completion" && c.Example == "" {
				c.Example = "  cortex completion " + c.Name() + " > cortex-completion." + c.Name()
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// Main runs the CLI and returns the process exit code.
func Main(args []string) int {
	return Run(context.Background(), cmdutil.New(), args)
}

// Run runs the command line args with f and returns the exit code. The first SIGINT or SIGTERM
// cancels the command's context: prompts return at once, waits stop, and the command ends with
// exit code 130 (143 for SIGTERM) and one line on stderr. A second one kills the process.
func Run(ctx context.Context, f *cmdutil.Factory, args []string) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			cancel(&interrupt{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	cmd := NewCmd(f)
	cmd.SetArgs(args)
	ran, err := cmd.ExecuteContextC(ctx)
	var intr *interrupt
	if errors.As(context.Cause(ctx), &intr) || errors.Is(err, cmdutil.ErrInterrupted) {
		fmt.Fprintln(f.IO.ErrOut, "interrupted")
		if intr != nil && intr.sig == syscall.SIGTERM {
			return 128 + int(syscall.SIGTERM)
		}
		return cmdutil.ExitInterrupted
	}
	path := "cortex"
	if ran != nil {
		path = ran.CommandPath()
	}
	return ExitCode(f, path, err)
}

type interrupt struct{ sig syscall.Signal }

func (i *interrupt) Error() string { return "interrupted by " + i.sig.String() }

// ExitCode prints err (if any) of the command at path and returns the exit code it means.
func ExitCode(f *cmdutil.Factory, path string, err error) int {
	if err == nil {
		return 0
	}
	var exit *cmdutil.ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintln(f.IO.ErrOut, "error:", exit.Err)
		}
		return exit.Code
	}
	var usage *cmdutil.UsageError
	if errors.As(err, &usage) || isCobraUsageError(err) {
		hint := (&cmdutil.UsageError{Command: path}).Hint()
		if usage != nil {
			hint = usage.Hint()
		}
		fmt.Fprintln(f.IO.ErrOut, "error:", err)
		fmt.Fprintln(f.IO.ErrOut, hint)
		return cmdutil.ExitUsage
	}
	fmt.Fprintln(f.IO.ErrOut, "error:", err)
	return cmdutil.ExitError1
}

// isCobraUsageError recognizes the usage errors cobra returns without a hook: an unknown command
// and a missing required flag.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ")
}
