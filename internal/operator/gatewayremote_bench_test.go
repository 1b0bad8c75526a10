package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apikey"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/gateway/remote"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
)

// BenchmarkAuthorizeHop measures one decision for an api_key API (a valid key: a hash and a
// lookup) made in the gateway's process (embedded: authorizeAPI called directly) and by the
// remote gateway (a POST to the operator's internal endpoint over mutual TLS, on kept-alive
// connections). The difference is what the hop adds per request; "remote_parallel" runs 8
// decisions at once per core, and "https_baseline" is a bare HTTPS round trip of the same sizes
// on the same machine (a net/http TLS server that answers a fixed decision): what any hop costs.
//
//	go test ./internal/operator -run '^$' -bench AuthorizeHop -benchtime 2000x -count 5
func BenchmarkAuthorizeHop(b *testing.B) {
	caFile, clientCert := certtest.ClientCAFile(b)
	state := filepath.Join(b.TempDir(), "state")
	s, err := New(Config{StateDir: state, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		APIs: APIsConfig{Gateway: GatewayRemote, GatewayClientCAFile: caFile, PublicEndpoints: []string{"https://gateway.example.com"},
			Workloads: nil}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		b.Fatal(err)
	case <-time.After(20 * time.Second):
		b.Fatal("operator did not start")
	}
	b.Cleanup(func() { cancel(); <-done })
	s.apiAuth.setAuths(map[string]apispec.Auth{"key": {Type: apispec.AuthAPIKey}})
	key, _, err := s.keys.Create(apikey.CreateInput{Name: "bench", APIs: []string{"key"}})
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	client, err := remote.NewClient(remote.ClientOptions{OperatorURL: "https://" + addr.String(),
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	req, _ := http.NewRequest("POST", "https://gateway.example.com/key", nil)
	req.RemoteAddr = "203.0.113.7:5555"
	req.Header.Set("Authorization", "Bearer "+key)
	check := func(b *testing.B, status int) {
		if status != 0 {
			b.Fatalf("decision: status %d", status)
		}
	}
	b.Run("embedded", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			check(b, s.authorizeAPI(req, "key").Status)
		}
	})
	b.Run("remote", func(b *testing.B) {
		check(b, client.Authorize(req, "key").Status) // the connection's handshake, outside the timing
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			check(b, client.Authorize(req, "key").Status)
		}
	})
	b.Run("https_baseline", func(b *testing.B) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":0,"auth":"api_key","principal":"key:0123456789abcdef","reason":"api_key"}`+"\n")
		}))
		defer srv.Close()
		c := srv.Client()
		body := `{"api":"key","client":"203.0.113.7:5555","authorization":["Bearer ` + key + `"]}`
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := c.Post(srv.URL, "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("remote_parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if d := client.Authorize(req, "key"); d.Status != 0 {
					b.Errorf("decision: status %d", d.Status)
					return
				}
			}
		})
	})
}
