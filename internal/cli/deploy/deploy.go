// Package deploy is `cortex deploy`.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/bundle"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// DeployOptions are the dependencies, flags and argument of `cortex deploy`.
type DeployOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)

	// File is a cortex.yaml, or a directory holding one.
	File    string
	Format  *string
	NoWait  bool
	Timeout time.Duration

	ctx context.Context
}

// NewCmdDeploy returns `cortex deploy`.
func NewCmdDeploy(f *cmdutil.Factory, runF func(*DeployOptions) error) *cobra.Command {
	opts := &DeployOptions{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "deploy [cortex.yaml | DIR]",
		Short: "Deploy the APIs of a cortex.yaml (default ./cortex.yaml)",
		Long: `Deploy the APIs listed in cortex.yaml (see docs/apis.md); given a directory, its cortex.yaml (as
the Python client's deploy does). The file is validated here first (errors name the field and
the line) and nothing changes when it is invalid. Relative paths are resolved against the file's
directory, which is sent as the APIs' project directory: the local provider runs the handler
from there; to any other cluster (the operator's /v1/info names its provider) the files of the
project directory that python and command handlers run are sent with the deploy (at most 1 MiB,
stored in a Kubernetes ConfigMap; see docs/kubernetes.md).

Prints what changed (created, updated, unchanged) and waits, showing progress, until every API
is live (--no-wait to return at once).`,
		Example: `  cortex deploy examples/iris/cortex.yaml
  cortex deploy examples/echo
  cortex deploy -o json --no-wait`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ctx = c.Context()
			opts.File = "cortex.yaml"
			if len(args) == 1 {
				opts.File = args[0]
			}
			if opts.Timeout <= 0 {
				return cmdutil.UsageErrorf(c.CommandPath(), "invalid --timeout %s: use a positive duration such as 5m", opts.Timeout)
			}
			if runF != nil {
				return runF(opts)
			}
			return deployRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	cmd.Flags().BoolVar(&opts.NoWait, "no-wait", false, "return after the deploy is accepted, without waiting for the APIs to be live")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "how long to wait for the APIs to be live")
	return cmd
}

// specFile is the cortex.yaml of arg: arg itself, or arg/cortex.yaml for a directory.
func specFile(arg string) string {
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		return filepath.Join(arg, "cortex.yaml")
	}
	return arg
}

func deployRun(o *DeployOptions) error {
	ctx := o.ctx
	file := specFile(o.File)
	path, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s does not exist: pass a cortex.yaml or a directory holding one (see examples/)", file)
	}
	if err != nil {
		return err
	}
	specs, err := apispec.Parse(data, file, filepath.Dir(path))
	if err != nil {
		return err
	}
	cl, env, err := o.Client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := map[string]any{"apis": specs}
	projects, err := projectsFor(ctx, cl, specs)
	if err != nil {
		return err
	}
	if len(projects) > 0 {
		req["projects"] = projects
		for _, dir := range sortedKeys(projects) {
			n := 0
			for _, f := range projects[dir].Files {
				n += len(f.Data)
			}
			fmt.Fprintf(o.IO.ErrOut, "sending %s: %d files, %.1f KiB\n", dir, len(projects[dir].Files), float64(n)/1024)
		}
	}
	var resp apitypes.DeployResponse
	if err := cl.Do(ctx, "POST", "/v1/apis", req, &resp); err != nil {
		return fmt.Errorf("deploy to %s: %w", env.Name, err)
	}
	if *o.Format != cmdutil.FormatTable {
		if !o.NoWait {
			if err := wait(ctx, o, cl, names(resp.Results), false); err != nil {
				return err
			}
		}
		return cmdutil.Print(o.IO.Out, *o.Format, resp, nil)
	}
	for _, r := range resp.Results {
		fmt.Fprintf(o.IO.Out, "%s api %s\n", r.Action, r.Name)
	}
	if o.NoWait {
		return nil
	}
	return wait(ctx, o, cl, names(resp.Results), true)
}

// projectsFor reads the project directories that the specs' handlers run, when the operator is
// not on this machine (its provider is not local); nil for a local operator, which reads them
// itself.
func projectsFor(ctx context.Context, cl *client.Client, specs []apispec.Spec) (map[string]bundle.Upload, error) {
	need := false
	for i := range specs {
		need = need || specs[i].RunsProjectCode()
	}
	if !need {
		return nil, nil
	}
	info, err := cl.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.Cluster.Provider == "local" {
		return nil, nil
	}
	projects := map[string]bundle.Upload{}
	for i := range specs {
		dir := specs[i].ProjectDir
		if _, done := projects[dir]; done || !specs[i].RunsProjectCode() {
			continue
		}
		u, err := bundle.Read(dir)
		if err != nil {
			return nil, fmt.Errorf("api %s: %w", specs[i].Name, err)
		}
		projects[dir] = u
	}
	return projects, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func names(rs []apitypes.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// wait polls the APIs until all are live; an API in error ends the wait with its reason.
func wait(ctx context.Context, o *DeployOptions, cl *client.Client, apis []string, show bool) error {
	timeout := o.Timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tty := o.IO.IsStdoutTTY()
	out := o.IO.Out
	spin := []string{"|", "/", "-", `\`}
	last := map[string]string{}
	for i := 0; ; i++ {
		pending := 0
		var statuses []apitypes.APIStatus
		for _, name := range apis {
			var st apitypes.APIStatus
			if err := cl.Do(ctx, "GET", client.APIPath(name), nil, &st); err != nil {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return fmt.Errorf("timed out after %s waiting for the APIs to be live (see cortex get, cortex logs)", timeout)
				}
				return err
			}
			statuses = append(statuses, st)
			if st.Status == apitypes.Error {
				if show && tty {
					fmt.Fprint(out, "\r\033[K")
				}
				return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("api %s: %s (see cortex logs %s)", name, st.Reason, name)}
			}
			if st.Status != apitypes.Live {
				pending++
			}
		}
		if show {
			if tty {
				line := ""
				for _, st := range statuses {
					line += fmt.Sprintf("%s %s %d/%d  ", st.Name, st.Status, st.Replicas.Ready, st.Replicas.Requested)
				}
				fmt.Fprintf(out, "\r\033[K%s %s", spin[i%len(spin)], line)
			} else {
				for _, st := range statuses {
					s := fmt.Sprintf("%s %d/%d", st.Status, st.Replicas.Ready, st.Replicas.Requested)
					if last[st.Name] != s {
						fmt.Fprintf(out, "api %s: %s replicas ready\n", st.Name, s)
						last[st.Name] = s
					}
				}
			}
		}
		if pending == 0 {
			if show {
				if tty {
					fmt.Fprint(out, "\r\033[K")
				}
				tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0) // endpoints of several APIs line up
				for _, st := range statuses {
					fmt.Fprintf(tw, "api %s is live at\t%s\n", st.Name, st.Endpoint)
				}
				tw.Flush()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %s waiting for the APIs to be live (see cortex get, cortex logs)", timeout)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
