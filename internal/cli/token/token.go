// Package token is `cortex token API`: print an identity token for calling an iam API with
// another HTTP client (curl).
package token

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Client is what `cortex token` needs of the operator client.
type Client interface {
	Do(ctx context.Context, method, path string, in, out any) error
	GatewayToken(ctx context.Context, endpoint string) (string, error)
}

// Options of `cortex token`.
type Options struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (Client, error)
	API    string
}

// NewCmdToken returns `cortex token`; runF replaces the run function in tests.
func NewCmdToken(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IO, Client: func(ctx context.Context) (Client, error) {
		c, _, err := f.Client(ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}}
	cmd := &cobra.Command{
		Use:   "token API",
		Short: "Print an identity token for calling an iam API with curl",
		Long: `Print an identity token for an API whose auth is iam: your AWS identity (or the local admin
credential), bound to this cluster and to the gateway's URL, valid for 5 minutes. It opens that
cluster's APIs as you, and nothing else: not the operator, not another cluster.`,
		Example: `  curl --cacert ca.pem -H "Authorization: Bearer $(cortex token iris)" https://127.0.0.1:8443/iris -d @sample.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.API = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return run(c.Context(), o)
		},
	}
	return cmd
}

func run(ctx context.Context, o *Options) error {
	cl, err := o.Client(ctx)
	if err != nil {
		return err
	}
	var st apitypes.APIStatus
	if err := cl.Do(ctx, http.MethodGet, client.APIPath(o.API), nil, &st); err != nil {
		return err
	}
	if st.Auth.Type != client.APIAuthIAM {
		return fmt.Errorf("api %s has auth %s, not iam: it takes no identity token", o.API, st.Auth.Type)
	}
	tok, err := cl.GatewayToken(ctx, st.Endpoint)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(o.IO.Out, tok)
	return err
}
