package call

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key}
}

func (c *ca) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c *ca) serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// `cortex call` verifies an API endpoint as the operator's status says: with endpoint_tls public
// against the system roots (a test CA installed as such through the client's seam), so a
// certificate of an unknown CA is refused; without it against the pinned cluster CA.
//
// The operator here is a real HTTPS server on 127.0.0.1 that answers only GET /v1/apis/NAME with
// the wire type (apitypes.APIStatus): what matters is the status's endpoint and endpoint_tls,
// which the operator's own tests cover (TestRemoteGatewayReportsPublicTLS).
func TestCallVerifiesTheEndpointAsTheOperatorSays(t *testing.T) {
	clusterCA, publicCA, unknownCA := newCA(t), newCA(t), newCA(t)
	answer := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }
	gateways := map[string]string{
		"public":  publicCA.serve(t, http.HandlerFunc(answer)).URL,
		"unknown": unknownCA.serve(t, http.HandlerFunc(answer)).URL,
		"cluster": clusterCA.serve(t, http.HandlerFunc(answer)).URL,
	}
	for _, tc := range []struct {
		gateway, endpointTLS, err string
	}{
		{"public", "public", ""},
		{"unknown", "public", "system roots do not verify"},
		{"cluster", "", ""},
		{"public", "", "does not trust"},
		{"cluster", "public", "system roots do not verify"},
	} {
		op := clusterCA.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/apis/echo" {
				http.NotFound(w, r)
				return
			}
			json.NewEncoder(w).Encode(apitypes.APIStatus{Name: "echo", Endpoint: gateways[tc.gateway] + "/echo",
				EndpointTLS: tc.endpointTLS, Auth: apitypes.APIAuth{Type: apitypes.APIAuthNone}})
		}))
		f, out, _ := cmdutil.TestFactory(t.TempDir(), "", false)
		cmd := NewCmdCall(f, func(o *CallOptions) error {
			o.Client = func(context.Context) (*client.Client, *cliconfig.Environment, error) {
				c, err := client.New(client.Options{Endpoint: op.URL, CAPEM: clusterCA.pem(), SystemRoots: x509pool(publicCA)})
				return c, &cliconfig.Environment{Name: "test"}, err
			}
			return callRun(o)
		})
		err := cmdutil.ExecuteTest(cmd, "echo")
		name := tc.gateway + " gateway, endpoint_tls " + tc.endpointTLS
		if tc.err == "" {
			if err != nil || !strings.Contains(out.String(), `{"ok":true}`) {
				t.Errorf("%s: %v, output %q", name, err, out.String())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.err)
		}
	}
}

func x509pool(c *ca) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// Without the test seam, a public endpoint is verified against this machine's system roots:
// the test binary runs itself with SSL_CERT_FILE naming a test CA (Go's system pool on Linux
// reads it) and an empty SSL_CERT_DIR, and `cortex call` goes through to a gateway of that CA and
// is refused by one of another CA. The helper's client has no SystemRoots: the production path.
func TestCallUsesThisMachinesSystemRoots(t *testing.T) {
	if os.Getenv("CORTEX_TEST_CALL_HELPER") != "" {
		return // the helper runs in TestCallHelperProcess
	}
	clusterCA, systemCA, otherCA := newCA(t), newCA(t), newCA(t)
	dir := t.TempDir()
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, systemCA.pem(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	clusterFile := filepath.Join(dir, "cluster.pem")
	if err := os.WriteFile(clusterFile, clusterCA.pem(), 0o600); err != nil {
		t.Fatal(err)
	}
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) })
	for name, tc := range map[string]struct {
		gateway *ca
		ok      bool
	}{"system CA": {systemCA, true}, "other CA": {otherCA, false}} {
		gw := tc.gateway.serve(t, answer)
		op := clusterCA.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(apitypes.APIStatus{Name: "echo", Endpoint: gw.URL + "/echo", EndpointTLS: apitypes.EndpointTLSPublic,
				Auth: apitypes.APIAuth{Type: apitypes.APIAuthNone}})
		}))
		cmd := exec.Command(os.Args[0], "-test.run=^TestCallHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CORTEX_TEST_CALL_HELPER=1", "CORTEX_TEST_OPERATOR="+op.URL, "CORTEX_TEST_CLUSTER_CA="+clusterFile,
			"SSL_CERT_FILE="+roots, "SSL_CERT_DIR="+filepath.Join(dir, "certs"))
		out, err := cmd.CombinedOutput()
		if tc.ok && (err != nil || !strings.Contains(string(out), `{"ok":true}`)) {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
		if !tc.ok && (err == nil || !strings.Contains(string(out), "system roots do not verify")) {
			t.Errorf("%s: %v, want a refusal\n%s", name, err, out)
		}
	}
}

// TestCallHelperProcess is `cortex call echo` in a process of its own (see above).
func TestCallHelperProcess(t *testing.T) {
	if os.Getenv("CORTEX_TEST_CALL_HELPER") == "" {
		t.Skip("runs only as the helper of TestCallUsesThisMachinesSystemRoots")
	}
	pemCA, err := os.ReadFile(os.Getenv("CORTEX_TEST_CLUSTER_CA"))
	if err != nil {
		t.Fatal(err)
	}
	f, out, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	err = cmdutil.ExecuteTest(NewCmdCall(f, func(o *CallOptions) error {
		o.Client = func(context.Context) (*client.Client, *cliconfig.Environment, error) {
			c, err := client.New(client.Options{Endpoint: os.Getenv("CORTEX_TEST_OPERATOR"), CAPEM: pemCA})
			return c, &cliconfig.Environment{Name: "test"}, err
		}
		return callRun(o)
	}), "echo")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(out.String())
}
