// Package tlsutil makes and loads the cluster's own CA and server certificate, and builds the TLS
// configurations of the operator, the gateway and the clients (TLS 1.2+, verified, never skipped).
package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// File names inside a TLS directory.
const (
	CAFile     = "ca.pem"
	caKeyFile  = "ca-key.pem"
	certFile   = "server.pem"
	keyFile    = "server-key.pem"
	caValidity = 10 * 365 * 24 * time.Hour
	// Server certificates are short-lived and renewed on start when within renewBefore of expiry.
	certValidity = 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
)

// Bundle is a CA and a server certificate signed by it.
type Bundle struct {
	CA     *x509.Certificate
	CAPEM  []byte
	Server tls.Certificate // chain: leaf, CA
}

// EnsureSelfManaged loads the CA and server certificate in dir, creating the CA if absent and the
// server certificate if absent, near expiry, or lacking one of the names. Keys are 0600 files.
// The certificate's CN is localhost; its SANs are localhost, 127.0.0.1, ::1 and names.
func EnsureSelfManaged(dir string, names []string) (*Bundle, error) {
	if err := fsutil.EnsurePrivateDir(dir); err != nil {
		return nil, err
	}
	ca, caKey, caPEM, err := loadOrCreateCA(dir)
	if err != nil {
		return nil, err
	}
	dns, ips := splitNames(append([]string{"localhost", "127.0.0.1", "::1"}, names...))
	if cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile)); err == nil {
		leaf, perr := x509.ParseCertificate(cert.Certificate[0])
		if perr == nil && leaf.CheckSignatureFrom(ca) == nil && time.Until(leaf.NotAfter) > renewBefore && covers(leaf, dns, ips) {
			cert.Certificate = append(cert.Certificate[:1], ca.Raw)
			return &Bundle{CA: ca, CAPEM: caPEM, Server: cert}, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"cortex"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, err
	}
	return &Bundle{CA: ca, CAPEM: caPEM, Server: tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}}, nil
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	caPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile)
	if pair, err := tls.LoadX509KeyPair(caPath, keyPath); err == nil {
		ca, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, nil, err
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
		}
		caPEM, err := os.ReadFile(caPath)
		return ca, key, caPEM, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("load cluster CA from %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cortex cluster CA", Organization: []string{"cortex"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := fsutil.WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return nil, nil, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The CA certificate is public, but it lives in the private state dir like everything else.
	if err := fsutil.WriteFileAtomic(caPath, caPEM); err != nil {
		return nil, nil, nil, err
	}
	return ca, key, caPEM, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func splitNames(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if !slices.Contains(dns, strings.ToLower(n)) {
			dns = append(dns, strings.ToLower(n))
		}
	}
	return dns, ips
}

func covers(leaf *x509.Certificate, dns []string, ips []net.IP) bool {
	for _, d := range dns {
		if !slices.Contains(leaf.DNSNames, d) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// LoadServer loads a user's own certificate and key (PEM files; the cert file may hold the chain).
func LoadServer(certPath, keyPath string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load TLS certificate %s: %w", certPath, err)
	}
	return c, nil
}

// ServerConfig is the TLS configuration of the operator and the gateway: TLS 1.2 or newer.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}

// ClientConfig verifies servers against caPEM, or the system roots when caPEM is empty.
func ClientConfig(caPEM []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(bytes.TrimSpace(caPEM)) == 0 {
		return cfg, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the environment's CA certificate is not valid PEM")
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Fingerprint is the SHA-256 of a certificate's DER, as "SHA256:" and colon-separated hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return "SHA256:" + strings.Join(parts, ":")
}

// NormalizeFingerprint accepts "SHA256:AA:BB…", "sha256:aabb…" or bare hex and returns Fingerprint's form.
func NormalizeFingerprint(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	s = strings.ToUpper(strings.ReplaceAll(s, ":", ""))
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", errors.New("a fingerprint is 32 bytes of hex (SHA256:AA:BB:...)")
	}
	parts := make([]string, 0, 32)
	for i := 0; i < len(s); i += 2 {
		parts = append(parts, s[i:i+2])
	}
	return "SHA256:" + strings.Join(parts, ":"), nil
}

// ParseCertPEM parses the first certificate in a PEM blob.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate found")
	}
	return x509.ParseCertificate(block.Bytes)
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func parseLeaf(c tls.Certificate) (*x509.Certificate, error) {
	return x509.ParseCertificate(c.Certificate[0])
}
