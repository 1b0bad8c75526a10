// Package localcluster is the local provider of `cortex cluster`: up, info and down of a cluster
// that runs as processes on this machine (see internal/localcluster and docs/local.md).
package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	core "github.com/cortexlabs-go/cortex/internal/localcluster"
)

// Deps are what the local cluster commands take from the factory; tests replace any of them.
type Deps struct {
	IO        *cmdutil.IOStreams
	ConfigDir func() (string, error)
	Config    func() (*cliconfig.Config, error)
	// EnvName is the global --env flag (read when the command runs).
	EnvName func() string
	// ClientFor returns an operator client of an environment.
	ClientFor func(configDir string, env *cliconfig.Environment) (*client.Client, error)

	ctx context.Context
}

func depsOf(f *cmdutil.Factory) Deps {
	return Deps{IO: f.IO, ConfigDir: f.ConfigDir, Config: f.Config, EnvName: func() string { return f.EnvName }, ClientFor: f.ClientFor}
}

// UpOptions are the dependencies and flags of `cortex cluster up --provider local`.
type UpOptions struct {
	Deps
	Core   core.Options
	Format *string
}

// NewCmdUp is `cortex cluster up --provider local`.
func NewCmdUp(f *cmdutil.Factory, runF func(*UpOptions) error) *cobra.Command {
	opts := &UpOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster (operator, gateway, APIs) as background processes",
		Long: `Start a local cluster: the operator runs in the background on 127.0.0.1 with its state in
<config dir>/local, serves its API over HTTPS with its own CA, and runs APIs as local processes
behind an HTTPS gateway. The environment "local" (or --env) is configured with the operator's
endpoint, CA and a random admin credential in a 0600 file (or IAM with --auth iam).

Running it again is safe: a running cluster is left alone; after a crash the stale pid file is
detected and the cluster restarted with the APIs it had. Interrupted (Ctrl-C) before the
environment is written, up stops the operator it started: no cluster is left running without
its environment.`,
		Example: `  cortex cluster up
  cortex cluster up -e dev --operator-port 8888`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return upRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Core.OperatorPort, "operator-port", 0, "operator port on 127.0.0.1 (default: the previous one if free, else a free port)")
	fl.IntVar(&opts.Core.GatewayPort, "gateway-port", 0, "gateway (API) port on 127.0.0.1 (default: the previous one if free, else a free port)")
	fl.StringVar(&opts.Core.Python, "python", "", "Python interpreter for python handlers (default $CORTEX_PYTHON, else python3)")
	fl.StringVar(&opts.Core.Auth, "auth", "", "how callers authenticate: local (admin credential in a 0600 file) or iam (AWS identity tokens) (default: as before, else local)")
	fl.StringVar(&opts.Core.AccountID, "account-id", "", "with --auth iam: the AWS account whose identities may use the cluster")
	fl.StringVar(&opts.Core.CreatorARN, "creator-arn", "", "with --auth iam: IAM ARN that is always admin")
	fl.StringVar(&opts.Core.STSTestEndpoint, "sts-test-endpoint", "", "with --auth iam, TESTS ONLY: verify tokens against this STS emulator")
	fl.DurationVar(&opts.Core.StartTimeout, "start-timeout", 30*time.Second, "how long to wait for the operator to become healthy")
	_ = cmd.RegisterFlagCompletionFunc("auth", cmdutil.FixedValues(core.AuthLocal, core.AuthIAM))
	opts.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func upRun(opts *UpOptions) error {
	dir, err := opts.ConfigDir()
	if err != nil {
		return err
	}
	o := opts.Core
	o.ConfigDir = dir
	o.EnvName = opts.EnvName()
	if o.Python != "" && !strings.Contains(o.Python, "/") {
		o.Python = lookPath(o.Python)
	} else if o.Python != "" {
		if o.Python, err = filepath.Abs(o.Python); err != nil {
			return err
		}
	}
	o.Progress = opts.IO.ErrOut
	st, err := core.Up(opts.ctx, o)
	if err != nil {
		return err
	}
	if *opts.Format != cmdutil.FormatTable {
		return cmdutil.Print(opts.IO.Out, *opts.Format, st, nil)
	}
	w := opts.IO.Out
	fmt.Fprintf(w, "local cluster is running\n")
	fmt.Fprintf(w, "  operator:    %s (pid %d)\n", st.OperatorEndpoint, st.PID)
	fmt.Fprintf(w, "  gateway:     %s  (APIs are served at %s/<endpoint>)\n", st.GatewayEndpoint, st.GatewayEndpoint)
	fmt.Fprintf(w, "  CA:          %s\n", st.StateDir+"/tls/ca.pem")
	fmt.Fprintf(w, "  environment: %s (auth %s)\n", st.EnvName, st.Auth)
	fmt.Fprintf(w, "  logs:        %s\n", st.LogFile)
	fmt.Fprintf(w, "\nnext: cortex deploy examples/echo; cortex get; cortex cluster down\n")
	return nil
}

func lookPath(name string) string {
	for _, d := range strings.Split(os.Getenv("PATH"), ":") {
		p := d + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}

// InfoOptions are the dependencies and flags of `cortex cluster info --provider local`.
type InfoOptions struct {
	Deps
	Format *string
}

// NewCmdInfo is `cortex cluster info --provider local`.
func NewCmdInfo(f *cmdutil.Factory, runF func(*InfoOptions) error) *cobra.Command {
	opts := &InfoOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:     "info",
		Short:   "Show the local cluster's endpoints, state and APIs",
		Long:    "Show the local cluster's endpoints, state and APIs. Without a local cluster it says so and exits 1.",
		Example: "  cortex cluster info\n  cortex cluster info -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return infoRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

type infoOut struct {
	*core.Status
	APIs     []apitypes.APIStatus `json:"apis"`
	APIError string               `json:"api_error,omitempty"`
}

func infoRun(opts *InfoOptions) error {
	dir, err := opts.ConfigDir()
	if err != nil {
		return err
	}
	st, err := core.Info(dir)
	if err != nil {
		return err
	}
	if !st.Running && st.StalePid == 0 && st.OperatorEndpoint == "" {
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("there is no local cluster in %s: run `cortex cluster up` to start one (an AWS cluster: cortex cluster info cluster.yaml)", dir)}
	}
	out := infoOut{Status: st, APIs: []apitypes.APIStatus{}}
	if st.Running {
		if err := listAPIs(opts, st, &out); err != nil {
			out.APIError = err.Error()
		}
	}
	return cmdutil.Print(opts.IO.Out, *opts.Format, out, func(tw *tabwriter.Writer) {
		state := "stopped"
		if st.Running {
			state = fmt.Sprintf("running (pid %d)", st.PID)
		} else if st.StalePid != 0 {
			state = fmt.Sprintf("stopped (stale pid file of process %d; `cortex cluster up` restarts it)", st.StalePid)
		}
		fmt.Fprintf(tw, "state:\t%s\n", state)
		if st.OperatorEndpoint != "" {
			fmt.Fprintf(tw, "operator:\t%s\n", st.OperatorEndpoint)
			fmt.Fprintf(tw, "gateway:\t%s\n", st.GatewayEndpoint)
			fmt.Fprintf(tw, "auth:\t%s\n", st.Auth)
			fmt.Fprintf(tw, "environment:\t%s\n", st.EnvName)
			fmt.Fprintf(tw, "started:\t%s\n", st.StartedAt)
		}
		fmt.Fprintf(tw, "state dir:\t%s\n", st.StateDir)
		fmt.Fprintf(tw, "log:\t%s\n", st.LogFile)
		if !st.Running {
			return
		}
		if out.APIError != "" {
			fmt.Fprintf(tw, "apis:\t(cannot list: %s)\n", out.APIError)
			return
		}
		fmt.Fprintf(tw, "apis:\t%d\n", len(out.APIs))
		for _, a := range out.APIs {
			fmt.Fprintf(tw, "  %s\t%s\t%d/%d\t%s\n", a.Name, a.Status, a.Replicas.Ready, a.Replicas.Requested, a.Endpoint)
		}
	})
}

// listAPIs asks the running cluster for its APIs through its environment (-e, else the one up
// configured).
func listAPIs(opts *InfoOptions, st *core.Status, out *infoOut) error {
	name := opts.EnvName()
	if name == "" {
		name = st.EnvName
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	env, err := cfg.Get(name)
	if err != nil {
		return err
	}
	cl, err := opts.ClientFor(cfg.Dir(), env)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(opts.ctx, 10*time.Second)
	defer cancel()
	var list apitypes.APIList
	if err := cl.Do(ctx, "GET", "/v1/apis", nil, &list); err != nil {
		return err
	}
	if list.APIs != nil {
		out.APIs = list.APIs
	}
	return nil
}

// DownOptions are the dependencies and flags of `cortex cluster down --provider local`.
type DownOptions struct {
	Deps
	KeepState   bool
	StopTimeout time.Duration
}

// NewCmdDown is `cortex cluster down --provider local`.
func NewCmdDown(f *cmdutil.Factory, runF func(*DownOptions) error) *cobra.Command {
	opts := &DownOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster: the operator and every API process it started",
		Long: `Stop the local cluster: the operator (SIGTERM, then SIGKILL after --stop-timeout) and every
API process; no process is left behind. The environment is forgotten and the cluster's files
(APIs, CA, logs) are deleted unless --keep-state is given.`,
		Example: "  cortex cluster down\n  cortex cluster down --keep-state",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return downRun(opts)
		},
	}
	// No backquotes in flag usages: pflag shows a backquoted word as the flag's value name.
	cmd.Flags().BoolVar(&opts.KeepState, "keep-state", false, "keep the deployed APIs, CA and logs for the next 'cortex cluster up'")
	cmd.Flags().DurationVar(&opts.StopTimeout, "stop-timeout", 20*time.Second, "grace period before the operator is killed")
	return cmd
}

func downRun(opts *DownOptions) error {
	dir, err := opts.ConfigDir()
	if err != nil {
		return err
	}
	st, err := core.Down(opts.ctx, core.DownOptions{ConfigDir: dir, KeepState: opts.KeepState, StopTimeout: opts.StopTimeout, Progress: opts.IO.ErrOut})
	if err != nil {
		return err
	}
	out := opts.IO.Out
	switch {
	case st.PID != 0:
		fmt.Fprintf(out, "local cluster stopped (operator pid %d)\n", st.PID)
	case st.StalePid != 0:
		fmt.Fprintf(out, "local cluster was not running (removed a stale pid file of process %d)\n", st.StalePid)
	default:
		fmt.Fprintln(out, "local cluster was not running")
	}
	if opts.KeepState {
		fmt.Fprintf(out, "state kept in %s\n", st.StateDir)
	}
	if st.EnvName != "" {
		if cfg, err := opts.Config(); err == nil && cfg.DefaultEnvironment == "" && len(cfg.Environments) > 0 {
			fmt.Fprintf(out, "environment %s is forgotten; there is no default environment now: run `cortex env default NAME` (%s)\n", st.EnvName, strings.Join(cfg.Names(), ", "))
		}
	}
	return nil
}
