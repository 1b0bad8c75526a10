package operator_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// safety bounds how long a test waits for the server to act: a hang is a failure, never a pass.
// It is far longer than any bound under test (the pass condition is the event, not the time).
const safety = 20 * time.Second

// dialTLS opens a verified TLS connection to op from the loopback address src.
func dialTLS(t *testing.T, op *opserver.Operator, src string) (*tls.Conn, error) {
	t.Helper()
	pem, err := os.ReadFile(op.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: safety}
	c, err := tls.DialWithDialer(d, "tcp", strings.TrimPrefix(op.URL, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(safety))
	return c, nil
}

// dribble writes one byte every 20ms until stop is closed or the write fails, and counts them.
func dribble(c net.Conn, stop <-chan struct{}, sent *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := c.Write([]byte("x")); err != nil {
			return
		}
		sent.Add(1)
	}
}

// waitClosed reads from c until the server closes it. A timeout (the safety bound) fails.
func waitClosed(t *testing.T, r io.Reader) {
	t.Helper()
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", safety)
	}
}

// Unauthenticated clients that keep sending a body after their 401 are disconnected: the
// operator answers, closes, and does not read (drain) the rest of the body.
func TestUnauthenticatedDribblersAreDisconnected(t *testing.T) {
	op := opserver.Start(t, operator.Config{STSTestEndpoint: closedPort(t), AccountID: "123456789012"})
	const clients = 50
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialTLS(t, op, "127.0.0.1")
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			// 200 KB: under the 256 KiB net/http would drain to keep the connection alive.
			if _, err := io.WriteString(c, "PUT /v1/access HTTP/1.1\r\nHost: op\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"); err != nil {
				errs <- err.Error()
				return
			}
			stop := make(chan struct{})
			defer close(stop)
			var sent atomic.Int64
			go dribble(c, stop, &sent)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				errs <- "no response: " + err.Error()
				return
			}
			resp.Body.Close()
			if (resp.StatusCode != 401 && resp.StatusCode != 429) || !resp.Close { // Close: the response said Connection: close
				d, _ := httputil.DumpResponse(resp, false)
				errs <- resp.Status + " without Connection: close: " + string(d)
				return
			}
			_, err = io.Copy(io.Discard, br)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- "connection still open after the 401"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// A body, even an authenticated client's, has BodyTimeoutSeconds to arrive.
func TestSlowBodyIsCutOff(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(dir, "state"), LocalTokenFile: tokenFile,
		Connections: operator.ConnLimits{BodyTimeoutSeconds: 1}})
	secret, _ := os.ReadFile(tokenFile)
	c, err := dialTLS(t, op, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const bodyLen = 5000 // 100 s at the dribble's pace
	if _, err := io.WriteString(c, "PUT /v1/access HTTP/1.1\r\nHost: op\r\nAuthorization: Bearer "+operator.LocalTokenPrefix+strings.TrimSpace(string(secret))+
		"\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	var sent atomic.Int64
	go dribble(c, stop, &sent)
	waitClosed(t, c)
	if n := sent.Load(); n >= bodyLen {
		t.Fatalf("the server waited for the whole body (%d bytes)", n)
	}
}

// Headers have HeaderTimeoutSeconds; an idle keep-alive connection IdleTimeoutSeconds.
func TestSlowHeadersAndIdleConnectionsAreClosed(t *testing.T) {
	op := opserver.Start(t, operator.Config{Connections: operator.ConnLimits{HeaderTimeoutSeconds: 1, IdleTimeoutSeconds: 1}})
	t.Run("headers", func(t *testing.T) {
		c, err := dialTLS(t, op, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: op\r\nX-Slow: ")
		stop := make(chan struct{})
		defer close(stop)
		var sent atomic.Int64
		go dribble(c, stop, &sent)
		waitClosed(t, c)
	})
	t.Run("idle", func(t *testing.T) {
		c, err := dialTLS(t, op, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: op\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		waitClosed(t, br)
	})
}

// The N+1th connection from one client address is refused. At the total cap, the oldest
// connection that has not authenticated is closed to admit the new one; when every open
// connection has authenticated, the new one is refused.
func TestConnectionCaps(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	op := opserver.Start(t, operator.Config{LocalTokenFile: tokenFile, Connections: operator.ConnLimits{MaxConnsPerClient: 3, MaxConns: 4}})
	secret, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	// authenticate sends one authenticated request on c (which keeps it open and trusted).
	authenticate := func(c *tls.Conn, br *bufio.Reader) {
		t.Helper()
		req := "GET /v1/info HTTP/1.1\r\nHost: op\r\nAuthorization: Bearer " + operator.LocalTokenPrefix + strings.TrimSpace(string(secret)) + "\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("authenticated request: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	type openConn struct {
		c  *tls.Conn
		br *bufio.Reader
	}
	var open []openConn
	defer func() {
		for _, o := range open {
			o.c.Close()
		}
	}()
	dial := func(src string) (openConn, error) {
		c, err := dialTLS(t, op, src)
		if err != nil {
			return openConn{}, err
		}
		o := openConn{c, bufio.NewReader(c)}
		open = append(open, o)
		return o, nil
	}
	for i := 0; i < 3; i++ {
		o, err := dial("127.0.0.1")
		if err != nil {
			t.Fatalf("connection %d under the per-client cap: %v", i+1, err)
		}
		authenticate(o.c, o.br)
	}
	if c, err := dialTLS(t, op, "127.0.0.1"); err == nil {
		c.Close()
		t.Fatal("4th connection from 127.0.0.1 accepted with max_conns_per_client 3")
	}
	idle, err := dial("127.0.0.2") // at the total cap now, and not authenticated
	if err != nil {
		t.Fatalf("another client under the total cap: %v", err)
	}
	newcomer, err := dial("127.0.0.3")
	if err != nil {
		t.Fatalf("a new client at the total cap was refused although an unauthenticated one could be evicted: %v", err)
	}
	waitClosed(t, idle.br) // the unauthenticated one made room
	authenticate(newcomer.c, newcomer.br)
	if c, err := dialTLS(t, op, "127.0.0.4"); err == nil {
		c.Close()
		t.Fatal("5th connection accepted with max_conns 4 and every open connection authenticated")
	}
	log := op.Log.String()
	for _, reason := range []string{"conn_limit_per_client", "conn_limit_evicted", "conn_limit_total"} {
		if !strings.Contains(log, `"reason":"`+reason+`"`) {
			t.Fatalf("refusal %s not logged:\n%s", reason, log)
		}
	}
	// The authenticated connections still work.
	authenticate(open[0].c, open[0].br)
}

// A connection that carries no credential gets one answer and is closed: unauthenticated clients
// cannot sit on connection slots by asking /healthz now and then.
func TestUnauthenticatedRequestsCloseTheirConnection(t *testing.T) {
	op := opserver.Start(t, operator.Config{})
	c, err := dialTLS(t, op, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: op\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if !resp.Close {
		t.Fatal("healthz without a credential did not announce Connection: close")
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	waitClosed(t, br)
}
