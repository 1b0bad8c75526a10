package root

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// relayAttempt is what the relaying server got back from the real operator with a stolen token.
type relayAttempt struct {
	status int
	code   string
}

// tokenRelay is a malicious operator B: it announces cluster A's binding at /v1/auth (A gives it
// to anyone) and replays every token it receives to A, trying to make mallory an admin of A.
// It is a real HTTPS server with its own CA, as an attacker's would be.
type tokenRelay struct {
	URL, CAFile string
	mu          sync.Mutex
	attempts    []relayAttempt
}

func startTokenRelay(t *testing.T, a *opserver.Operator, victimGrant string) *tokenRelay {
	t.Helper()
	dir := t.TempDir()
	b, err := tlsutil.EnsureSelfManaged(filepath.Join(dir, "tls"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, b.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(a.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	toA := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	r := &tokenRelay{CAFile: caFile}
	forward := func(method, path, auth string, body []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, a.URL+path, bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := toA.Do(req)
		if err != nil {
			t.Errorf("relay to A: %v", err)
			return nil, nil
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, data
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/auth", func(w http.ResponseWriter, req *http.Request) {
		resp, data := forward("GET", "/v1/auth", "", nil) // A's cluster id, STS host and region
		if resp == nil {
			http.Error(w, "relay failed", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		stolen := req.Header.Get("Authorization")
		grant, _ := json.Marshal(map[string]string{"principal": victimGrant, "role": "admin"})
		resp, data := forward("PUT", "/v1/access", stolen, grant)
		if resp != nil {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(data, &e)
			r.mu.Lock()
			r.attempts = append(r.attempts, relayAttempt{status: resp.StatusCode, code: e.Error.Code})
			r.mu.Unlock()
		}
		// Answer the user with whatever A says to their own request, so nothing looks wrong.
		body, _ := io.ReadAll(req.Body)
		resp, data = forward(req.Method, req.URL.RequestURI(), stolen, body)
		if resp == nil {
			http.Error(w, "relay failed", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(data)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: tlsutil.ServerConfig(b.Server)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	r.URL = "https://" + ln.Addr().String()
	return r
}

func (r *tokenRelay) results() []relayAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayAttempt(nil), r.attempts...)
}

// A user who configures a malicious operator B (which announces cluster A's id) and runs a
// command against it gives B a token; replayed to A, that token is refused before any STS call,
// because it is bound to B's endpoint. The same user's commands against A itself still work.
func TestTokenRelayToAnotherOperatorIsRefused(t *testing.T) {
	isolateAWS(t)
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	mallory := awstest.CreateUser(t, admin, "mallory")
	a := opserver.Start(t, operator.Config{STSTestEndpoint: moto.URL, AccountID: "123456789012",
		CreatorARN: alice.ARN, AuthMode: "rules", Provider: "local"})
	relay := startTokenRelay(t, a, mallory.ARN)
	c := &cliRun{t: t, configDir: filepath.Join(t.TempDir(), "cortex"), outputs: &bytes.Buffer{}}

	if _, err := c.as(alice.Creds, "env", "configure", "a", "--operator-endpoint", a.URL, "--ca-file", a.CAFile); err != nil {
		t.Fatalf("env configure a: %v", err)
	}
	before := c.outputs.Len()
	if _, err := c.as(alice.Creds, "env", "configure", "b", "--operator-endpoint", relay.URL, "--ca-file", relay.CAFile); err != nil {
		t.Fatalf("env configure b: %v", err)
	}
	if warn := c.outputs.String()[before:]; !strings.Contains(warn, "already uses cluster "+a.Cluster().ID) {
		t.Errorf("configuring a second endpoint for cluster %s gave no warning: %q", a.Cluster().ID, warn)
	}

	// Alice, an admin of A, talks to B: B replays her token to A.
	_, _ = c.as(alice.Creds, "-e", "b", "whoami")
	_, _ = c.as(alice.Creds, "-e", "b", "cluster", "access", "list")
	attempts := relay.results()
	if len(attempts) == 0 {
		t.Fatal("the relay never received a token: the test does not exercise the attack")
	}
	for _, at := range attempts {
		if at.status != http.StatusUnauthorized || at.code != "unauthenticated" {
			t.Errorf("A answered the relayed token with %d %q, want 401 unauthenticated", at.status, at.code)
		}
	}
	if !strings.Contains(a.Log.String(), `"reason":"wrong_audience"`) {
		t.Errorf("A's audit log does not say wrong_audience:\n%s", a.Log.String())
	}
	if a.STSCalls() != 0 {
		t.Errorf("relayed tokens reached STS %d times; the audience must be refused before any STS call", a.STSCalls())
	}

	// Mallory did not become anything on A, and alice's own token for A works.
	out, err := c.as(alice.Creds, "-e", "a", "cluster", "access", "list", "-o", "json")
	if err != nil {
		t.Fatalf("access list on A: %v", err)
	}
	if strings.Contains(out, mallory.ARN) {
		t.Fatalf("the relay granted mallory access on A: %s", out)
	}
	if m := whoamiJSON(t, c, alice.Creds); m["arn"] != alice.ARN {
		t.Fatalf("whoami on A = %v", m)
	}
}
