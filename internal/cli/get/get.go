// Package get is `cortex get`.
package get

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// Options of `cortex get`.
type Options struct {
	API      string
	Format   *string
	Watch    bool
	Interval time.Duration
}

// NewCmd returns `cortex get`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "get [API]",
		Short: "List the deployed APIs, or show one",
		Example: `  cortex get
  cortex get iris --watch
  cortex get -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.API = args[0]
			}
			return Run(c.Context(), f, o)
		},
	}
	o.Format = cmdutil.AddOutputFlag(cmd)
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "refresh interval of --watch")
	return cmd
}

// Run lists or shows APIs.
func Run(ctx context.Context, f *cmdutil.Factory, o *Options) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	cl, _, err := f.Client()
	if err != nil {
		return err
	}
	tty := cmdutil.IsTerminal(os.Stdout) && f.IO.Out == os.Stdout
	prev := ""
	for {
		var out any
		var apis []workload.APIStatus
		if o.API != "" {
			var st workload.APIStatus
			if err := cl.Do(ctx, "GET", client.APIPath(o.API), nil, &st); err != nil {
				if ctx.Err() != nil && o.Watch {
					return nil
				}
				return err
			}
			apis, out = []workload.APIStatus{st}, st
		} else {
			var list struct {
				APIs []workload.APIStatus `json:"apis"`
			}
			if err := cl.Do(ctx, "GET", "/v1/apis", nil, &list); err != nil {
				if ctx.Err() != nil && o.Watch {
					return nil
				}
				return err
			}
			apis, out = list.APIs, list
		}
		var b strings.Builder
		if err := cmdutil.Print(&b, *o.Format, out, func(tw *tabwriter.Writer) { table(tw, apis, o.API != "", f.Now()) }); err != nil {
			return err
		}
		if !o.Watch {
			_, err := fmt.Fprint(f.IO.Out, b.String())
			return err
		}
		if s := b.String(); s != prev || tty {
			if tty {
				fmt.Fprint(f.IO.Out, "\033[H\033[2J")
			}
			fmt.Fprint(f.IO.Out, s)
			if !tty {
				fmt.Fprintln(f.IO.Out)
			}
			prev = s
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

func table(tw *tabwriter.Writer, apis []workload.APIStatus, one bool, now time.Time) {
	if len(apis) == 0 {
		fmt.Fprintln(tw, "no APIs are deployed (cortex deploy)")
		return
	}
	fmt.Fprintln(tw, "NAME\tSTATUS\tREPLICAS\tENDPOINT\tLAST UPDATE")
	for _, a := range apis {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\n", a.Name, a.Status, a.Replicas.Ready, a.Replicas.Requested, a.Endpoint, ago(now, a.UpdatedAt))
	}
	if one {
		a := apis[0]
		if a.Version != "" {
			// The content hash of the spec and the project files: it changes with the code.
			fmt.Fprintf(tw, "\nversion: %s\n", shortHash(a.Version))
		}
		if a.Reason != "" {
			fmt.Fprintf(tw, "\nreason: %s\n", a.Reason)
		}
		if len(a.Details) > 0 {
			fmt.Fprintln(tw, "\nREPLICA\tSTATE\tRESTARTS\tREASON")
			for _, r := range a.Details {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", r.ID, r.State, r.Restarts, r.Reason)
			}
		}
	} else {
		for _, a := range apis {
			if a.Status == workload.Error && a.Reason != "" {
				fmt.Fprintf(tw, "\n%s: %s\n", a.Name, a.Reason)
			}
		}
	}
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02 15:04")
}

// shortHash is the first 12 hex digits of a content hash (like a short git commit id).
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
