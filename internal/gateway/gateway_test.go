package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testCert makes a CA and a server certificate for 127.0.0.1.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

type fixture struct {
	g       *Gateway
	url     string
	client  *http.Client
	pool    *x509.CertPool
	addr    string
	mu      sync.Mutex
	targets map[string][]string
	log     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{targets: map[string][]string{}, log: &syncBuffer{}}
	opts.Targets = func(api string) []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.targets[api]
	}
	opts.AccessLog = f.log
	f.g = New(opts)
	cert, pool := testCert(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.g.Serve(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	t.Cleanup(func() { f.g.Close() })
	f.addr = l.Addr().String()
	f.url = "https://" + f.addr
	f.pool = pool
	f.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 60 * time.Second}
	return f
}

func (f *fixture) setTargets(api string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets[api] = addrs
}

func backend(t *testing.T, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s %s read=%d rid=%s", name, r.Method, r.URL.RequestURI(), n, r.Header.Get("X-Request-Id"))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// rawReplica is a replica written at the TCP level, for behaviour no well-behaved server has:
// serve runs for each accepted connection (which is closed when serve returns).
func rawReplica(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return l.Addr().String()
}

func decodeError(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("status %d: body is not a JSON error: %v", resp.StatusCode, err)
	}
	return e.Error.Code
}

func TestRoutingRoundRobinAndRequestID(t *testing.T) {
	f := newFixture(t, Options{})
	a, b := backend(t, "a"), backend(t, "b")
	f.g.SetRoutes(map[string]string{"/echo": "echo", "/team/iris": "iris"})
	f.setTargets("echo", a, b)
	f.setTargets("iris", a)

	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		resp, err := f.client.Post(f.url+"/echo/sub/path?x=1", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "POST /sub/path?x=1 read=5") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		rid := resp.Header.Get("X-Request-Id")
		if rid == "" || !strings.HasSuffix(string(body), "rid="+rid) {
			t.Fatalf("request id %q not passed through: %s", rid, body)
		}
		seen[string(body[:1])]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Fatalf("round robin: %v", seen)
	}
	req, _ := http.NewRequest("GET", f.url+"/team/iris", nil)
	req.Header.Set("X-Request-Id", "my-id-1")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The client's id is its own field; the request id is the gateway's.
	irisID := resp.Header.Get("X-Request-Id")
	if irisID == "my-id-1" || string(body) != "a GET / read=0 rid="+irisID {
		t.Fatalf("%s %v", body, resp.Header)
	}
	// Prefix matching is per segment: /echoes is not /echo.
	for _, p := range []string{"/echoes", "/", "/team", "/echo/../team/iris"} {
		resp, err := f.client.Get(f.url + p)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 404 || decodeError(t, resp) != "not_found" {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
		resp.Body.Close()
	}
	f.g.Close()
	if !strings.Contains(f.log.String(), `"request_id":"`+irisID+`","client_request_id":"my-id-1"`) || !strings.Contains(f.log.String(), `"api":"iris"`) {
		t.Fatalf("access log: %s", f.log.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(f.log.String()), "\n") {
		var e accessEntry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Status == 0 || e.RequestID == "" || e.Method == "" {
			t.Fatalf("access log line %q: %v", line, err)
		}
	}
}

func TestNoReadyReplicaIs503JSON(t *testing.T) {
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	resp, err := f.client.Get(f.url + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" || decodeError(t, resp) != "no_ready_replica" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A replica that refuses connections is a 502 JSON error, not a hang.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	f.setTargets("echo", dead)
	resp2, err := f.client.Get(f.url + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 502 || decodeError(t, resp2) != "upstream_error" {
		t.Fatalf("status %d", resp2.StatusCode)
	}
}

// zeros is an endless reader that allocates nothing.
type zeros struct{ n, max int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n >= z.max {
		return 0, io.EOF
	}
	if int64(len(p)) > z.max-z.n {
		p = p[:z.max-z.n]
	}
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

func TestHugeBodyIs413WithBoundedMemory(t *testing.T) {
	f := newFixture(t, Options{MaxBodyBytes: 8 << 20})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	const size = 100 << 20

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	// With a Content-Length: refused before reading the body.
	req, _ := http.NewRequest("POST", f.url+"/echo", &zeros{max: size})
	req.ContentLength = size
	resp, err := f.client.Do(req)
	if err == nil {
		if resp.StatusCode != 413 || decodeError(t, resp) != "body_too_large" {
			t.Fatalf("content-length: status %d", resp.StatusCode)
		}
		resp.Body.Close()
	} else if !strings.Contains(err.Error(), "broken pipe") && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	// Chunked: streamed to the replica until the limit trips. The gateway answers 413 and closes
	// the connection; a client still writing may see the reset before the answer.
	req, _ = http.NewRequest("POST", f.url+"/echo", io.NopCloser(&zeros{max: size}))
	req.ContentLength = -1
	resp, err = f.client.Do(req)
	if err == nil {
		if resp.StatusCode != 413 {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("chunked: status %d %s", resp.StatusCode, body)
		}
		resp.Body.Close()
	} else if !strings.Contains(err.Error(), "broken pipe") && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	f.g.Close() // flush the access log
	if n := strings.Count(f.log.String(), `"status":413`); n != 2 {
		t.Fatalf("access log has %d 413s, want 2:\n%s", n, f.log.String())
	}

	runtime.ReadMemStats(&after)
	// The gateway streams: 100 MiB twice through it must not allocate anything near that.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
		t.Fatalf("allocated %d MiB for two 100 MiB requests", alloc>>20)
	}
}

func TestStreamingResponse(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	}))
	defer s.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/s": "s"})
	f.setTargets("s", strings.TrimPrefix(s.URL, "http://"))
	resp, err := f.client.Get(f.url + "/s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first chunk not streamed: %q %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestSlowClientsAreCutOff(t *testing.T) {
	f := newFixture(t, Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 600 * time.Millisecond})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	for _, tc := range []struct {
		name, partial string
		dribble       bool   // keep sending a byte of body every 50ms
		want          string // the answer's status line, if any ("" = just closed)
	}{
		{"nothing sent", "", false, ""},
		{"headers", "POST /echo HTTP/1.1\r\nHost: x\r\n", false, ""},
		{"body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a bit", false, "HTTP/1.1 408"},
		{"dribbled body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", true, "HTTP/1.1 408"},
		{"idle after a request", "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", false, "HTTP/1.1 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.partial); err != nil {
				t.Fatal(err)
			}
			if tc.dribble {
				go func() {
					for {
						if _, err := conn.Write([]byte("x")); err != nil {
							return // the gateway hung up
						}
						time.Sleep(50 * time.Millisecond) // the slow client's pace, not a wait for a condition
					}
				}()
			}
			// Upper bound only so a broken server fails the test instead of hanging it.
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			data, err := io.ReadAll(conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the gateway kept a stalled client's connection open")
			}
			if !bytes.HasPrefix(data, []byte(tc.want)) || (tc.want == "" && len(data) > 0) {
				t.Fatalf("answer %q, want %q then the connection closed", data, tc.want)
			}
			if tc.want == "HTTP/1.1 408" && !bytes.Contains(data, []byte(`"code":"request_timeout"`)) {
				t.Fatalf("answer %q, want a JSON request_timeout error", data)
			}
		})
	}
}

// Connections are capped per client address and in total: a client that opens many connections
// and dribbles (50 of them stayed open as long as the client liked) cannot take them all, and
// other clients are still served.
func TestConnectionsAreCappedPerClient(t *testing.T) {
	f := newFixture(t, Options{MaxConnsPerClient: 3})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	dialFrom := func(from string) (*tls.Conn, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
		return tls.DialWithDialer(d, "tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
	}
	for i := 0; i < 3; i++ {
		c, err := dialFrom("127.0.0.1")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nslow")
	}
	if c, err := dialFrom("127.0.0.1"); err == nil {
		c.Close()
		t.Fatal("a fourth connection from the same address was accepted (cap 3)")
	}
	// Another client is served meanwhile.
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext,
		TLSClientConfig: &tls.Config{RootCAs: f.pool}}}
	resp, err := client.Get(f.url + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another client: %d", resp.StatusCode)
	}
}

func TestTLSOnly12Plus(t *testing.T) {
	f := newFixture(t, Options{})
	_, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, MaxVersion: tls.VersionTLS11, ServerName: "127.0.0.1"})
	if err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	// And a client without the CA refuses the gateway.
	if _, err := http.Get(f.url + "/x"); err == nil {
		t.Fatal("unverified TLS succeeded")
	}
}

// A replica that closes keep-alive connections without saying so (after answering, as if it
// kept them open): requests after it still get their answers. The transport drops a pooled
// connection whose close it has seen, and retryIdle resends a request that met one before the
// request was written (see TestRetryIdleResendsOnlyUnwrittenRequests). A request that was
// written before the close is not resent (the replica may have read it): see
// TestPOSTConsumedByReplicaIsNotReplayed.
func TestStalePooledConnectionIsRetried(t *testing.T) {
	addr := rawReplica(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	f := newFixture(t, Options{ErrorLog: func(format string, args ...any) { t.Logf(format, args...) }})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", addr)
	// Count the upstream connections the gateway's transport has closed, to send each request
	// once the replica's close of the previous connection has reached the gateway.
	var closed atomic.Int64
	dial := f.g.transport.DialContext
	f.g.transport.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &closeCounter{Conn: c, n: &closed}, nil
	}
	for i := 0; i < 20; i++ {
		deadline := time.Now().Add(10 * time.Second)
		for closed.Load() < int64(i) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		resp, err := f.client.Post(f.url+"/echo", "text/plain", strings.NewReader(fmt.Sprintf("req-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("req-%d", i) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
}

type closeCounter struct {
	net.Conn
	n    *atomic.Int64
	once sync.Once
}

func (c *closeCounter) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.n.Add(1) })
	return err
}

// scriptedTransport plays the part of http.Transport in the keep-alive race, which no real
// server can stage on demand (it is decided by microseconds between the replica's close and the
// transport's write): it reports a reused connection and, per the script, whether the request
// was written, then fails with err; the second attempt succeeds. A fake, on purpose and only
// for retryIdle's decision.
type scriptedTransport struct {
	wrote    string // "": WroteRequest never fires; "err": fires with an error; "ok": fires clean
	err      error
	attempts int
}

func (s *scriptedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.attempts++
	if s.attempts > 1 {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}
	trace := httptrace.ContextClientTrace(r.Context())
	trace.GotConn(httptrace.GotConnInfo{Reused: true})
	switch {
	case trace.WroteRequest == nil:
	case s.wrote == "err":
		trace.WroteRequest(httptrace.WroteRequestInfo{Err: s.err})
	case s.wrote == "ok":
		trace.WroteRequest(httptrace.WroteRequestInfo{})
	}
	return nil, s.err
}

// retryIdle resends a request only when it provably did not reach the replica.
func TestRetryIdleResendsOnlyUnwrittenRequests(t *testing.T) {
	for _, c := range []struct {
		wrote  string
		err    error
		resend bool
	}{
		{"", errors.New("http: server closed idle connection"), true},
		{"err", syscall.EPIPE, true},
		{"err", net.ErrClosed, true},
		{"ok", io.EOF, false},
		{"ok", syscall.ECONNRESET, false},
		{"ok", errors.New("http: server closed idle connection"), false},
		{"", errors.New("some other failure"), false},
	} {
		st := &scriptedTransport{wrote: c.wrote, err: c.err}
		body := []byte("transfer 100")
		r, _ := http.NewRequest("POST", "http://127.0.0.1:1/pay", bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		_, err := retryIdle{st}.RoundTrip(r)
		if resent := st.attempts == 2; resent != c.resend || resent != (err == nil) {
			t.Errorf("WroteRequest %q, error %v: attempts %d (err %v), want resent=%v", c.wrote, c.err, st.attempts, err, c.resend)
		}
	}
}

// The protocol edges a proxy must get right: keep-alive and pipelining, chunked bodies, HTTP/1.0,
// Expect: 100-continue, HEAD, malformed requests.
func TestServerProtocol(t *testing.T) {
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	dial := func() (*tls.Conn, *bufio.Reader) {
		conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		return conn, bufio.NewReader(conn)
	}
	read := func(br *bufio.Reader, method string) (*http.Response, string) {
		t.Helper()
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	// Pipelined requests on one connection, answered in order.
	conn, br := dial()
	io.WriteString(conn, "POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /echo/2 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := read(br, "POST"); resp.StatusCode != 200 || !strings.HasPrefix(body, "a POST /1 read=3") {
		t.Fatalf("first: %d %q", resp.StatusCode, body)
	}
	if resp, body := read(br, "GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "a GET /2 read=0") {
		t.Fatalf("second: %d %q", resp.StatusCode, body)
	}
	// Chunked request body.
	io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if resp, body := read(br, "POST"); resp.StatusCode != 200 || !strings.Contains(body, "read=5") {
		t.Fatalf("chunked: %d %q", resp.StatusCode, body)
	}
	// HEAD: headers only.
	io.WriteString(conn, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := read(br, "HEAD"); resp.StatusCode != 200 || body != "" {
		t.Fatalf("head: %d %q", resp.StatusCode, body)
	}

	// Expect: 100-continue: the client gets 100 before it sends the body.
	conn, br = dial()
	io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(conn, "wxyz")
	if resp, body := read(br, "POST"); resp.StatusCode != 200 || !strings.Contains(body, "read=4") {
		t.Fatalf("after continue: %d %q", resp.StatusCode, body)
	}

	// HTTP/1.0: answered, then closed.
	conn, br = dial()
	io.WriteString(conn, "GET /echo HTTP/1.0\r\n\r\n")
	if resp, body := read(br, "GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "a GET / ") {
		t.Fatalf("http/1.0: %d %q", resp.StatusCode, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("HTTP/1.0 connection not closed: %v", err)
	}

	// Garbage: 400, closed.
	conn, br = dial()
	io.WriteString(conn, "NOT HTTP AT ALL\r\n\r\n")
	if resp, body := read(br, "GET"); resp.StatusCode != 400 {
		t.Fatalf("garbage: %d %q", resp.StatusCode, body)
	}
}

func TestShutdownWaitsForRequestsInFlight(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}))
	defer s.Close()
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/slow": "slow"})
	f.setTargets("slow", strings.TrimPrefix(s.URL, "http://"))
	got := make(chan string, 1)
	go func() {
		resp, err := f.client.Get(f.url + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	// Wait until the request is at the backend (the gateway has a request in flight).
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("request never arrived")
	}
	shut := make(chan error, 1)
	go func() { shut <- f.g.Shutdown(context.Background()) }()
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("request in flight during shutdown: %q", body)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Get(f.url + "/slow"); err == nil {
		t.Fatal("the gateway still serves after Shutdown")
	}
}
