// Package call is `cortex call`: send a request to a deployed API over the cluster's verified TLS.
package call

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// maxPayload bounds what call reads from a file or stdin (the gateway's own limit is larger).
const maxPayload = 32 << 20

// CallOptions are the dependencies, flags and arguments of `cortex call`.
type CallOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)
	Getenv func(string) string

	API     string
	Payload string // JSON text, @file, or @- for stdin
	Path    string // below the API's endpoint
	Method  string
	// APIKey is the key for an api_key API: the key, or @FILE (default $CORTEX_API_KEY).
	APIKey string

	ctx context.Context
}

// APIKeyEnv holds the API key of `cortex call` when --api-key is not given.
const APIKeyEnv = "CORTEX_API_KEY"

// NewCmdCall returns `cortex call`.
func NewCmdCall(f *cmdutil.Factory, runF func(*CallOptions) error) *cobra.Command {
	opts := &CallOptions{IO: f.IO, Client: f.Client, Getenv: f.Getenv}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	cmd := &cobra.Command{
		Use:   "call API [JSON | @FILE | @-]",
		Short: "Call a deployed API (TLS verified with the cluster's CA) and print its answer",
		Long: `Call a deployed API through the cluster's gateway and print the answer.

The payload is JSON given inline, read from a file (@file.json) or from standard input (@-); it
is checked to be JSON before it is sent, with Content-Type: application/json. Without a payload,
call sends a GET. The gateway's certificate is verified against the environment's CA, as for the
operator. The API's answer goes to standard output, ending with a newline (one is added when the
answer lacks it); a non-2xx answer is an error (exit code 1) with the answer on stderr.

call authenticates as the API's spec asks: for auth iam it sends an identity token bound to the
gateway (your AWS identity, or the local admin credential); for auth api_key the key from
--api-key or $CORTEX_API_KEY. Prefer the variable or --api-key @FILE: a key on the command line
is visible to other users of this machine in the process list.`,
		Example: `  CORTEX_API_KEY=cxk_... cortex call iris @examples/iris/sample.json
  cortex call iris --api-key @iris.key @examples/iris/sample.json
  cortex call echo '{"x": 1}'
  echo '{"x": 2}' | cortex call echo @-`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: cmdutil.CompleteAPINames(f, false),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ctx = c.Context()
			opts.API = args[0]
			if len(args) == 2 {
				opts.Payload = args[1]
			}
			if opts.Path != "" && !strings.HasPrefix(opts.Path, "/") {
				return cmdutil.UsageErrorf(c.CommandPath(), "--path must start with /")
			}
			if runF != nil {
				return runF(opts)
			}
			return callRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Path, "path", "", "path below the API's endpoint, e.g. /health")
	cmd.Flags().StringVarP(&opts.Method, "method", "X", "", "HTTP method (default POST with a payload, GET without)")
	cmd.Flags().StringVar(&opts.APIKey, "api-key", "", "API key for an api_key API, or @FILE to read it from a file (default $"+APIKeyEnv+")")
	return cmd
}

func callRun(o *CallOptions) error {
	ctx := o.ctx
	body, err := readPayload(o.IO, o.Payload)
	if err != nil {
		return err
	}
	method := strings.ToUpper(o.Method)
	if method == "" {
		method = http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
	}
	key, err := apiKey(o.APIKey, o.Getenv)
	if err != nil {
		return err
	}
	cl, _, err := o.Client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	var st apitypes.APIStatus
	if err := cl.Do(ctx, http.MethodGet, client.APIPath(o.API), nil, &st); err != nil {
		return err
	}
	var rd io.Reader
	contentType := ""
	if body != nil {
		rd, contentType = bytes.NewReader(body), "application/json"
	}
	resp, err := cl.CallAPI(ctx, method, st.Endpoint+o.Path, contentType, rd, client.APICredentials{Auth: st.Auth.Type, APIKey: key, EndpointTLS: st.EndpointTLS})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		_, _ = copyEndingInNewline(o.IO.ErrOut, io.LimitReader(resp.Body, 64<<10))
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("api %s answered %s (status %s)", o.API, resp.Status, st.Status)}
	}
	_, err = copyEndingInNewline(o.IO.Out, resp.Body)
	return err
}

// copyEndingInNewline copies src to dst and adds a newline if what it copied (not empty) did not
// end with one, so that the shell's prompt starts on a line of its own.
func copyEndingInNewline(dst io.Writer, src io.Reader) (int64, error) {
	t := &lastByte{w: dst}
	n, err := io.Copy(t, src)
	if err == nil && n > 0 && t.last != '\n' {
		_, err = io.WriteString(dst, "\n")
	}
	return n, err
}

type lastByte struct {
	w    io.Writer
	last byte
}

func (l *lastByte) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.last = p[len(p)-1]
	}
	return l.w.Write(p)
}

// apiKey resolves --api-key: the key, @FILE (a file only its owner can read), or $CORTEX_API_KEY.
func apiKey(flag string, getenv func(string) string) (string, error) {
	if flag == "" {
		return strings.TrimSpace(getenv(APIKeyEnv)), nil
	}
	file, ok := strings.CutPrefix(flag, "@")
	if !ok {
		return flag, nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("--api-key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--api-key: %s is readable by others (mode %v): run chmod 600 %s", file, fi.Mode().Perm(), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--api-key: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func readPayload(ios *cmdutil.IOStreams, arg string) ([]byte, error) {
	var data []byte
	switch {
	case arg == "":
		return nil, nil
	case arg == "@-":
		b, err := io.ReadAll(io.LimitReader(ios.In, maxPayload+1))
		if err != nil {
			return nil, err
		}
		data = b
	case strings.HasPrefix(arg, "@"):
		file, err := os.Open(arg[1:])
		if err != nil {
			return nil, err
		}
		defer file.Close()
		if data, err = io.ReadAll(io.LimitReader(file, maxPayload+1)); err != nil {
			return nil, err
		}
	default:
		data = []byte(arg)
	}
	if len(data) > maxPayload {
		return nil, fmt.Errorf("payload is larger than %d bytes", maxPayload)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("payload is not valid JSON")
	}
	return data, nil
}
