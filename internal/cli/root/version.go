package root

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/buildinfo"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// versionTimeout bounds asking the operator for its version: `cortex version` must answer even
// when the cluster is down.
const versionTimeout = 5 * time.Second

// VersionOptions are the dependencies and flags of `cortex version`.
type VersionOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)
	Format *string

	ctx context.Context
}

// VersionResult is what `cortex version -o json|yaml` prints.
type VersionResult struct {
	Version  string           `json:"version"`
	Commit   string           `json:"commit"`
	Go       string           `json:"go"`
	Operator *OperatorVersion `json:"operator"`
}

// OperatorVersion is the selected environment's operator: its version, or why it is unknown.
type OperatorVersion struct {
	Environment string `json:"environment,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Version     string `json:"version,omitempty"`
	Error       string `json:"error,omitempty"`
}

// NewCmdVersion returns `cortex version`.
func NewCmdVersion(f *cmdutil.Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO, Client: func(ctx context.Context) (*client.Client, *cliconfig.Environment, error) {
		// Never prompt for an environment just to show a version.
		cfg, env, err := f.EnvironmentNoPrompt(ctx)
		if err != nil {
			return nil, nil, err
		}
		c, err := f.ClientFor(cfg.Dir(), env)
		return c, env, err
	}}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version and the operator's",
		Long: `Print the CLI's version, and the version of the selected environment's operator when it can be
reached (within 5 seconds); otherwise say why not. The exit code is 0 either way.`,
		Example: `  cortex version
  cortex version -e prod -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func versionRun(opts *VersionOptions) error {
	v := VersionResult{Version: buildinfo.Version, Commit: buildinfo.Commit(), Go: runtime.Version(), Operator: operatorVersion(opts)}
	if *opts.Format != cmdutil.FormatTable {
		return cmdutil.Print(opts.IO.Out, *opts.Format, v, nil)
	}
	fmt.Fprintf(opts.IO.Out, "cortex %s (commit %s, %s)\n", v.Version, v.Commit, v.Go)
	op := v.Operator
	switch {
	case op.Version != "":
		fmt.Fprintf(opts.IO.Out, "operator %s (environment %s, %s)\n", op.Version, op.Environment, op.Endpoint)
	case op.Environment != "":
		fmt.Fprintf(opts.IO.Out, "operator: unknown, environment %s (%s) cannot be reached: %s\n", op.Environment, op.Endpoint, op.Error)
	default:
		fmt.Fprintf(opts.IO.Out, "operator: unknown (%s)\n", op.Error)
	}
	return nil
}

func operatorVersion(opts *VersionOptions) *OperatorVersion {
	ctx, cancel := context.WithTimeout(opts.ctx, versionTimeout)
	defer cancel()
	cl, env, err := opts.Client(ctx)
	if err != nil {
		return &OperatorVersion{Error: err.Error()}
	}
	defer cl.Close()
	op := &OperatorVersion{Environment: env.Name, Endpoint: env.OperatorEndpoint}
	info, err := cl.Info(ctx)
	if err != nil {
		op.Error = err.Error()
		return op
	}
	op.Version = info.Version
	return op
}
