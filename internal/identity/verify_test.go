package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// testAudience is the public endpoint of the operator in these tests.
const testAudience = "https://operator.example.com:443"

var (
	testNow   = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE00000000", SecretAccessKey: "secret-for-tests-only"}
)

// failTransport fails the test if a pre-check lets a request reach the network.
type failTransport struct{ calls atomic.Int64 }

func (f *failTransport) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, errors.New("network must not be reached")
}

func mintAt(t testing.TB, ep STSEndpoint, cluster string, now time.Time, creds aws.Credentials) string {
	t.Helper()
	tok, err := Mint(context.Background(), creds, MintInput{Endpoint: ep, ClusterID: cluster, Audience: testAudience, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func decoded(t testing.TB, tok string) Token {
	t.Helper()
	d, err := decodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func encodeRaw(payload string) string {
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(payload))
}

func must(t testing.TB, tok Token) string {
	s, err := tok.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostileCase is a token that must fail the pre-checks with code, before any network call.
type hostileCase struct{ name, token, code string }

// hostileTokens is the table of hostile tokens for an operator of cluster "cluster-a" with
// audience testAudience on the aws partition at testNow, and the good tokens they derive from.
// The fuzz targets are seeded with every row.
func hostileTokens(t testing.TB) (hosts HostTable, good, goodSession string, cases []hostileCase) {
	hosts, err := PartitionHosts(PartitionAWS)
	if err != nil {
		t.Fatal(err)
	}
	ep := hosts["sts.us-east-1.amazonaws.com"]
	good = mintAt(t, ep, "cluster-a", testNow, testCreds)
	g := decoded(t, good)
	with := func(f func(*Token)) string { c := g; f(&c); return must(t, c) }
	gs := decoded(t, mintAt(t, ep, "cluster-a", testNow, aws.Credentials{AccessKeyID: "ASIAEXAMPLE000000000", SecretAccessKey: "s", SessionToken: "FwoGZXIvYXdzEXAMPLE"}))
	withSession := func(f func(*Token)) string { c := gs; f(&c); return must(t, c) }
	replaceAuth := func(old, new string) string {
		return with(func(c *Token) { c.Authorization = strings.Replace(c.Authorization, old, new, 1) })
	}
	goodPayload := strings.TrimPrefix(good, TokenPrefix)
	rawJSON, _ := base64.RawURLEncoding.DecodeString(goodPayload)

	cases = []hostileCase{
		{"empty", "", "bad_prefix"},
		{"no prefix", goodPayload, "bad_prefix"},
		{"wrong prefix", "cortex-aws-v3." + goodPayload, "bad_prefix"},
		{"retired v1 prefix", "cortex-aws-v1." + goodPayload, "old_token_version"},
		{"k8s-aws prefix", "k8s-aws-v1." + goodPayload, "bad_prefix"},
		{"oversize", TokenPrefix + strings.Repeat("A", MaxTokenSize), "token_too_large"},
		{"padded base64", good + "==", "bad_encoding"},
		{"std base64 alphabet", TokenPrefix + base64.RawStdEncoding.EncodeToString(append(rawJSON, []byte("  ??>>")...)), "bad_encoding"},
		{"whitespace in base64", TokenPrefix + goodPayload[:10] + " " + goodPayload[10:], "bad_encoding"},
		{"empty payload", TokenPrefix, "bad_encoding"},
		{"not json", encodeRaw("hello"), "bad_json"},
		{"json array", encodeRaw(`["a"]`), "bad_json"},
		{"unknown key", encodeRaw(strings.TrimSuffix(string(rawJSON), "}") + `,"extra":"x"}`), "bad_json"},
		{"duplicate key", encodeRaw(strings.TrimSuffix(string(rawJSON), "}") + `,"host":"sts.amazonaws.com"}`), "bad_json"},
		{"missing key", encodeRaw(`{"host":"sts.amazonaws.com","date":"20261122T120000Z"}`), "bad_json"},
		{"missing audience (a v1 payload)", encodeRaw(`{"host":"sts.us-east-1.amazonaws.com","date":"20261122T120000Z","authorization":"` + g.Authorization + `"}`), "bad_json"},
		{"empty audience", with(func(c *Token) { c.Audience = "" }), "bad_json"},
		{"audience of another server", with(func(c *Token) { c.Audience = "https://relay.example.net:443" }), "wrong_audience"},
		{"audience without explicit port", with(func(c *Token) { c.Audience = "https://operator.example.com" }), "wrong_audience"},
		{"audience upper case", with(func(c *Token) { c.Audience = "https://OPERATOR.example.com:443" }), "wrong_audience"},
		{"audience other scheme", with(func(c *Token) { c.Audience = "http://operator.example.com:443" }), "wrong_audience"},
		{"audience with path", with(func(c *Token) { c.Audience = testAudience + "/v1" }), "wrong_audience"},
		{"audience with userinfo", with(func(c *Token) { c.Audience = "https://x@operator.example.com:443" }), "wrong_audience"},
		{"audience trailing dot", with(func(c *Token) { c.Audience = "https://operator.example.com.:443" }), "wrong_audience"},
		{"audience with CRLF", with(func(c *Token) { c.Audience = testAudience + "\r\nX-Evil: 1" }), "wrong_audience"},
		{"signed headers without audience", replaceAuth(";x-cortex-audience", ""), "bad_signed_headers"},
		{"session token with control character", withSession(func(c *Token) { c.SecurityToken = "FwoGZXIv\x01YXdz" }), "bad_security_token"},
		{"session token with CRLF", withSession(func(c *Token) { c.SecurityToken = "FwoGZXIv\r\nX-Evil: 1" }), "bad_security_token"},
		{"session token with space", withSession(func(c *Token) { c.SecurityToken = "FwoG ZXIv" }), "bad_security_token"},
		{"session token with DEL", withSession(func(c *Token) { c.SecurityToken = "FwoG\x7fZXIv" }), "bad_security_token"},
		{"session token non-ASCII", withSession(func(c *Token) { c.SecurityToken = "FwoGéZXIv" }), "bad_security_token"},
		{"session token oversize", withSession(func(c *Token) { c.SecurityToken = strings.Repeat("A", 8<<10+1) }), "bad_security_token"},
		{"non-string value", encodeRaw(`{"host":"sts.amazonaws.com","date":1,"authorization":"x"}`), "bad_json"},
		{"trailing data", encodeRaw(string(rawJSON) + `{}`), "bad_json"},
		{"empty security token", encodeRaw(strings.TrimSuffix(string(rawJSON), "}") + `,"security_token":""}`), "bad_json"},
		{"host suffix", with(func(c *Token) { c.Host = "sts.us-east-1.amazonaws.com.evil" }), "host_not_allowed"},
		{"host userinfo", with(func(c *Token) { c.Host = "user@sts.us-east-1.amazonaws.com" }), "host_not_allowed"},
		{"host port", with(func(c *Token) { c.Host = "sts.us-east-1.amazonaws.com:443" }), "host_not_allowed"},
		{"host ip", with(func(c *Token) { c.Host = "52.94.0.1" }), "host_not_allowed"},
		{"host metadata ip", with(func(c *Token) { c.Host = "169.254.169.254" }), "host_not_allowed"},
		{"host trailing dot", with(func(c *Token) { c.Host = "sts.us-east-1.amazonaws.com." }), "host_not_allowed"},
		{"host upper case", with(func(c *Token) { c.Host = "STS.us-east-1.amazonaws.com" }), "host_not_allowed"},
		{"host unicode dot", with(func(c *Token) { c.Host = "sts.us-east-1\u3002amazonaws.com" }), "host_not_allowed"},
		{"host fake region", with(func(c *Token) { c.Host = "sts.us-east-9.amazonaws.com" }), "host_not_allowed"},
		{"host other partition", with(func(c *Token) { c.Host = "sts.cn-north-1.amazonaws.com.cn" }), "host_not_allowed"},
		{"host with scheme", with(func(c *Token) { c.Host = "http://sts.us-east-1.amazonaws.com" }), "host_not_allowed"},
		{"host with path", with(func(c *Token) { c.Host = "sts.us-east-1.amazonaws.com/x" }), "host_not_allowed"},
		{"bad date format", with(func(c *Token) { c.Date = "2026-11-22T12:00:00Z" }), "bad_date"},
		{"wrong algorithm", replaceAuth("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), "bad_algorithm"},
		{"lower-case algorithm", replaceAuth("AWS4-HMAC-SHA256", "aws4-hmac-sha256"), "bad_algorithm"},
		{"scope service", replaceAuth("/sts/aws4_request", "/iam/aws4_request"), "bad_scope"},
		{"scope region", replaceAuth("/us-east-1/", "/us-west-2/"), "bad_scope"},
		{"scope date", replaceAuth("/20261122/", "/20261121/"), "bad_scope"},
		{"scope terminator", replaceAuth("aws4_request", "aws4_reqest"), "bad_authorization"},
		{"signed headers without binding", replaceAuth(";x-cortex-cluster-id", ""), "bad_signed_headers"},
		{"signed headers without host", replaceAuth(";host", ""), "bad_signed_headers"},
		{"signed headers extra", replaceAuth("x-amz-date;", "x-amz-date;x-extra;"), "bad_signed_headers"},
		{"signed headers session without token", replaceAuth("x-amz-date;", "x-amz-date;x-amz-security-token;"), "bad_signed_headers"},
		{"session token not signed", with(func(c *Token) { c.SecurityToken = "FwoGZXIvYXdzEXAMPLE" }), "bad_signed_headers"},
		{"short signature", with(func(c *Token) { c.Authorization = c.Authorization[:len(c.Authorization)-1] }), "bad_authorization"},
		{"upper-case signature", with(func(c *Token) {
			i := strings.LastIndex(c.Authorization, "=")
			c.Authorization = c.Authorization[:i+1] + strings.ToUpper(c.Authorization[i+1:])
		}), "bad_authorization"},
		{"extra authorization field", replaceAuth(", Signature=", ", Foo=bar, Signature="), "bad_authorization"},
		{"too old", mintAt(t, ep, "cluster-a", testNow.Add(-MaxTokenAge-time.Second), testCreds), "token_expired"},
		{"from the future", mintAt(t, ep, "cluster-a", testNow.Add(MaxClockSkew+time.Second), testCreds), "token_from_future"},
	}
	return hosts, good, must(t, gs), cases
}

func TestPrecheckRejectsHostileTokens(t *testing.T) {
	hosts, good, goodSession, cases := hostileTokens(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := &failTransport{}
			v, err := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "cluster-a", HTTPClient: &http.Client{Transport: ft},
				Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tc.token)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if Code(err) != tc.code {
				t.Fatalf("code = %q (%v), want %q", Code(err), err, tc.code)
			}
			if ft.calls.Load() != 0 || v.STSCalls() != 0 {
				t.Fatalf("a pre-check failure reached the network")
			}
			if strings.Contains(err.Error(), "Signature") || (len(tc.token) > 40 && strings.Contains(err.Error(), tc.token[14:40])) {
				t.Fatalf("error leaks token material: %v", err)
			}
		})
	}
	// The untouched token passes the pre-checks (so each row above fails for its own reason).
	v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "cluster-a", Now: func() time.Time { return testNow }})
	if _, _, err := v.precheck(good, testNow); err != nil {
		t.Fatalf("good token fails precheck: %v", err)
	}
	if _, _, err := v.precheck(goodSession, testNow); err != nil {
		t.Fatalf("good session token fails precheck: %v", err)
	}
}

const stsOK = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/alice</Arn>
    <UserId>AIDAEXAMPLEUSERID</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`

func stsAnswer(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// A fake STS is the one way to make STS misbehave; these rows are failures real STS (or moto)
// cannot be made to produce on demand.
func TestVerifyHandlesSTSAnswers(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		class   error
		arn     string
	}{
		{"ok xml", stsAnswer(200, "text/xml", stsOK), nil, "arn:aws:iam::123456789012:user/alice"},
		{"ok xml declaration", stsAnswer(200, "text/xml", `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+stsOK), nil, "arn:aws:iam::123456789012:user/alice"},
		{"ok json", stsAnswer(200, "application/json", `{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"123456789012","Arn":"arn:aws:iam::123456789012:user/alice","UserId":"AIDAEXAMPLE"},"ResponseMetadata":{"RequestId":"x"}}}`), nil, "arn:aws:iam::123456789012:user/alice"},
		{"403", stsAnswer(403, "text/xml", `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>`), ErrInvalid, ""},
		{"400 expired", stsAnswer(400, "text/xml", `<ErrorResponse><Error><Code>ExpiredToken</Code></Error></ErrorResponse>`), ErrInvalid, ""},
		{"throttling", stsAnswer(400, "text/xml", `<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>`), ErrUnavailable, ""},
		{"429", stsAnswer(429, "", ""), ErrUnavailable, ""},
		{"500", stsAnswer(500, "", "oops"), ErrUnavailable, ""},
		{"503", stsAnswer(503, "", ""), ErrUnavailable, ""},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
		}, ErrUnavailable, ""},
		{"html", stsAnswer(200, "text/html", "<html><body>hi</body></html>"), ErrUnavailable, ""},
		{"html as xml", stsAnswer(200, "text/xml", "<html><body>hi</body></html>"), ErrUnavailable, ""},
		{"leading junk", stsAnswer(200, "text/xml", "junk"+stsOK), ErrUnavailable, ""},
		{"two documents", stsAnswer(200, "text/xml", stsOK+stsOK), ErrUnavailable, ""},
		{"duplicate arn", stsAnswer(200, "text/xml", strings.Replace(stsOK, "<UserId>", "<Arn>arn:aws:iam::123456789012:user/mallory</Arn><UserId>", 1)), ErrUnavailable, ""},
		{"10 MiB", stsAnswer(200, "text/xml", stsOK+strings.Repeat(" ", 10<<20)), ErrUnavailable, ""},
		{"account not 12 digits", stsAnswer(200, "text/xml", strings.Replace(stsOK, "<Account>123456789012", "<Account>12345", 1)), ErrUnavailable, ""},
		{"account disagrees with arn", stsAnswer(200, "text/xml", strings.Replace(stsOK, "<Account>123456789012", "<Account>999999999999", 1)), ErrUnavailable, ""},
		{"other partition", stsAnswer(200, "text/xml", strings.Replace(stsOK, "arn:aws:iam", "arn:aws-cn:iam", 1)), ErrInvalid, ""},
		{"slow drip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(200)
			for i := 0; i < 100; i++ {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}, ErrUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got http.Header
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = r.Header.Clone()
				mu.Unlock()
				tc.handler(w, r)
			}))
			defer srv.Close()
			hosts, err := TestEndpointHosts(srv.URL, "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			client := NewSTSClient()
			client.Timeout = 500 * time.Millisecond // the slow drip must hit the overall timeout
			v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "cluster-a", HTTPClient: client})
			ep := hosts[strings.TrimPrefix(srv.URL, "http://")]
			id, err := v.Verify(context.Background(), mintAt(t, ep, "cluster-a", time.Now(), testCreds))
			if tc.class == nil {
				if err != nil || id.ARN != tc.arn {
					t.Fatalf("got %+v, %v; want %s", id, err, tc.arn)
				}
			} else if !errors.Is(err, tc.class) {
				t.Fatalf("err = %v, want %v", err, tc.class)
			}
			mu.Lock()
			defer mu.Unlock()
			if got.Get(ClusterIDHeader) != "cluster-a" {
				t.Fatalf("rebuilt request carries cluster id %q", got.Get(ClusterIDHeader))
			}
		})
	}
}

// The operator sends its own cluster id, whatever the token was minted for; a token for cluster B
// presented to cluster A makes a request whose signature cannot match (checked for real against
// moto in moto_test.go). Failures are never cached.
func TestVerifyNeverCachesFailures(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	hosts, _ := TestEndpointHosts(srv.URL, "")
	now := time.Now()
	v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "c", Now: func() time.Time { return now }})
	tok := mintAt(t, hosts[strings.TrimPrefix(srv.URL, "http://")], "c", now, testCreds)
	for i := 0; i < 3; i++ {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		// Within STSBackoff, no token that is not cached reaches STS (a forged one, or this one).
		other := mintAt(t, hosts[strings.TrimPrefix(srv.URL, "http://")], "c", now, aws.Credentials{AccessKeyID: "AKIDOTHEREXAMPLE0000", SecretAccessKey: "x"})
		if _, err := v.Verify(context.Background(), other); Code(err) != "sts_backoff" {
			t.Fatalf("during the backoff: err = %v, want sts_backoff", err)
		}
		now = now.Add(STSBackoff)
	}
	if calls.Load() != 3 {
		t.Fatalf("STS calls = %d, want 3 (an outage must never be cached, and each backoff ends)", calls.Load())
	}
}

func TestConcurrentIdenticalTokensMakeOneSTSCall(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
		stsAnswer(200, "text/xml", stsOK)(w, r)
	}))
	defer srv.Close()
	hosts, _ := TestEndpointHosts(srv.URL, "")
	v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "c"})
	tok := mintAt(t, hosts[strings.TrimPrefix(srv.URL, "http://")], "c", time.Now(), testCreds)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	started := make(chan struct{}, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		}()
	}
	for i := 0; i < 100; i++ {
		<-started
	}
	// Let every goroutine reach the singleflight before STS answers.
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("STS calls = %d, want exactly 1", calls.Load())
	}
	// And later requests are served from the cache.
	if _, err := v.Verify(context.Background(), tok); err != nil || calls.Load() != 1 {
		t.Fatalf("cached verify: err=%v calls=%d", err, calls.Load())
	}
}

func TestCacheExpiresWithToken(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		stsAnswer(200, "text/xml", stsOK)(w, r)
	}))
	defer srv.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	hosts, _ := TestEndpointHosts(srv.URL, "")
	v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "c", Now: clock, CacheTTL: time.Hour})
	tok := mintAt(t, hosts[strings.TrimPrefix(srv.URL, "http://")], "c", now, testCreds)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	now = now.Add(TokenLifetime + time.Second)
	_, err := v.Verify(context.Background(), tok)
	if Code(err) != "token_expired" {
		t.Fatalf("after expiry: err = %v, want token_expired (the cache must not outlive the token)", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func TestPartitionHosts(t *testing.T) {
	for _, tc := range []struct{ partition, host, region string }{
		{PartitionAWS, "sts.amazonaws.com", "us-east-1"},
		{PartitionAWS, "sts.eu-west-1.amazonaws.com", "eu-west-1"},
		{PartitionAWS, "sts-fips.us-west-2.amazonaws.com", "us-west-2"},
		{PartitionChina, "sts.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
		{PartitionGov, "sts.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
		{PartitionGov, "sts-fips.us-gov-east-1.amazonaws.com", "us-gov-east-1"},
	} {
		tab, err := PartitionHosts(tc.partition)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := tab[tc.host]; !ok || e.Region != tc.region || e.Scheme != "https" {
			t.Errorf("%s: %s -> %+v, %v", tc.partition, tc.host, e, ok)
		}
	}
	gov, _ := PartitionHosts(PartitionGov)
	if _, ok := gov["sts.amazonaws.com"]; ok {
		t.Error("the global host belongs to the aws partition only")
	}
	if _, err := PartitionHosts("aws-iso"); err == nil {
		t.Error("unknown partition accepted")
	}
	for _, bad := range []string{"ftp://x", "http://user@h:1", "http://h:1/path", "h:1", "http://h?q=1"} {
		if _, err := TestEndpointHosts(bad, ""); err == nil {
			t.Errorf("test endpoint %q accepted", bad)
		}
	}
	_ = fmt.Sprint()
}
