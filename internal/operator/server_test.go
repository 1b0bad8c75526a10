package operator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// closedPort returns a loopback URL nothing listens on: a real "STS is down".
func closedPort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func httpsClient(t testing.TB, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

type answer struct {
	status int
	code   string
	body   map[string]any
	header http.Header
}

func call(t testing.TB, c *http.Client, method, url, token string, body io.Reader) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	_ = json.NewDecoder(resp.Body).Decode(&a.body)
	if e, ok := a.body["error"].(map[string]any); ok {
		a.code, _ = e["code"].(string)
	}
	return a
}

func mintFor(t testing.TB, op *opserver.Operator, sts string) string {
	t.Helper()
	hosts, _ := identity.TestEndpointHosts(sts, "")
	var ep identity.STSEndpoint
	for _, e := range hosts {
		ep = e
	}
	tok, err := identity.Mint(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE00000000", SecretAccessKey: "s"},
		identity.MintInput{Endpoint: ep, ClusterID: op.Cluster().ID, Audience: op.URL, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOperatorHTTPBehaviour(t *testing.T) {
	sts := closedPort(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(dir, "state"), STSTestEndpoint: sts, AccountID: "123456789012", LocalTokenFile: tokenFile})
	c := httpsClient(t, op.CAFile)

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		pem, _ := os.ReadFile(op.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
		if _, err := old.Get(op.URL + "/healthz"); err == nil {
			t.Fatal("TLS 1.1 handshake succeeded")
		}
	})
	t.Run("healthz needs no auth and reveals nothing", func(t *testing.T) {
		a := call(t, c, "GET", op.URL+"/healthz", "", nil)
		if a.status != 200 || len(a.body) != 1 || a.body["status"] != "ok" {
			t.Fatalf("healthz = %d %v", a.status, a.body)
		}
	})
	t.Run("auth params advertise the test endpoint", func(t *testing.T) {
		a := call(t, c, "GET", op.URL+"/v1/auth", "", nil)
		if a.body["cluster_id"] != op.Cluster().ID || a.body["sts_host"] != strings.TrimPrefix(sts, "http://") || a.body["sts_scheme"] != "http" {
			t.Fatalf("/v1/auth = %v", a.body)
		}
		if !strings.Contains(op.Log.String(), "STS TEST ENDPOINT MODE") {
			t.Fatal("test endpoint mode is not logged as a warning")
		}
	})
	t.Run("no token is 401 JSON", func(t *testing.T) {
		a := call(t, c, "GET", op.URL+"/v1/info", "", nil)
		if a.status != 401 || a.code != operator.CodeUnauthenticated || a.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("got %d %q", a.status, a.code)
		}
	})
	t.Run("local admin credential", func(t *testing.T) {
		fi, err := os.Stat(tokenFile)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file: %v %v", fi, err)
		}
		secret, _ := os.ReadFile(tokenFile)
		a := call(t, c, "GET", op.URL+"/v1/info", operator.LocalTokenPrefix+strings.TrimSpace(string(secret)), nil)
		caller, _ := a.body["caller"].(map[string]any)
		cluster, _ := a.body["cluster"].(map[string]any)
		if a.status != 200 || caller["role"] != "admin" || caller["method"] != "local" || cluster["sts_test_endpoint"] != sts {
			t.Fatalf("got %d %v", a.status, a.body)
		}
		if a := call(t, c, "GET", op.URL+"/v1/info", operator.LocalTokenPrefix+"wrong", nil); a.status != 401 {
			t.Fatalf("wrong local token: %d", a.status)
		}
	})
	t.Run("STS down is 503, never a pass, not held against the client", func(t *testing.T) {
		for i := 0; i < 30; i++ {
			a := call(t, c, "GET", op.URL+"/v1/info", mintFor(t, op, sts), nil)
			if a.status != 503 || a.code != operator.CodeIDPUnavailable {
				t.Fatalf("request %d: got %d %q", i, a.status, a.code)
			}
		}
	})
	t.Run("unknown path is a JSON 404", func(t *testing.T) {
		if a := call(t, c, "GET", op.URL+"/nope", "", nil); a.status != 404 || a.code != operator.CodeNotFound {
			t.Fatalf("got %d %q", a.status, a.code)
		}
	})
	t.Run("access validation", func(t *testing.T) {
		secret, _ := os.ReadFile(tokenFile)
		tok := operator.LocalTokenPrefix + strings.TrimSpace(string(secret))
		for _, body := range []string{`{"principal":"arn:aws:iam::123456789012:user/x","role":"owner"}`,
			`{"principal":"arn:aws:iam::123456789012:user/*","role":"read"}`, `{"principal":"x","role":"read","extra":1}`, `not json`} {
			if a := call(t, c, "PUT", op.URL+"/v1/access", tok, strings.NewReader(body)); a.status != 400 {
				t.Fatalf("%s: got %d", body, a.status)
			}
		}
		if a := call(t, c, "DELETE", op.URL+"/v1/access?principal=arn:aws:iam::123456789012:user/nobody", tok, nil); a.status != 404 {
			t.Fatalf("revoke of a missing rule: %d", a.status)
		}
		if a := call(t, c, "PUT", op.URL+"/v1/access", tok, strings.NewReader(strings.Repeat(" ", 2<<20))); a.status != 413 {
			t.Fatalf("2 MiB body: %d", a.status)
		}
	})
	t.Run("repeated bad tokens are rate limited per client", func(t *testing.T) {
		var last answer
		for i := 0; i < 40; i++ {
			last = call(t, c, "GET", op.URL+"/v1/info", identity.TokenPrefix+"garbage", nil)
			if last.status == 429 {
				break
			}
		}
		if last.status != 429 || last.code != operator.CodeRateLimited || last.header.Get("Retry-After") == "" {
			t.Fatalf("after 40 bad tokens: %d %q", last.status, last.code)
		}
	})
	t.Run("audit log never holds the token", func(t *testing.T) {
		secret, _ := os.ReadFile(tokenFile)
		if strings.Contains(op.Log.String(), strings.TrimSpace(string(secret))) || strings.Contains(op.Log.String(), "garbage") {
			t.Fatal("a credential appears in the log")
		}
		if !strings.Contains(op.Log.String(), `"reason":"bad_encoding"`) {
			t.Fatal("denials are not logged with their reason")
		}
	})
}

func TestLocalTokenFileMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	if err := os.WriteFile(f, []byte(strings.Repeat("a", 43)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := operator.New(operator.Config{StateDir: filepath.Join(dir, "s"), LocalTokenFile: f})
	if err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigValidationNamesTheField(t *testing.T) {
	dir := t.TempDir()
	for field, cfg := range map[string]operator.Config{
		"account_id":        {AccountID: "123"},
		"auth_mode":         {AuthMode: "everyone"},
		"account_role":      {AccountRole: "root"},
		"partition":         {Partition: "aws-iso"},
		"region":            {Region: "mars-1"},
		"sts_test_endpoint": {STSTestEndpoint: "ftp://x"},
		"creator_arn":       {CreatorARN: "123456789012"},
		"listen":            {Listen: "8888"},
		"cluster_id":        {ClusterID: "UPPER"},
		"tls_cert_file":     {TLSCertFile: "x.pem"},
	} {
		cfg.StateDir = filepath.Join(dir, field)
		if _, err := operator.New(cfg); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
}
