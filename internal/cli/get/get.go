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

	"github.com/cortexlabs-go/cortex/internal/apispec"
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
	fmt.Fprintln(tw, "NAME\tSTATUS\tREPLICAS\tAUTH\tENDPOINT\tLAST UPDATE")
	for _, a := range apis {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\n", a.Name, a.Status, a.Replicas.Ready, a.Replicas.Requested, a.Auth.Type, a.Endpoint, ago(now, a.UpdatedAt))
	}
	if one {
		a := apis[0]
		fmt.Fprintf(tw, "\n%s", howToCall(a))
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

// howToCall says who may call the API and how (shown by `cortex get API`).
func howToCall(a workload.APIStatus) string {
	switch a.Auth.Type {
	case apispec.AuthNone:
		return fmt.Sprintf("auth: none (public: anyone who can reach the gateway)\n  curl --cacert CA.pem %s\n", a.Endpoint)
	case apispec.AuthAPIKey:
		return fmt.Sprintf("auth: api_key (keys: cortex api-key create NAME --api %s)\n"+
			"  CORTEX_API_KEY=cxk_... cortex call %s PAYLOAD\n"+
			"  curl --cacert CA.pem -H @<(printf 'Authorization: Bearer %%s\\n' \"$CORTEX_API_KEY\") %s -d PAYLOAD\n", a.Name, a.Name, a.Endpoint)
	}
	who := "whoever may read this cluster"
	if len(a.Auth.Allow) > 0 {
		who = "only " + strings.Join(a.Auth.Allow, ", ")
	}
	return fmt.Sprintf("auth: iam (%s)\n"+
		"  cortex call %s PAYLOAD\n"+
		"  curl --cacert CA.pem -H \"Authorization: Bearer $(cortex token %s)\" %s -d PAYLOAD\n", who, a.Name, a.Name, a.Endpoint)
}
