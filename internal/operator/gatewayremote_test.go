package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/gateway/remote"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/workload/local"
)

// remoteGateway is a gateway process's parts, in this process: the gateway, its client of the
// operator's internal endpoints, and its listener.
type remoteGateway struct {
	url  string
	stop func()
	// cut closes the gateway's way to the operator (a TCP forwarder between the two) while both
	// keep running, and the APIs' replicas with them.
	cut func()
}

// forward relays TCP connections from a loopback port to target until the returned cut is
// called, which closes the port and every relayed connection.
func forward(t *testing.T, target string) (addr string, cut func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	cut = func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(cut)
	return ln.Addr().String(), cut
}

// startRemoteOperator starts an operator in remote gateway mode with a local backend, and a
// remote gateway in front of it (Targets from the same local backend: the processes run here).
func startRemoteOperator(t *testing.T, state string, clientCert tls.Certificate, caFile string, mutate func(*Config)) (*apiFixture, *remoteGateway) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gwURL := "https://" + ln.Addr().String()
	backend, err := local.New(local.Options{Dir: filepath.Join(state, "..", "remote-workloads")})
	if err != nil {
		t.Fatal(err)
	}
	f := startAPIOperator(t, state, func(c *Config) {
		c.APIs.Gateway = GatewayRemote
		c.APIs.GatewayClientCAFile = caFile
		c.APIs.PublicEndpoints = []string{gwURL}
		c.APIs.Workloads = backend
		if mutate != nil {
			mutate(c)
		}
	})
	f.gateway = gwURL
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.srv.CAPEM())
	via, cut := forward(t, strings.TrimPrefix(f.base, "https://"))
	client, err := remote.NewClient(remote.ClientOptions{OperatorURL: "https://" + via,
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Targets: backend.Targets, Authorize: client.Authorize})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- remote.Serve(ctx, gw, client, ln, f.srv.TLSConfig()) }()
	rg := &remoteGateway{url: gwURL, cut: cut, stop: func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("remote gateway: %v", err)
		}
	}}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			rg.stop()
		}
	})
	return f, rg
}

type decisionCase struct {
	name   string
	path   string
	set    func(http.Header)
	status int
}

// decisionCases are requests to an iam, an api_key and a none API, for each kind of caller.
func decisionCases(key, otherKey, aliceTok, bobTok, opTok, localTok string) []decisionCase {
	return []decisionCase{
		{"no credentials, api_key", "/keyed", nil, 401},
		{"no credentials, iam", "/readers", nil, 401},
		{"malformed: Basic", "/keyed", func(h http.Header) { h.Set("Authorization", "Basic "+key) }, 401},
		{"wrong key", "/keyed", withBearer(key[:len(key)-2] + "AA"), 401},
		{"key for another API", "/keyed", withBearer(otherKey), 403},
		{"identity token on an api_key API", "/keyed", withBearer(aliceTok), 401},
		{"API key on an iam API", "/readers", withBearer(key), 401},
		{"iam token for the operator", "/readers", withBearer(opTok), 401},
		{"identity not in allow", "/alice-only", withBearer(bobTok), 403},
		{"two Authorization headers", "/keyed", func(h http.Header) { h.Add("Authorization", "Bearer "+key); h.Add("Authorization", "Bearer "+key) }, 401},
		{"Authorization and X-Api-Key", "/keyed", func(h http.Header) { h.Set("Authorization", "Bearer "+key); h.Set("X-Api-Key", key) }, 401},
		{"valid key", "/keyed", withBearer(key), 200},
		{"valid key in X-Api-Key", "/keyed", func(h http.Header) { h.Set("x-api-key", key) }, 200},
		{"reader", "/readers", withBearer(bobTok), 200},
		{"local admin reads the cluster", "/readers", withBearer(localTok), 200},
		{"allowed", "/alice-only", withBearer(aliceTok), 200},
		{"none with credentials", "/open", func(h http.Header) { h.Set("Authorization", "Bearer "+aliceTok) }, 200},
		{"none without credentials", "/open", nil, 200},
		{"no such API", "/missing", nil, 404},
	}
}

// An iam, an api_key and a none API answer every kind of caller the same through the remote
// gateway (a separate gateway that asks the operator's internal endpoints over mutual TLS) as
// through the embedded one; the replica never sees a credential. Then, with the operator gone,
// the remote gateway refuses everything with 503 and Retry-After (fail closed), keeping its
// routes.
func TestRemoteGatewayDecidesLikeTheEmbeddedOne(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	bob := awstest.CreateUser(t, admin, "bob")
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	withMoto := func(c *Config) {
		c.STSTestEndpoint = moto.URL
		c.AccountID = "123456789012"
		c.AccountRole = "read"
	}
	caFile, clientCert := certtest.ClientCAFile(t)

	type answer struct {
		Status int
		Code   string
	}
	run := func(f *apiFixture) []answer {
		apis := `{"apis":[` + strings.Join([]string{
			authSpec(t, "open", `{"type":"none"}`),
			authSpec(t, "keyed", `{"type":"api_key"}`),
			authSpec(t, "other", `{"type":"api_key"}`),
			authSpec(t, "readers", ""),
			authSpec(t, "alice-only", `{"type":"iam","allow":[`+jsonStr(alice.ARN)+`]}`),
		}, ",") + `]}`
		if code, body := f.do(t, "POST", "/v1/apis", apis, f.token); code != 200 {
			t.Fatalf("deploy: %d %s", code, body)
		}
		for _, name := range []string{"open", "keyed", "other", "readers", "alice-only"} {
			f.waitLive(t, name, 1)
		}
		_, authBody := f.do(t, "GET", "/v1/auth", "", "")
		var params AuthParams
		if err := json.Unmarshal(authBody, &params); err != nil {
			t.Fatal(err)
		}
		mint := func(creds aws.Credentials, audience string) string {
			tok, err := identity.Mint(context.Background(), creds, identity.MintInput{Endpoint: hosts[moto.Host], ClusterID: params.ClusterID, Audience: audience, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		key, _ := f.createKey(t, "ci", `["keyed"]`, 0)
		otherKey, _ := f.createKey(t, "other-ci", `["other"]`, 0)
		var out []answer
		// The 404 of a path without an API: wait until the gateway knows every route.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if code, _, _ := f.gatewayCall(t, "/open", nil); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the gateway never routed /open")
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, c := range decisionCases(key, otherKey, mint(alice.Creds, f.gateway), mint(bob.Creds, f.gateway), mint(alice.Creds, f.base), f.token) {
			code, errCode, seen := f.gatewayCall(t, c.path, c.set)
			if code != c.status {
				t.Errorf("%s %s: %d %s, want %d", f.gateway, c.name, code, errCode, c.status)
			}
			if code == 200 && (seen["authorization"] != "" || seen["x-api-key"] != "") {
				t.Errorf("%s: the replica saw credentials: %v", c.name, seen)
			}
			out = append(out, answer{code, errCode})
		}
		return out
	}

	embedded := startAPIOperator(t, filepath.Join(t.TempDir(), "state"), withMoto)
	want := run(embedded)
	embedded.stop()

	f, rg := startRemoteOperator(t, filepath.Join(t.TempDir(), "state"), clientCert, caFile, withMoto)
	got := run(f)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("case %d: remote %v, embedded %v", i, got[i], want[i])
		}
	}

	// The operator becomes unreachable (its replicas keep running): every request is refused
	// (none APIs too: the decision is the operator's), with Retry-After, and the routes are kept
	// (not 404).
	rg.cut()
	for _, path := range []string{"/open", "/keyed", "/readers"} {
		req, _ := http.NewRequest("GET", rg.url+path, nil)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "authorizer_unavailable") {
			t.Errorf("%s with the operator down: %d %q %s, want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}

// rawCall is one request to an operator with a given TLS client certificate (nil: none); it
// returns the status, the headers and the body.
func rawCall(t *testing.T, f *apiFixture, cert *tls.Certificate, method, path, body string) (int, http.Header, string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.srv.CAPEM())
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(method, f.base+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	resp.Header.Del("X-Request-Id")
	resp.Header.Del("Date")
	return resp.StatusCode, resp.Header, string(data)
}

// The internal endpoints answer only the gateway: without a client certificate, or with one of
// another CA the operator also trusts (the TokenReview webhook's), a caller gets exactly what
// an operator without remote mode answers for those paths (a 404 like any path that does not
// exist: nothing new on the operator's port); the gateway's certificate does not open the
// webhook either. With the gateway's certificate, the client address it reports is what the
// failure limiter counts by.
func TestRemoteGatewayEndpointsAnswerOnlyTheGateway(t *testing.T) {
	dir := t.TempDir()
	gwCAFile, gwCert := certtest.ClientCAFile(t)
	hookCAFile, hookCert := certtest.ClientCAFile(t)
	withHook := func(c *Config) {
		c.KubernetesAPIServers = []string{"https://kube.example.com:6443"}
		c.KubernetesWebhookClientCAFile = hookCAFile
	}
	plain := startAPIOperator(t, filepath.Join(dir, "plain", "state"), withHook)
	f := startAPIOperator(t, filepath.Join(dir, "remote", "state"), func(c *Config) {
		withHook(c)
		c.APIs.Gateway = GatewayRemote
		c.APIs.GatewayClientCAFile = gwCAFile
		c.APIs.PublicEndpoints = []string{"https://gateway.example.com"}
	})
	authz := `{"api":"keyed","client":"203.0.113.7:1234","authorization":["Bearer cxk_x"]}`
	for _, rq := range []struct{ method, path, body string }{
		{"POST", remote.AuthorizePath, authz},
		{"GET", remote.RoutesPath + "?known=", ""},
		{"PUT", remote.RoutesPath, ""},
	} {
		wantCode, wantHdr, wantBody := rawCall(t, plain, nil, rq.method, rq.path, rq.body)
		if wantCode != 404 {
			t.Fatalf("%s %s without remote mode: %d", rq.method, rq.path, wantCode)
		}
		for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "the webhook's certificate": &hookCert} {
			code, hdr, body := rawCall(t, f, cert, rq.method, rq.path, rq.body)
			if code != wantCode || body != wantBody || !equalHeaders(hdr, wantHdr) {
				t.Errorf("%s %s, %s: %d %v %q; without remote mode: %d %v %q", rq.method, rq.path, name, code, hdr, body, wantCode, wantHdr, wantBody)
			}
		}
	}
	review := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"x"}}`
	if code, _, body := rawCall(t, f, &gwCert, "POST", TokenReviewPath, review); code != 401 {
		t.Errorf("the gateway's certificate at the webhook: %d %s, want 401", code, body)
	}

	// The gateway: routes at once for an unknown version; decisions per reported client.
	code, _, body := rawCall(t, f, &gwCert, "GET", remote.RoutesPath+"?known=", "")
	var rt remote.Routes
	if code != 200 || json.Unmarshal([]byte(body), &rt) != nil || rt.Version == "" || rt.Routes == nil {
		t.Fatalf("routes: %d %s", code, body)
	}
	f.srv.apiAuth.setAuths(map[string]apispec.Auth{"keyed": {Type: apispec.AuthAPIKey}})
	decide := func(client string) remote.Decision {
		body := `{"api":"keyed","client":"` + client + `","authorization":["Bearer cxk_bad"]}`
		code, _, out := rawCall(t, f, &gwCert, "POST", remote.AuthorizePath, body)
		var d remote.Decision
		if code != 200 || json.Unmarshal([]byte(out), &d) != nil {
			t.Fatalf("authorize: %d %s", code, out)
		}
		return d
	}
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		limited = decide("203.0.113.7:1234").Status == 429
	}
	if !limited {
		t.Fatal("40 failures of one client were never limited")
	}
	if d := decide("203.0.113.8:1234"); d.Status != 401 {
		t.Errorf("another client after the first was limited: %+v, want 401", d)
	}
	for _, bad := range []string{`{"api":"keyed","client":"not an address"}`, `{"api":"","client":"203.0.113.7:1"}`,
		`{"api":"keyed","client":"203.0.113.7:1","extra":1}`} {
		if code, _, out := rawCall(t, f, &gwCert, "POST", remote.AuthorizePath, bad); code != 400 {
			t.Errorf("authorize %s: %d %s, want 400", bad, code, out)
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}

// An operator that stops (a rollout replaces its pod) answers the gateway's pending long poll at
// once and closes that connection (Run stops the route hub before the server's Shutdown, which
// waits for the polls), so the gateway's next poll reaches the operator that keeps running:
// without it the gateway kept the stopping operator's routes, which no deploy reaches any more,
// until the poll timed out (seen in test/e2e TestEKSRealNode: 404 for a live API after a rollout).
func TestStoppingOperatorEndsTheGatewaysLongPoll(t *testing.T) {
	s := &Server{routeHub: newRouteHub()}
	rt, _ := s.routeHub.snapshot()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		w := httptest.NewRecorder()
		s.handleGatewayRoutes(w, httptest.NewRequest("GET", remote.RoutesPath+"?"+remote.KnownParam+"="+rt.Version, nil))
		done <- w
	}()
	s.routeHub.stop() // before or while the poll waits: the answer is the same
	w := <-done
	var again remote.Routes
	if err := json.Unmarshal(w.Body.Bytes(), &again); w.Code != 200 || err != nil || again.Version != rt.Version {
		t.Errorf("the long poll answered %d %s %v, want 200 and the same version", w.Code, w.Body, err)
	}
	if w.Header().Get("Connection") != "close" {
		t.Error("the stopping operator keeps the gateway's connection (no Connection: close): the gateway would poll it again")
	}
	// A poll that comes later is answered at once too, and closes its connection.
	w = httptest.NewRecorder()
	s.handleGatewayRoutes(w, httptest.NewRequest("GET", remote.RoutesPath+"?"+remote.KnownParam+"="+rt.Version, nil))
	if w.Code != 200 || w.Header().Get("Connection") != "close" {
		t.Errorf("a poll after stop: %d %v", w.Code, w.Header())
	}
}
