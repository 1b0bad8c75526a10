package operator

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
	"github.com/cortexlabs-go/cortex/internal/workload/local"
)

// With apis.public_tls (a remote gateway behind a load balancer presenting a public certificate),
// every API's status says endpoint_tls public next to its endpoint, the first public endpoint;
// without it the field is absent (clients pin the cluster CA). The embedded gateway cannot have it.
func TestRemoteGatewayReportsPublicTLS(t *testing.T) {
	caFile, _ := certtest.ClientCAFile(t)
	for _, public := range []bool{true, false} {
		dir := t.TempDir()
		backend, err := local.New(local.Options{Dir: filepath.Join(dir, "workloads")})
		if err != nil {
			t.Fatal(err)
		}
		f := startAPIOperator(t, filepath.Join(dir, "state"), func(c *Config) {
			c.APIs.Gateway = GatewayRemote
			c.APIs.GatewayClientCAFile = caFile
			c.APIs.PublicEndpoints = []string{"https://api.example.com"}
			c.APIs.PublicTLS = public
			c.APIs.Workloads = backend
		})
		if code, body := f.do(t, "POST", "/v1/apis", deployBody(t, 1, ""), f.token); code != 200 {
			t.Fatalf("deploy: %d %s", code, body)
		}
		code, body := f.do(t, "GET", "/v1/apis/echo", "", f.token)
		var st apitypes.APIStatus
		if code != 200 || json.Unmarshal(body, &st) != nil {
			t.Fatalf("status: %d %s", code, body)
		}
		want := ""
		if public {
			want = apitypes.EndpointTLSPublic
		}
		if st.Endpoint != "https://api.example.com:443/echo" || st.EndpointTLS != want {
			t.Errorf("public_tls %v: endpoint %q endpoint_tls %q, want https://api.example.com:443/echo and %q", public, st.Endpoint, st.EndpointTLS, want)
		}
		if !public && strings.Contains(string(body), "endpoint_tls") {
			t.Errorf("public_tls off: the status names endpoint_tls: %s", body)
		}
		f.do(t, "DELETE", "/v1/apis/echo", "", f.token)
		f.stop()
	}

	dir := t.TempDir()
	cfg := Config{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", Provider: "local",
		LocalTokenFile: filepath.Join(dir, "admin.token"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.APIs.GatewayListen = "127.0.0.1:0"
	cfg.APIs.PublicTLS = true
	s, err := New(cfg)
	if err == nil {
		// Bounded: an operator that wrongly starts runs until the context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.Run(ctx, nil)
	}
	if err == nil || !strings.Contains(err.Error(), "apis.public_tls") {
		t.Errorf("public_tls with the embedded gateway: %v, want a refusal", err)
	}
}
