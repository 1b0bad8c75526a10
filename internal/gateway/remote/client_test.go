package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
)

// hostileOperator answers with body and status whatever is asked: a stand-in for an operator that
// is broken or not the operator at all, which no real operator can be made to do (the real one is
// tested in internal/operator). It requires the client certificate, as the operator does.
func hostileOperator(t *testing.T, status int, body string) (*Client, *atomic.Int64) {
	t.Helper()
	caPEM, cert := certtest.ClientCA(t)
	calls := new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c, err := NewClient(ClientOptions{OperatorURL: srv.URL, TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
		AuthorizeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, calls
}

// Anything but a decision is a 503 with Retry-After, never a pass.
func TestAuthorizeFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       int
	}{
		{"a pass", `{"status":0,"auth":"none","reason":"public"}`, 200, 0},
		{"a refusal", `{"status":401,"code":"unauthenticated","message":"no"}`, 200, 401},
		{"an operator error", `{"error":{"code":"internal"}}`, 500, 503},
		{"a 404 (not remote mode)", `{"error":{"code":"not_found"}}`, 404, 503},
		{"not JSON", `<html>`, 200, 503},
		{"empty", ``, 200, 503},
		{"a status that is not a decision", `{"status":302,"code":"found"}`, 200, 503},
		{"a refusal without a code", `{"status":403}`, 200, 503},
		{"a negative status", `{"status":-1,"code":"x"}`, 200, 503},
	} {
		c, _ := hostileOperator(t, tc.status, tc.body)
		r := httptest.NewRequest("GET", "https://gw/api", nil)
		d := c.Authorize(r, "api")
		if d.Status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, d.Status, tc.want)
		}
		if tc.want == 503 && (d.RetryAfter == 0 || d.Code != "authorizer_unavailable") {
			t.Errorf("%s: %+v, want authorizer_unavailable with Retry-After", tc.name, d)
		}
	}
	// Unreachable: nothing listens.
	c, err := NewClient(ClientOptions{OperatorURL: "https://127.0.0.1:1", TLS: &tls.Config{RootCAs: x509.NewCertPool(),
		Certificates: []tls.Certificate{{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Authorize(httptest.NewRequest("GET", "https://gw/api", nil), "api"); d.Status != 503 {
		t.Errorf("unreachable operator: %+v", d)
	}
}

// A routing table that is not one is not applied: the last good table stays.
func TestWatchRoutesKeepsTheLastGoodTable(t *testing.T) {
	for _, body := range []string{`{"routes":{"/a":"a"}}`, `{"version":"v1"}`, `{"version":"v1","routes":{"a":"a"}}`,
		`{"version":"v1","routes":{"/a":""}}`, `not json`} {
		c, calls := hostileOperator(t, 200, body)
		ctx, cancel := context.WithCancel(context.Background())
		set := 0
		done := make(chan struct{})
		go func() { c.WatchRoutes(ctx, func(map[string]string) { set++ }, nil); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for calls.Load() < 2 && time.Now().Before(deadline) { // the client retried after the bad answer
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		if calls.Load() < 2 || set != 0 {
			t.Errorf("%s: %d calls, table set %d times", body, calls.Load(), set)
		}
	}
	if _, err := NewClient(ClientOptions{OperatorURL: "http://op:8888", TLS: &tls.Config{RootCAs: x509.NewCertPool(),
		Certificates: []tls.Certificate{{}}}}); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("plain http operator URL: %v", err)
	}
	if _, err := NewClient(ClientOptions{OperatorURL: "https://op:8888"}); err == nil {
		t.Error("no client certificate: accepted")
	}
}
