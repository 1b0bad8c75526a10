package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// infoServer serves GET /v1/info over TLS on loopback, with the real authentication middleware
// (auth=true, a cached AWS identity token) or with a fixed caller in its place (auth=false), and
// returns a function that makes one request.
func infoServer(b *testing.B, auth bool) func() {
	fakeSTS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA1</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
	}))
	b.Cleanup(fakeSTS.Close)
	s, err := New(Config{StateDir: b.TempDir(), STSTestEndpoint: fakeSTS.URL, AccountID: "123456789012",
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if !auth {
		// The same server and routes, with authentication replaced by the identity it would find.
		fixed := &Caller{Identity: identity.Identity{ARN: "arn:aws:iam::123456789012:user/alice", CanonicalARN: "arn:aws:iam::123456789012:user/alice",
			Account: "123456789012", UserID: "AIDA1"}, Method: MethodAWS, Role: "deploy"}
		s.guard = func(_ access.Role, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Context().Value(requestKey).(*requestState).caller = fixed
				next.ServeHTTP(w, r)
			})
		}
		s.mux = http.NewServeMux()
		s.routes()
	}
	h := s.Handler()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = s.TLSConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
	tok, err := identity.Mint(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE00000000", SecretAccessKey: "s"},
		identity.MintInput{Endpoint: identity.STSEndpoint{Scheme: "http", Host: strings.TrimPrefix(fakeSTS.URL, "http://"), Region: "us-east-1"},
			ClusterID: s.Cluster().ID, Audience: "https://127.0.0.1:8888", Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	get := func() {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/info", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	get() // the one STS call; every request after it is a cache hit
	return get
}

func benchInfo(b *testing.B, auth bool) {
	get := infoServer(b, auth)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get()
		}
	})
}

func BenchmarkInfoAuthenticated(b *testing.B)   { benchInfo(b, true) }
func BenchmarkInfoUnauthenticated(b *testing.B) { benchInfo(b, false) }

// BenchmarkInfoAuthRatio measures both variants in one run, alternating rounds so that whatever
// else the machine does weighs on both alike, and reports their throughputs and the ratio
// authenticated/unauthenticated (goal >= 0.95).
func BenchmarkInfoAuthRatio(b *testing.B) {
	withAuth, without := infoServer(b, true), infoServer(b, false)
	round(withAuth) // warm connections
	round(without)
	var tAuth, tNone time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			tAuth += round(withAuth)
			tNone += round(without)
		} else {
			tNone += round(without)
			tAuth += round(withAuth)
		}
	}
	n := float64(b.N * perRound)
	b.ReportMetric(n/tAuth.Seconds(), "auth_req/s")
	b.ReportMetric(n/tNone.Seconds(), "unauth_req/s")
	b.ReportMetric(tNone.Seconds()/tAuth.Seconds(), "ratio")
}

// perRound is the number of requests in one round of a ratio benchmark.
const perRound = 400

// round makes perRound requests with call from 16 concurrent workers and returns the wall time:
// one round of the ratio benchmarks, which alternate rounds of the variants they compare.
func round(call func()) time.Duration {
	const workers = 16
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perRound/workers; i++ {
				call()
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
