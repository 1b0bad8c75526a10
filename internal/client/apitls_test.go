package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
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
)

// testCA is a certificate authority of a test: one stands for the cluster's CA (pinned), one for
// a public CA (installed as the client's "system roots"), one for a CA nobody trusts.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// serve starts a real HTTPS server on 127.0.0.1 whose certificate (for 127.0.0.1) ca signed.
func (ca *testCA) serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// The trust of an API endpoint follows what the operator says of it: the pinned cluster CA by
// default, the system roots (and only them) for a public certificate, and nothing for a value
// the client does not know.
func TestCallAPIVerifiesEachEndpointAsTheOperatorSays(t *testing.T) {
	cluster, public, unknown := newTestCA(t, "cluster"), newTestCA(t, "public"), newTestCA(t, "unknown")
	var hits int
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; io.WriteString(w, "hello") })
	servers := map[string]*httptest.Server{"cluster": cluster.serve(t, ok), "public": public.serve(t, ok), "unknown": unknown.serve(t, ok)}
	c, err := New(Options{Endpoint: "https://operator.example.com", CAPEM: cluster.pem, SystemRoots: public.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		server, endpointTLS string
		err                 string // empty: the call goes through
	}{
		{"public", apitypes.EndpointTLSPublic, ""},
		{"unknown", apitypes.EndpointTLSPublic, "system roots do not verify"},
		// A public endpoint is never checked against the cluster CA, nor a cluster-CA endpoint
		// against the system roots.
		{"cluster", apitypes.EndpointTLSPublic, "system roots do not verify"},
		{"cluster", "", ""},
		{"public", "", "does not trust"},
		{"unknown", "", "does not trust"},
		// Fail closed: a value this client does not know is refused before anything is sent.
		{"public", "none", "unknown to this client"},
		{"public", "PUBLIC", "unknown to this client"},
	} {
		before := hits
		resp, err := c.CallAPI(context.Background(), http.MethodGet, servers[tc.server].URL+"/x", "", nil, APICredentials{Auth: APIAuthNone, EndpointTLS: tc.endpointTLS})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s endpoint with endpoint_tls %q: %v", tc.server, tc.endpointTLS, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello" {
				t.Errorf("%s endpoint with endpoint_tls %q: answer %q", tc.server, tc.endpointTLS, body)
			}
			continue
		}
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s endpoint with endpoint_tls %q: the call went through, want an error with %q", tc.server, tc.endpointTLS, tc.err)
			continue
		}
		if !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s endpoint with endpoint_tls %q: %v, want %q", tc.server, tc.endpointTLS, err, tc.err)
		}
		if hits != before {
			t.Errorf("%s endpoint with endpoint_tls %q: the server was reached", tc.server, tc.endpointTLS)
		}
	}
}
