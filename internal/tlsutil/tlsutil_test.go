package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureSelfManagedCreatesReusesAndExtends(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	b1, err := EnsureSelfManaged(dir, []string{"operator.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := b1.Server.Leaf
	if leaf == nil {
		leaf, _ = parseLeaf(b1.Server)
	}
	if leaf.Subject.CommonName != "localhost" || !contains(leaf.DNSNames, "localhost") || !contains(leaf.DNSNames, "operator.example.com") {
		t.Fatalf("leaf names: CN=%s DNS=%v", leaf.Subject.CommonName, leaf.DNSNames)
	}
	if len(b1.Server.Certificate) != 2 {
		t.Fatalf("the server must send its chain (leaf + CA), got %d certs", len(b1.Server.Certificate))
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	b2, _ := EnsureSelfManaged(dir, []string{"operator.example.com"})
	if string(b2.Server.Certificate[0]) != string(b1.Server.Certificate[0]) || Fingerprint(b2.CA) != Fingerprint(b1.CA) {
		t.Fatal("an unchanged configuration re-issued the certificate or the CA")
	}
	b3, _ := EnsureSelfManaged(dir, []string{"10.1.2.3"})
	if string(b3.Server.Certificate[0]) == string(b1.Server.Certificate[0]) || Fingerprint(b3.CA) != Fingerprint(b1.CA) {
		t.Fatal("a new name must re-issue the server certificate under the same CA")
	}
}

func TestClientVerifiesAgainstTheClusterCA(t *testing.T) {
	b, err := EnsureSelfManaged(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = ServerConfig(b.Server)
	srv.StartTLS()
	defer srv.Close()
	good, _ := ClientConfig(b.CAPEM)
	if resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: good}}).Get(srv.URL); err != nil {
		t.Fatalf("pinned CA: %v", err)
	} else {
		resp.Body.Close()
	}
	other, _ := EnsureSelfManaged(t.TempDir(), nil)
	bad, _ := ClientConfig(other.CAPEM)
	if _, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: bad}}).Get(srv.URL); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
	if _, err := ClientConfig([]byte("not pem")); err == nil {
		t.Fatal("invalid CA PEM accepted")
	}

	// Discovery reads the CA the server presents, without skipping verification.
	d, err := DiscoverCA(context.Background(), strings.TrimPrefix(srv.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	if d.TrustedBySystem || Fingerprint(d.CA) != Fingerprint(b.CA) {
		t.Fatalf("discovered %+v", d)
	}
	for _, in := range []string{strings.ToLower(Fingerprint(b.CA)), strings.ReplaceAll(strings.TrimPrefix(Fingerprint(b.CA), "SHA256:"), ":", "")} {
		if fp, err := NormalizeFingerprint(in); err != nil || fp != Fingerprint(b.CA) {
			t.Fatalf("normalize %q: %s %v", in, fp, err)
		}
	}
	if _, err := NormalizeFingerprint("SHA256:AB"); err == nil {
		t.Fatal("short fingerprint accepted")
	}
}

func TestDiscoverRefusesAChainThatDoesNotVerify(t *testing.T) {
	// A server whose leaf is for another name than the one dialled.
	b, _ := EnsureSelfManaged(t.TempDir(), nil)
	// 127.0.0.2 is loopback too (Linux routes all of 127/8), but not in the certificate.
	ln, err := tls.Listen("tcp", "127.0.0.2:0", ServerConfig(b.Server))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	if _, err := DiscoverCA(context.Background(), ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("err = %v, want a chain that does not verify for the host", err)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// When the "system" (here: the roots seam) trusts the chain, discovery still reports the root
// and the chain, so that an explicit pin can be checked against it and win.
func TestDiscoverReportsTheSystemTrustedChainForPinning(t *testing.T) {
	b, _ := EnsureSelfManaged(t.TempDir(), nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = ServerConfig(b.Server)
	srv.StartTLS()
	defer srv.Close()
	system := x509.NewCertPool()
	system.AddCert(b.CA)
	d, err := discoverCA(context.Background(), strings.TrimPrefix(srv.URL, "https://"), system)
	if err != nil {
		t.Fatal(err)
	}
	if !d.TrustedBySystem || d.CA == nil || Fingerprint(d.CA) != Fingerprint(b.CA) || d.Seen() != Fingerprint(b.CA) {
		t.Fatalf("discovered %+v", d)
	}
	if err := d.Pin(b.CA); err != nil {
		t.Fatalf("pin the right CA: %v", err)
	}
	if ca, err := d.PinFingerprint(Fingerprint(b.CA)); err != nil || !ca.Equal(b.CA) {
		t.Fatalf("pin the right fingerprint: %v", err)
	}
	other, _ := EnsureSelfManaged(t.TempDir(), nil)
	if err := d.Pin(other.CA); !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), Fingerprint(b.CA)) {
		t.Fatalf("pin another CA: err = %v", err)
	}
	if _, err := d.PinFingerprint(Fingerprint(other.CA)); !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), Fingerprint(b.CA)) {
		t.Fatalf("pin another fingerprint: err = %v", err)
	}
}
