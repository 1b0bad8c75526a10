package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Discovery is what a first connection to an operator learned about its certificate.
type Discovery struct {
	// TrustedBySystem: the chain verified against the system roots; no CA needs pinning.
	TrustedBySystem bool
	// CA is the self-signed root the server sent (when not trusted by the system).
	CA *x509.Certificate
}

// DiscoverCA connects to addr (host:port) and returns the root CA the server presents, so that
// a user can confirm its fingerprint (trust on first use). It does so without ever disabling
// verification: the handshake verifies against the system roots, and on an unknown authority the
// certificates the server sent are read from the verification error. The chain is checked to be
// consistent (leaf signed by the CA, valid for the host) before it is returned.
func DiscoverCA(ctx context.Context, addr string) (*Discovery, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return &Discovery{TrustedBySystem: true}, nil
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || len(verr.UnverifiedCertificates) == 0 {
		return nil, fmt.Errorf("TLS connection to %s failed: %w", addr, err)
	}
	chain := verr.UnverifiedCertificates
	root := chain[len(chain)-1]
	if !root.IsCA || root.CheckSignatureFrom(root) != nil {
		return nil, fmt.Errorf("%s did not send a self-signed CA with its certificate; ask the cluster admin for the CA file (--ca-file)", addr)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range chain[1 : len(chain)-1] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: host}); err != nil {
		return nil, fmt.Errorf("the certificate %s sent does not verify even against its own CA: %w", addr, err)
	}
	return &Discovery{CA: root}, nil
}
