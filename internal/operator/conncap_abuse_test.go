package operator_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// Found by the red team: with the defaults (128 per client, 1024 in all), eight client addresses
// without any credential held every connection slot (an unauthenticated keep-alive connection
// kept its slot with one GET /healthz per idle timeout), and the cluster admin was refused at
// accept. Now a request without a credential closes its connection, and at the total cap the
// oldest unauthenticated connection is evicted for a new one: the admin gets in while eight
// addresses hold 1024 open connections. (127.0.0.2-9 stand in for eight hosts.)
func TestUnauthenticatedConnectionsCannotLockOutTheAdmin(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(dir, "state"), STSTestEndpoint: closedPort(t),
		AccountID: "123456789012", LocalTokenFile: tokenFile})
	u, _ := url.Parse(op.URL)
	pem, _ := os.ReadFile(op.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tcfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for a := 2; a <= 9; a++ {
		for i := 0; i < 128; i++ {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(a))}, Timeout: 5 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", u.Host, tcfg)
			if err != nil {
				t.Fatalf("attacker 127.0.0.%d conn %d: %v", a, i, err)
			}
			// The connection is open, handshaken and silent: what an attacker can still hold
			// (until the header timeout) now that a request without a credential closes it.
			held = append(held, c)
		}
	}
	secret, _ := os.ReadFile(tokenFile)
	admin := operator.LocalTokenPrefix + strings.TrimSpace(string(secret))
	c := httpsClient(t, op.CAFile)
	req, _ := http.NewRequest("GET", op.URL+"/v1/info", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("the admin (127.0.0.1, valid credential) cannot reach the operator while 8 unauthenticated addresses hold %d idle connections: %v", len(held), err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin: %d", resp.StatusCode)
	}
}
