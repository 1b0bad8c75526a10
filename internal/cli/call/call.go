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

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// maxPayload bounds what call reads from a file or stdin (the gateway's own limit is larger).
const maxPayload = 32 << 20

// Options of `cortex call`.
type Options struct {
	API     string
	Payload string // JSON text, @file, or @- for stdin
	Path    string // below the API's endpoint
	Method  string
}

// NewCmd returns `cortex call`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "call API [JSON | @FILE | @-]",
		Short: "Call a deployed API (TLS verified with the cluster's CA) and print its answer",
		Long: `Call a deployed API through the cluster's gateway and print the answer.

The payload is JSON given inline, read from a file (@file.json) or from standard input (@-); it
is checked to be JSON before it is sent. Without a payload, call sends a GET. The gateway's
certificate is verified against the environment's CA, as for the operator. The API's answer goes
to standard output; a non-2xx answer is an error (exit code 1) with the answer on stderr.`,
		Example: `  cortex call iris @examples/iris/sample.json
  cortex call echo '{"x": 1}'
  echo '{"x": 2}' | cortex call echo @-`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			o.API = args[0]
			if len(args) == 2 {
				o.Payload = args[1]
			}
			return Run(c.Context(), f, o)
		},
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "path below the API's endpoint, e.g. /health")
	cmd.Flags().StringVarP(&o.Method, "method", "X", "", "HTTP method (default POST with a payload, GET without)")
	return cmd
}

// Run calls the API.
func Run(ctx context.Context, f *cmdutil.Factory, o *Options) error {
	body, err := readPayload(f, o.Payload)
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
	if o.Path != "" && !strings.HasPrefix(o.Path, "/") {
		return fmt.Errorf("--path must start with /")
	}
	cl, _, err := f.Client()
	if err != nil {
		return err
	}
	var st struct {
		Endpoint string `json:"endpoint"`
		Status   string `json:"status"`
	}
	if err := cl.Do(ctx, http.MethodGet, client.APIPath(o.API), nil, &st); err != nil {
		return err
	}
	var rd io.Reader
	contentType := ""
	if body != nil {
		rd, contentType = bytes.NewReader(body), "application/json"
	}
	resp, err := cl.CallAPI(ctx, method, st.Endpoint+o.Path, contentType, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		_, _ = io.Copy(f.IO.ErrOut, io.LimitReader(resp.Body, 64<<10))
		fmt.Fprintln(f.IO.ErrOut)
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("api %s answered %s (status %s)", o.API, resp.Status, st.Status)}
	}
	_, err = io.Copy(f.IO.Out, resp.Body)
	return err
}

func readPayload(f *cmdutil.Factory, arg string) ([]byte, error) {
	var data []byte
	switch {
	case arg == "":
		return nil, nil
	case arg == "@-":
		b, err := io.ReadAll(io.LimitReader(f.IO.In, maxPayload+1))
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
