// Package deploy is `cortex deploy`.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// Options of `cortex deploy`.
type Options struct {
	File    string
	Format  *string
	NoWait  bool
	Timeout time.Duration
}

// NewCmd returns `cortex deploy`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "deploy [cortex.yaml]",
		Short: "Deploy the APIs of a cortex.yaml (default ./cortex.yaml)",
		Long: `Deploy the APIs listed in cortex.yaml (see docs/apis.md). The file is validated here first
(errors name the field and the line) and nothing changes when it is invalid. Relative paths are
resolved against the file's directory, which is sent as the APIs' project directory (the local
provider runs the handler from there).

Prints what changed (created, updated, unchanged) and waits, showing progress, until every API
is live (--no-wait to return at once).`,
		Example: `  cortex deploy examples/iris/cortex.yaml
  cortex deploy -o json --no-wait`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.File = "cortex.yaml"
			if len(args) == 1 {
				o.File = args[0]
			}
			return Run(c.Context(), f, o)
		},
	}
	o.Format = cmdutil.AddOutputFlag(cmd)
	cmd.Flags().BoolVar(&o.NoWait, "no-wait", false, "return after the deploy is accepted, without waiting for the APIs to be live")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the APIs to be live")
	return cmd
}

// Run deploys.
func Run(ctx context.Context, f *cmdutil.Factory, o *Options) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	path, err := filepath.Abs(o.File)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	specs, err := apispec.Parse(data, o.File, filepath.Dir(path))
	if err != nil {
		return err
	}
	cl, env, err := f.Client()
	if err != nil {
		return err
	}
	var resp struct {
		Results []workload.Result `json:"results"`
	}
	if err := cl.Do(ctx, "POST", "/v1/apis", map[string]any{"apis": specs}, &resp); err != nil {
		return fmt.Errorf("deploy to %s: %w", env.Name, err)
	}
	if *o.Format != cmdutil.FormatTable {
		if !o.NoWait {
			if err := wait(ctx, f, cl, names(resp.Results), o.Timeout, false); err != nil {
				return err
			}
		}
		return cmdutil.Print(f.IO.Out, *o.Format, resp, nil)
	}
	for _, r := range resp.Results {
		fmt.Fprintf(f.IO.Out, "%s api %s\n", r.Action, r.Name)
	}
	if o.NoWait {
		return nil
	}
	return wait(ctx, f, cl, names(resp.Results), o.Timeout, true)
}

func names(rs []workload.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// wait polls the APIs until all are live; an API in error ends the wait with its reason.
func wait(ctx context.Context, f *cmdutil.Factory, cl *client.Client, apis []string, timeout time.Duration, show bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tty := cmdutil.IsTerminal(os.Stdout) && f.IO.Out == os.Stdout
	spin := []string{"|", "/", "-", `\`}
	last := map[string]string{}
	for i := 0; ; i++ {
		pending := 0
		var statuses []workload.APIStatus
		for _, name := range apis {
			var st workload.APIStatus
			if err := cl.Do(ctx, "GET", client.APIPath(name), nil, &st); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("timed out after %s waiting for the APIs to be live (see cortex get, cortex logs)", timeout)
				}
				return err
			}
			statuses = append(statuses, st)
			if st.Status == workload.Error {
				if show && tty {
					fmt.Fprint(f.IO.Out, "\r\033[K")
				}
				return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("api %s: %s (see cortex logs %s)", name, st.Reason, name)}
			}
			if st.Status != workload.Live {
				pending++
			}
		}
		if show {
			if tty {
				line := ""
				for _, st := range statuses {
					line += fmt.Sprintf("%s %s %d/%d  ", st.Name, st.Status, st.Replicas.Ready, st.Replicas.Requested)
				}
				fmt.Fprintf(f.IO.Out, "\r\033[K%s %s", spin[i%len(spin)], line)
			} else {
				for _, st := range statuses {
					s := fmt.Sprintf("%s %d/%d", st.Status, st.Replicas.Ready, st.Replicas.Requested)
					if last[st.Name] != s {
						fmt.Fprintf(f.IO.Out, "api %s: %s replicas ready\n", st.Name, s)
						last[st.Name] = s
					}
				}
			}
		}
		if pending == 0 {
			if show {
				if tty {
					fmt.Fprint(f.IO.Out, "\r\033[K")
				}
				tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 1, ' ', 0) // endpoints of several APIs line up
				for _, st := range statuses {
					fmt.Fprintf(tw, "api %s is live at\t%s\n", st.Name, st.Endpoint)
				}
				tw.Flush()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %s waiting for the APIs to be live (see cortex get, cortex logs)", timeout)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
