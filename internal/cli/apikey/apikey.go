// Package apikey is `cortex api-key create|list|revoke`: the API keys of a cluster, for APIs
// whose spec says auth: {type: api_key}.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	keys "github.com/cortexlabs-go/cortex/internal/apikey"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// Client is what these commands need of the operator client.
type Client interface {
	CreateAPIKey(ctx context.Context, req apitypes.CreateAPIKeyRequest) (*apitypes.CreatedAPIKey, error)
	ListAPIKeys(ctx context.Context) (*apitypes.APIKeyList, error)
	RevokeAPIKey(ctx context.Context, ref string) (*apitypes.APIKey, error)
}

// clientFrom adapts the factory to the Client the options hold.
func clientFrom(f *cmdutil.Factory) func(context.Context) (Client, error) {
	return func(ctx context.Context) (Client, error) {
		c, _, err := f.Client(ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// NewCmdAPIKey returns `cortex api-key` and its subcommands.
func NewCmdAPIKey(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api-key",
		Short: "Create, list and revoke the API keys of APIs with auth type api_key",
		Long: `API keys let callers without an AWS identity call APIs whose spec says
auth: {type: api_key}. A key is scoped to the APIs it names, may expire, and is shown once, when it
is created: the cluster keeps only its SHA-256 hash. Keys look like cxk_<16 hex id>_<43 base64url>
so that secret scanners can find leaked ones. Managing keys needs the deploy role.`,
		Example: `  cortex api-key create ci --api iris
  cortex api-key list
  cortex api-key revoke ci`,
	}
	cmd.AddCommand(NewCmdCreate(f, nil), NewCmdList(f, nil), NewCmdRevoke(f, nil))
	return cmd
}

// CreateOptions of `cortex api-key create`.
type CreateOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (Client, error)

	Name    string
	APIs    []string
	Expires string // "", or a duration like 30d, 12h, 90m
	KeyFile string // write the key here (0600, new file) instead of printing it
	Format  *string
}

// NewCmdCreate returns `cortex api-key create`; runF replaces the run function in tests.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	o := &CreateOptions{IO: f.IO, Client: clientFrom(f)}
	cmd := &cobra.Command{
		Use:   "create NAME --api API[,API...]",
		Short: "Create an API key (printed once)",
		Long: `Create an API key for the APIs named by --api and print it, once. On a terminal the key is
printed with instructions; otherwise only the key is printed, so that key=$(cortex api-key create
...) works. --key-file writes it to a new file (mode 0600) instead.`,
		Example: `  cortex api-key create ci --api iris
  cortex api-key create partner --api iris,echo --expires 30d --key-file partner.key
  key=$(cortex api-key create ci --api iris) && curl -H "Authorization: Bearer $key" ...`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return createRun(c.Context(), o)
		},
	}
	cmd.Flags().StringSliceVar(&o.APIs, "api", nil, "the APIs the key may call (comma-separated or repeated)")
	cmd.Flags().StringVar(&o.Expires, "expires", "", "lifetime, e.g. 30d, 12h or 90m (default: never expires)")
	cmd.Flags().StringVar(&o.KeyFile, "key-file", "", "write the key to this new file (0600) instead of printing it")
	_ = cmd.MarkFlagRequired("api")
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

// ParseLifetime parses --expires: a Go duration, or a whole number of days ("30d").
func ParseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("invalid --expires %q: use e.g. 30d, 12h or 90m", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid --expires %q: use e.g. 30d, 12h or 90m", s)
		}
	}
	if d < time.Second || d > keys.MaxLifetime {
		return 0, fmt.Errorf("invalid --expires %q: between 1s and %d days", s, int(keys.MaxLifetime/(24*time.Hour)))
	}
	return d, nil
}

func createRun(ctx context.Context, o *CreateOptions) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	if err := keys.ValidateName(o.Name); err != nil {
		return err
	}
	life, err := ParseLifetime(o.Expires)
	if err != nil {
		return err
	}
	var file *os.File
	if o.KeyFile != "" { // made before the key exists: a key is never created that cannot be kept
		if file, err = os.OpenFile(o.KeyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fsutil.PrivateFile); err != nil {
			return fmt.Errorf("--key-file: %w", err)
		}
		defer file.Close()
	}
	cl, err := o.Client(ctx)
	if err != nil {
		return err
	}
	created, err := cl.CreateAPIKey(ctx, apitypes.CreateAPIKeyRequest{Name: o.Name, APIs: o.APIs, ExpiresInSeconds: int64(life / time.Second)})
	if err != nil {
		if file != nil {
			file.Close()
			os.Remove(o.KeyFile)
		}
		return err
	}
	if file != nil {
		if _, err := io.WriteString(file, created.Key+"\n"); err != nil {
			return fmt.Errorf("--key-file: %w (the key was created: revoke it with cortex api-key revoke %s)", err, created.APIKey.ID)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("--key-file: %w (the key was created: revoke it with cortex api-key revoke %s)", err, created.APIKey.ID)
		}
		created.Key = "" // not printed
	}
	switch *o.Format {
	case cmdutil.FormatJSON, cmdutil.FormatYAML:
		var v any = created
		if created.Key == "" {
			v = created.APIKey
		}
		return cmdutil.Print(o.IO.Out, *o.Format, v, nil)
	}
	info := created.APIKey
	fmt.Fprintf(o.IO.ErrOut, "Created API key %s (id %s) for %s%s.\n", info.Name, info.ID, strings.Join(info.APIs, ", "), expiry(info))
	if created.Key == "" {
		fmt.Fprintf(o.IO.ErrOut, "The key is in %s (mode 0600); it cannot be shown again.\n", o.KeyFile)
		return nil
	}
	if o.IO.IsStdoutTTY() {
		fmt.Fprintln(o.IO.ErrOut, "Store it now: it cannot be shown again. Send it as Authorization: Bearer <key> (or X-Api-Key: <key>).")
	}
	_, err = fmt.Fprintln(o.IO.Out, created.Key)
	return err
}

func expiry(i apitypes.APIKey) string {
	if i.ExpiresAt == nil {
		return ""
	}
	return ", expires " + i.ExpiresAt.Local().Format(time.RFC3339)
}

// ListOptions of `cortex api-key list`.
type ListOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (Client, error)
	Now    func() time.Time
	Format *string
}

// NewCmdList returns `cortex api-key list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	o := &ListOptions{IO: f.IO, Client: clientFrom(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the API keys (never the keys themselves)",
		Example: "  cortex api-key list\n  cortex api-key list -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return listRun(c.Context(), o)
		},
	}
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func listRun(ctx context.Context, o *ListOptions) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	cl, err := o.Client(ctx)
	if err != nil {
		return err
	}
	list, err := cl.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	return cmdutil.Print(o.IO.Out, *o.Format, list, func(tw *tabwriter.Writer) {
		if len(list.APIKeys) == 0 {
			fmt.Fprintln(tw, "no API keys (cortex api-key create NAME --api API)")
			return
		}
		fmt.Fprintln(tw, "NAME\tID\tAPIS\tCREATED BY\tCREATED\tEXPIRES\tLAST USED")
		for _, k := range list.APIKeys {
			apis := strings.Join(k.APIs, ",")
			if apis == "" {
				apis = "(none: its APIs were deleted)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.ID, apis, k.CreatedBy, day(&k.CreatedAt), day(k.ExpiresAt), day(k.LastUsed))
		}
	})
}

func day(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// RevokeOptions of `cortex api-key revoke`.
type RevokeOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (Client, error)
	Ref    string // name or id
}

// NewCmdRevoke returns `cortex api-key revoke`.
func NewCmdRevoke(f *cmdutil.Factory, runF func(context.Context, *RevokeOptions) error) *cobra.Command {
	o := &RevokeOptions{IO: f.IO, Client: clientFrom(f)}
	cmd := &cobra.Command{
		Use:     "revoke NAME|ID",
		Short:   "Revoke an API key: its next request is refused",
		Example: "  cortex api-key revoke ci\n  cortex api-key revoke 3f9a0c1d2b4e5f60",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Ref = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return revokeRun(c.Context(), o)
		},
	}
	return cmd
}

func revokeRun(ctx context.Context, o *RevokeOptions) error {
	if o.Ref == "" {
		return errors.New("name or id required")
	}
	cl, err := o.Client(ctx)
	if err != nil {
		return err
	}
	info, err := cl.RevokeAPIKey(ctx, o.Ref)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.IO.Out, "revoked API key %s (id %s)\n", info.Name, info.ID)
	return err
}
