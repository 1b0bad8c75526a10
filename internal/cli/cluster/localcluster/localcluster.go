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

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	core "github.com/cortexlabs-go/cortex/internal/localcluster"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

type upOptions struct {
	o      core.Options
	format *string
}

// NewUpCmd is `cortex cluster up --provider local`.
func NewUpCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster (operator, gateway, APIs) as background processes",
		Long: `Start a local cluster: the operator runs in the background on 127.0.0.1 with its state in
<config dir>/local, serves its API over HTTPS with its own CA, and runs APIs as local processes
behind an HTTPS gateway. The environment "local" (or --env) is configured with the operator's
endpoint, CA and a random admin credential in a 0600 file (or IAM with --auth iam).

Running it again is safe: a running cluster is left alone; after a crash the stale pid file is
detected and the cluster restarted with the APIs it had.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runUp(c.Context(), f, opts) },
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.o.OperatorPort, "operator-port", 0, "operator port on 127.0.0.1 (default: the previous one if free, else a free port)")
	fl.IntVar(&opts.o.GatewayPort, "gateway-port", 0, "gateway (API) port on 127.0.0.1 (default: the previous one if free, else a free port)")
	fl.StringVar(&opts.o.Python, "python", "", "Python interpreter for python handlers (default $CORTEX_PYTHON, else python3)")
	fl.StringVar(&opts.o.Auth, "auth", "", "how callers authenticate: local (admin credential in a 0600 file) or iam (AWS identity tokens) (default: as before, else local)")
	fl.StringVar(&opts.o.AccountID, "account-id", "", "with --auth iam: the AWS account whose identities may use the cluster")
	fl.StringVar(&opts.o.CreatorARN, "creator-arn", "", "with --auth iam: IAM ARN that is always admin")
	fl.StringVar(&opts.o.STSTestEndpoint, "sts-test-endpoint", "", "with --auth iam, TESTS ONLY: verify tokens against this STS emulator")
	fl.DurationVar(&opts.o.StartTimeout, "start-timeout", 30*time.Second, "how long to wait for the operator to become healthy")
	opts.format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func runUp(ctx context.Context, f *cmdutil.Factory, opts *upOptions) error {
	if err := cmdutil.ValidateFormat(*opts.format); err != nil {
		return err
	}
	dir, err := f.ConfigDir()
	if err != nil {
		return err
	}
	o := opts.o
	o.ConfigDir = dir
	o.EnvName = f.EnvName
	if o.Python != "" && !strings.Contains(o.Python, "/") {
		o.Python = lookPath(o.Python)
	} else if o.Python != "" {
		if o.Python, err = filepath.Abs(o.Python); err != nil {
			return err
		}
	}
	o.Progress = f.IO.ErrOut
	st, err := core.Up(ctx, o)
	if err != nil {
		return err
	}
	if *opts.format != cmdutil.FormatTable {
		return cmdutil.Print(f.IO.Out, *opts.format, st, nil)
	}
	w := f.IO.Out
	fmt.Fprintf(w, "local cluster is running\n")
	fmt.Fprintf(w, "  operator:    %s (pid %d)\n", st.OperatorEndpoint, st.PID)
	fmt.Fprintf(w, "  gateway:     %s  (APIs are served at %s/<endpoint>)\n", st.GatewayEndpoint, st.GatewayEndpoint)
	fmt.Fprintf(w, "  CA:          %s\n", st.StateDir+"/tls/ca.pem")
	fmt.Fprintf(w, "  environment: %s (auth %s)\n", st.EnvName, st.Auth)
	fmt.Fprintf(w, "  logs:        %s\n", st.LogFile)
	fmt.Fprintf(w, "\nnext: cortex deploy examples/echo/cortex.yaml; cortex get; cortex cluster down\n")
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

// NewInfoCmd is `cortex cluster info --provider local`.
func NewInfoCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the local cluster's endpoints, state and APIs",
		Args:  cobra.NoArgs,
	}
	format := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		if err := cmdutil.ValidateFormat(*format); err != nil {
			return err
		}
		dir, err := f.ConfigDir()
		if err != nil {
			return err
		}
		st, err := core.Info(dir)
		if err != nil {
			return err
		}
		type infoOut struct {
			*core.Status
			APIs     []workload.APIStatus `json:"apis"`
			APIError string               `json:"api_error,omitempty"`
		}
		out := infoOut{Status: st, APIs: []workload.APIStatus{}}
		if st.Running {
			if f.EnvName == "" && st.EnvName != "" {
				f.EnvName = st.EnvName
			}
			cl, _, err := f.Client()
			if err == nil {
				ctx, cancel := context.WithTimeout(c.Context(), 10*time.Second)
				defer cancel()
				var list struct {
					APIs []workload.APIStatus `json:"apis"`
				}
				if err = cl.Do(ctx, "GET", "/v1/apis", nil, &list); err == nil {
					out.APIs = list.APIs
				}
			}
			if err != nil {
				out.APIError = err.Error()
			}
		}
		return cmdutil.Print(f.IO.Out, *format, out, func(tw *tabwriter.Writer) {
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
	return cmd
}

// NewDownCmd is `cortex cluster down --provider local`.
func NewDownCmd(f *cmdutil.Factory) *cobra.Command {
	var keep bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster: the operator and every API process it started",
		Long: `Stop the local cluster: the operator (SIGTERM, then SIGKILL after --stop-timeout) and every
API process; no process is left behind. The environment is forgotten and the cluster's files
(APIs, CA, logs) are deleted unless --keep-state is given.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&keep, "keep-state", false, "keep the deployed APIs, CA and logs for the next `cluster up`")
	cmd.Flags().DurationVar(&timeout, "stop-timeout", 20*time.Second, "grace period before the operator is killed")
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		dir, err := f.ConfigDir()
		if err != nil {
			return err
		}
		st, err := core.Down(c.Context(), core.DownOptions{ConfigDir: dir, KeepState: keep, StopTimeout: timeout, Progress: f.IO.ErrOut})
		if err != nil {
			return err
		}
		switch {
		case st.PID != 0:
			fmt.Fprintf(f.IO.Out, "local cluster stopped (operator pid %d)\n", st.PID)
		case st.StalePid != 0:
			fmt.Fprintf(f.IO.Out, "local cluster was not running (removed a stale pid file of process %d)\n", st.StalePid)
		default:
			fmt.Fprintln(f.IO.Out, "local cluster was not running")
		}
		if keep {
			fmt.Fprintf(f.IO.Out, "state kept in %s\n", st.StateDir)
		}
		return nil
	}
	return cmd
}
