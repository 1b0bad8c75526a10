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
	// TrustedBySystem: the chain verified against the system roots.
	TrustedBySystem bool
	// CA is the root the chain ends in: the system root that verified it, or else the self-signed
	// root the server sent. It is nil when the system does not trust the chain and the server sent
	// no self-signed root (only an explicit pin, --ca-file, can then be checked).
	CA *x509.Certificate
	// Presented is what the server sent, leaf first; Verified the chain the system roots built.
	Presented []*x509.Certificate
	Verified  []*x509.Certificate
	host      string
}

// DiscoverCA connects to addr (host:port) and returns the root CA the server presents, so that
// a user can confirm its fingerprint (trust on first use) or check it against an explicit pin. It
// does so without ever disabling verification: the handshake verifies against the system roots,
// and on an unknown authority the certificates the server sent are read from the verification
// error. A self-signed root is checked to be consistent (leaf signed by it, valid for the host)
// before it is returned.
func DiscoverCA(ctx context.Context, addr string) (*Discovery, error) {
	return discoverCA(ctx, addr, nil)
}

// discoverCA is DiscoverCA against roots (nil: the system's), the seam of the unit tests.
func discoverCA(ctx context.Context, addr string, roots *x509.CertPool) (*Discovery, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		defer conn.Close()
		st := conn.(*tls.Conn).ConnectionState()
		if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
			return nil, fmt.Errorf("TLS connection to %s: no verified chain", addr)
		}
		chain := st.VerifiedChains[0]
		return &Discovery{TrustedBySystem: true, CA: chain[len(chain)-1], Presented: st.PeerCertificates, Verified: chain, host: host}, nil
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || len(verr.UnverifiedCertificates) == 0 {
		return nil, fmt.Errorf("TLS connection to %s failed: %w", addr, err)
	}
	chain := verr.UnverifiedCertificates
	disc := &Discovery{Presented: chain, host: host}
	root := chain[len(chain)-1]
	if !root.IsCA || root.CheckSignatureFrom(root) != nil {
		return disc, nil
	}
	if err := disc.verify(root); err != nil {
		return nil, fmt.Errorf("the certificate %s sent does not verify even against its own CA: %w", addr, err)
	}
	disc.CA = root
	return disc, nil
}

// verify checks that the server's leaf chains to ca alone (the other certificates it sent and the
// system built serving as intermediates) and is valid for the host dialled.
func (d *Discovery) verify(ca *x509.Certificate) error {
	if len(d.Presented) == 0 {
		return errors.New("the server sent no certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range append(append([]*x509.Certificate{}, d.Presented[1:]...), d.Verified...) {
		if c.IsCA {
			inter.AddCert(c)
		}
	}
	_, err := d.Presented[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: d.host})
	return err
}

// ErrPinMismatch is returned by Pin and PinFingerprint when the server's chain does not lead to the pinned CA.
var ErrPinMismatch = errors.New("the operator's certificate does not chain to the pinned CA")

// Pin checks that the server's certificate chains to ca, whatever the system roots say: an
// explicit pin always wins. The error names the CA fingerprint the server's chain was seen with.
func (d *Discovery) Pin(ca *x509.Certificate) error {
	if err := d.verify(ca); err != nil {
		return fmt.Errorf("%w: pinned %s, seen %s", ErrPinMismatch, Fingerprint(ca), d.Seen())
	}
	return nil
}

// PinFingerprint returns the CA of the server's chain (one it sent, or the system root that
// verified it) whose fingerprint is fp (Fingerprint's form), after checking that the leaf chains
// to it alone; otherwise an error that names the fingerprint seen.
func (d *Discovery) PinFingerprint(fp string) (*x509.Certificate, error) {
	for _, c := range append(append([]*x509.Certificate{}, d.Verified...), d.Presented...) {
		if c.IsCA && Fingerprint(c) == fp && d.verify(c) == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: pinned %s, seen %s", ErrPinMismatch, fp, d.Seen())
}

// Seen is the fingerprint of the chain's root, or, when there is none, of the certificates sent.
func (d *Discovery) Seen() string {
	if d.CA != nil {
		return Fingerprint(d.CA)
	}
	fps := make([]string, 0, len(d.Presented))
	for _, c := range d.Presented {
		fps = append(fps, Fingerprint(c))
	}
	return fmt.Sprintf("no trusted root; certificates sent %v", fps)
}
