// Package get is `cortex get`.
package get

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/logs"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// GetOptions are the dependencies, flags and argument of `cortex get`.
type GetOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)
	Now    func() time.Time

	API      string
	Format   *string
	Watch    bool
	Interval time.Duration

	ctx context.Context
}

// NewCmdGet returns `cortex get`.
func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "get [API]",
		Short: "List the deployed APIs, or show one",
		Long: `List the deployed APIs, or show one with its replicas.

With --watch the view is refreshed every --interval until interrupted; a lost connection to the
operator (a restart, a network blip) is shown and retried at the next refresh, not fatal.`,
		Example: `  cortex get
  cortex get iris --watch
  cortex get -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cmdutil.CompleteAPINames(f, false),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ctx = c.Context()
			if len(args) == 1 {
				opts.API = args[0]
			}
			if opts.Interval <= 0 {
				return cmdutil.UsageErrorf(c.CommandPath(), "invalid --interval %s: use a positive duration such as 2s", opts.Interval)
			}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "refresh interval of --watch")
	return cmd
}

func getRun(o *GetOptions) error {
	ctx := o.ctx
	cl, _, err := o.Client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	tty := o.IO.IsStdoutTTY()
	prev, prevErr := "", ""
	for {
		s, err := render(ctx, o, cl)
		switch {
		case err == nil:
		case ctx.Err() != nil && o.Watch:
			return nil // interrupted
		case o.Watch && transient(err):
			// Keep watching through a restart of the operator or a network blip: say so, keep
			// the last view, and try again at the next refresh. A terminal shows the last view
			// and the latest error; piped, each new error is one line.
			if tty {
				fmt.Fprint(o.IO.Out, "\033[H\033[2J"+prev)
			}
			if msg := err.Error(); msg != prevErr || tty {
				fmt.Fprintf(o.IO.ErrOut, "%s: %v (retrying every %s)\n", o.Now().Format("15:04:05"), err, o.Interval)
				prevErr = msg
			}
		default:
			return err
		}
		if err == nil {
			if !o.Watch {
				_, err := fmt.Fprint(o.IO.Out, s)
				return err
			}
			if prevErr != "" && !tty {
				fmt.Fprintf(o.IO.ErrOut, "%s: connected again\n", o.Now().Format("15:04:05"))
			}
			prevErr = ""
			if s != prev || tty {
				if tty {
					fmt.Fprint(o.IO.Out, "\033[H\033[2J")
				}
				fmt.Fprint(o.IO.Out, s)
				if !tty {
					fmt.Fprintln(o.IO.Out)
				}
				prev = s
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

// transient reports whether a watch should keep going after err: the operator could not be
// reached (a restart, a network blip) or answered that it is unavailable. Anything else (a 403, a
// 404, no credentials) is final.
func transient(err error) bool {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == 502 || apiErr.Status == 503 || apiErr.Status == 504
	}
	var connErr *client.ConnectionError
	return errors.As(err, &connErr)
}

func render(ctx context.Context, o *GetOptions, cl *client.Client) (string, error) {
	var out any
	var apis []apitypes.APIStatus
	if o.API != "" {
		var st apitypes.APIStatus
		if err := cl.Do(ctx, "GET", client.APIPath(o.API), nil, &st); err != nil {
			return "", err
		}
		apis, out = []apitypes.APIStatus{st}, st
	} else {
		var list apitypes.APIList
		if err := cl.Do(ctx, "GET", "/v1/apis", nil, &list); err != nil {
			return "", err
		}
		if list.APIs == nil {
			list.APIs = []apitypes.APIStatus{}
		}
		apis, out = list.APIs, list
	}
	var b strings.Builder
	err := cmdutil.Print(&b, *o.Format, out, func(tw *tabwriter.Writer) { table(tw, apis, o.API != "", o.Now()) })
	return b.String(), err
}

func table(tw *tabwriter.Writer, apis []apitypes.APIStatus, one bool, now time.Time) {
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
		if a.Version != "" {
			// The content hash of the spec and the project files: it changes with the code.
			fmt.Fprintf(tw, "\nversion: %s\n", shortHash(a.Version))
		}
		fmt.Fprintf(tw, "\n%s", howToCall(a))
		if a.Reason != "" {
			fmt.Fprintf(tw, "\nreason: %s\n", shown(a.Reason))
		}
		if len(a.Details) > 0 {
			fmt.Fprintln(tw, "\nREPLICA\tSTATE\tRESTARTS\tREASON")
			for _, r := range a.Details {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", r.ID, r.State, r.Restarts, shown(r.Reason))
			}
		}
	} else {
		for _, a := range apis {
			if a.Status == apitypes.Error && a.Reason != "" {
				fmt.Fprintf(tw, "\n%s: %s\n", a.Name, shown(a.Reason))
			}
		}
	}
}

// shown is a status reason as the table prints it: reasons quote a replica's output (the
// backend escapes it, but an operator of another version may not), so their control characters
// are shown escaped, never sent to the terminal, as `cortex logs` does on a terminal.
func shown(reason string) string { return logs.Escape(reason) }

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

// howToCall says who may call the API and how (shown by `cortex get API`).
func howToCall(a apitypes.APIStatus) string {
	switch a.Auth.Type {
	case apitypes.APIAuthNone:
		return fmt.Sprintf("auth: none (public: anyone who can reach the gateway)\n  curl --cacert CA.pem -H 'Content-Type: application/json' %s -d PAYLOAD\n", a.Endpoint)
	case apitypes.APIAuthAPIKey:
		return fmt.Sprintf("auth: api_key (keys: cortex api-key create NAME --api %s)\n"+
			"  CORTEX_API_KEY=cxk_... cortex call %s PAYLOAD\n"+
			"  curl --cacert CA.pem -H @<(printf 'Authorization: Bearer %%s\\n' \"$CORTEX_API_KEY\") -H 'Content-Type: application/json' %s -d PAYLOAD\n", a.Name, a.Name, a.Endpoint)
	}
	who := "whoever may read this cluster"
	if len(a.Auth.Allow) > 0 {
		who = "only " + strings.Join(a.Auth.Allow, ", ")
	}
	return fmt.Sprintf("auth: iam (%s)\n"+
		"  cortex call %s PAYLOAD\n"+
		"  curl --cacert CA.pem -H \"Authorization: Bearer $(cortex token %s)\" -H 'Content-Type: application/json' %s -d PAYLOAD\n", who, a.Name, a.Name, a.Endpoint)
}
