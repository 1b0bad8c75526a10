package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// retryIdle resends a POST on a fresh connection when its pooled connection "turned out to be
// closed", and it recognises that by the error alone (EOF, reset, ...). But the same errors come
// back when the replica read the whole request, acted on it, and then lost the connection before
// answering (its process or the connection was killed, a proxy in between hung up). The gateway
// then executes a non-idempotent request twice. net/http's Transport retries only when it knows
// nothing of the request was written (or the method is idempotent); the replay has to be limited
// the same way.
func TestPOSTConsumedByReplicaIsNotReplayed(t *testing.T) {
	var executed atomic.Int64
	addr := rawReplica(t, func(c net.Conn, br *bufio.Reader) {
		for n := 0; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			if strings.HasPrefix(string(body), "transfer") {
				executed.Add(1) // the side effect: the API did the work
			}
			if n == 1 {
				return // the second request on a connection: read, done, then the connection dies
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/pay": "pay"})
	f.setTargets("pay", addr)
	// The first request opens a pooled connection; the second rides it.
	for _, b := range []string{"hello", "transfer 100 to mallory"} {
		resp, err := f.client.Post(f.url+"/pay", "text/plain", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("%q: %d", b, resp.StatusCode)
	}
	if n := executed.Load(); n != 1 {
		t.Errorf("the client sent one POST; the replica executed it %d times", n)
	}
}

// The gateway keeps a client's X-Request-Id (if it looks like one), writes it as the access log's
// request_id and passes it to the replica. Any caller can therefore reuse the id of another
// caller's request (ids appear in responses, error reports, support tickets), so that looking that
// id up in the access log or the API's log finds the attacker's requests too, or pick ids that
// collide with the gateway's own format to blend in.
func TestClientCannotChooseTheRequestID(t *testing.T) {
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	resp, err := f.client.Get(f.url + "/echo/victim")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	victimID := resp.Header.Get("X-Request-Id")
	req, _ := http.NewRequest("GET", f.url+"/echo/attacker", nil)
	req.Header.Set("X-Request-Id", victimID)
	resp, err = f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f.g.Close()
	if n := strings.Count(f.log.String(), `"request_id":"`+victimID+`"`); n != 1 {
		t.Errorf("request id %s names %d requests in the access log:\n%s", victimID, n, f.log.String())
	}
	if !strings.Contains(f.log.String(), `"client_request_id":"`+victimID+`"`) {
		t.Errorf("the client's id is not logged as client_request_id:\n%s", f.log.String())
	}
}

// The client's id reaches the replica as X-Client-Request-Id when it is 1-128 printable ASCII
// characters, and not at all otherwise; a client-sent X-Client-Request-Id never does.
func TestClientRequestIDIsValidatedAndForwardedApart(t *testing.T) {
	seen := make(chan [2]string, 1)
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- [2]string{r.Header.Get("X-Request-Id"), strings.Join(r.Header.Values("X-Client-Request-Id"), "|")}
	}))
	defer replica.Close()
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", strings.TrimPrefix(replica.URL, "http://"))
	for _, c := range []struct{ sent, forged, want string }{
		{"order 42/b", "", "order 42/b"},
		{"order 42/b", "forged", "order 42/b"},
		{"", "forged", ""},
		{strings.Repeat("x", 129), "", ""},
		{"caf\xc3\xa9", "", ""},
	} {
		req, _ := http.NewRequest("GET", f.url+"/echo", nil)
		if c.sent != "" {
			req.Header.Set("X-Request-Id", c.sent)
		}
		if c.forged != "" {
			req.Header.Set("X-Client-Request-Id", c.forged)
		}
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := <-seen
		if got[0] != resp.Header.Get("X-Request-Id") || got[0] == c.sent || got[1] != c.want {
			t.Errorf("sent %q (X-Client-Request-Id %q): replica saw X-Request-Id %q, X-Client-Request-Id %q; want the gateway's id and %q",
				c.sent, c.forged, got[0], got[1], c.want)
		}
	}
}

// The per-client and total caps count TCP connections, but the gateway speaks HTTP/2, where one
// connection carries up to 250 concurrent streams (net/http's default), each proxied on its own
// upstream connection (the transport has no per-replica cap). With MaxConnsPerClient 1 and
// MaxConns 1, one client on one connection still holds hundreds of requests (and upstream
// sockets) open at once; at the defaults (256 per client) that is 64,000 per client, in the
// operator's process, for an API anyone can call.
func TestHTTP2StreamsStayWithinTheClientCaps(t *testing.T) {
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
	}))
	defer slow.Close()
	defer close(release)
	f := newFixture(t, Options{MaxConnsPerClient: 1, MaxConns: 1})
	f.g.SetRoutes(map[string]string{"/slow": "slow"})
	f.setTargets("slow", strings.TrimPrefix(slow.URL, "http://"))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	const n = 300
	var refused, answered atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < n; i++ {
		go func() {
			if resp, err := c.Get(f.url + "/slow"); err == nil {
				if resp.StatusCode == http.StatusTooManyRequests {
					refused.Add(1)
				}
				resp.Body.Close()
			} else {
				firstErr.CompareAndSwap(nil, err.Error())
			}
			answered.Add(1)
		}()
	}
	// Until every request is either answered or held at the replica (or the replica holds 200).
	deadline := time.Now().Add(20 * time.Second)
	for peak.Load() < 200 && answered.Load()+inFlight.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d requests refused with 429; first error: %v", refused.Load(), firstErr.Load())
	t.Logf("one client, one TCP connection (caps: 1 per client, 1 in total): %d requests held at the replica at once", peak.Load())
	if p := peak.Load(); p > 16 {
		t.Errorf("one connection held %d concurrent upstream requests", p)
	}
}

// An HTTP/2 connection to the gateway carries at most http2MaxStreams requests at once (the
// server's SETTINGS_MAX_CONCURRENT_STREAMS, as the client library sees it after a request).
func TestHTTP2StreamsPerConnectionAreCapped(t *testing.T) {
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP2(true)
	cc, err := tr.NewClientConn(context.Background(), "https", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	req, _ := http.NewRequest("GET", f.url+"/echo", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if got := cc.Available(); got != http2MaxStreams {
		t.Errorf("an idle HTTP/2 connection may carry %d requests at once, want %d", got, http2MaxStreams)
	}
}

// The in-flight caps count by netlimit's client key (an IPv6 client's /64) and in total; a
// request over one gets 429 too_many_requests with Retry-After, and a slot is free again once
// the request it held is done.
func TestRequestsInFlightAreCappedPerClientAndInTotal(t *testing.T) {
	g := New(Options{MaxRequestsPerClient: 1, MaxRequests: 2})
	admit := func(remote string) (func(), *httptest.ResponseRecorder) {
		r := httptest.NewRequest("GET", "/echo", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		release, ok := g.admit(w, r)
		if ok != (release != nil) {
			t.Fatalf("%s: ok %t with release %v", remote, ok, release != nil)
		}
		return release, w
	}
	first, _ := admit("[2001:db8:1:2::1]:1000")
	if first == nil {
		t.Fatal("first request refused")
	}
	if release, w := admit("[2001:db8:1:2:ffff::9]:2000"); release != nil || w.Code != http.StatusTooManyRequests ||
		w.Header().Get("Retry-After") == "" || decodeError(t, w.Result()) != "too_many_requests" {
		t.Fatalf("a second request from the same /64 was not refused with 429: %d", w.Code)
	}
	other, _ := admit("[2001:db8:1:3::1]:1000")
	if other == nil {
		t.Fatal("a request from another /64 was refused")
	}
	if release, _ := admit("192.0.2.7:1000"); release != nil {
		t.Fatal("a third request in flight passed the total cap of 2")
	}
	first()
	if again, _ := admit("[2001:db8:1:2::5]:3000"); again == nil {
		t.Fatal("the /64's slot was not given back")
	}
	other()
}
