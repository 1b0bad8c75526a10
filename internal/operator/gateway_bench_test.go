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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/apikey"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// BenchmarkGatewayAuthRatio measures the gateway, with the operator's authorizer, in front of one
// backend on three routes that differ only in their auth: none, api_key and iam (a cached
// verification, no allow list: the caller's role on the cluster decides). The rounds alternate
// the routes within one run; it reports each throughput and iam/none and api_key/none (goal for
// both: >= 0.95), and iam against the none route sent the same token header (what verifying
// costs, apart from carrying the token).
//
//	go test ./internal/operator -run '^$' -bench GatewayAuthRatio -benchtime 40x -count 5
func BenchmarkGatewayAuthRatio(b *testing.B) {
	// STS answers once (the first verification); a stand-in, as in BenchmarkInfoAuthRatio.
	fakeSTS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA1</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
	}))
	b.Cleanup(fakeSTS.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"prediction":"setosa"}`)
	}))
	b.Cleanup(backend.Close)
	state := b.TempDir()
	s, err := New(Config{StateDir: state, STSTestEndpoint: fakeSTS.URL, AccountID: "123456789012",
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	eps, _ := identity.NormalizeAudiences(loopbackEndpoints(port))
	if s.apiAuth.verifier, err = s.verifier.ForAudiences(eps); err != nil {
		b.Fatal(err)
	}
	logFile, err := os.OpenFile(filepath.Join(state, "gateway-access.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	target := []string{strings.TrimPrefix(backend.URL, "http://")}
	gw := gateway.New(gateway.Options{Targets: func(string) []string { return target }, AccessLog: logFile, Authorize: s.authorizeAPI})
	s.apiAuth.setAuths(map[string]apispec.Auth{"none": {Type: apispec.AuthNone}, "key": {Type: apispec.AuthAPIKey}, "iam": {Type: apispec.AuthIAM}})
	gw.SetRoutes(map[string]string{"/none": "none", "/key": "key", "/iam": "iam"})
	go func() { _ = gw.Serve(ln, s.TLSConfig()) }()
	b.Cleanup(func() { gw.Close(); logFile.Close() })

	key, _, err := s.keys.Create(apikey.CreateInput{Name: "bench", APIs: []string{"key"}})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := identity.Mint(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE00000000", SecretAccessKey: "s"},
		identity.MintInput{Endpoint: identity.STSEndpoint{Scheme: "http", Host: strings.TrimPrefix(fakeSTS.URL, "http://"), Region: "us-east-1"},
			ClusterID: s.Cluster().ID, Audience: "https://127.0.0.1:" + port, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
	caller := func(path, cred string) func() {
		url := "https://127.0.0.1:" + port + path
		return func() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"x":1}`))
			req.Header.Set("Content-Type", "application/json")
			if cred != "" {
				req.Header.Set("Authorization", "Bearer "+cred)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("%s: status %d", path, resp.StatusCode)
			}
		}
	}
	// noneTok is the none route sent the same token as the iam route (the gateway strips it): it
	// tells what the ~1.3 KB header itself costs apart from verifying it.
	none, withKey, withIAM, noneTok := caller("/none", ""), caller("/key", key), caller("/iam", tok), caller("/none", tok)
	for _, c := range []func(){none, withKey, withIAM, noneTok} { // warm connections; the one STS call
		round(c)
	}
	if s.STSCalls() != 1 {
		b.Fatalf("%d STS calls, want 1 (every later verification is a cache hit)", s.STSCalls())
	}
	order := [][]int{{0, 1, 2, 3}, {1, 2, 3, 0}, {2, 3, 0, 1}, {3, 0, 1, 2}}
	calls := []func(){none, withKey, withIAM, noneTok}
	var t [4]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, j := range order[i%4] {
			t[j] += round(calls[j])
		}
	}
	n := float64(b.N * perRound)
	b.ReportMetric(n/t[0].Seconds(), "none_req/s")
	b.ReportMetric(n/t[1].Seconds(), "key_req/s")
	b.ReportMetric(n/t[2].Seconds(), "iam_req/s")
	b.ReportMetric(t[0].Seconds()/t[1].Seconds(), "key/none")
	b.ReportMetric(t[0].Seconds()/t[2].Seconds(), "iam/none")
	b.ReportMetric(t[3].Seconds()/t[2].Seconds(), "iam/none+token_header")
}
