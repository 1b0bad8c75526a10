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
