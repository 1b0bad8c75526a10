package gateway

import (
	"bufio"
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
func TestRedteamPOSTConsumedByReplicaIsReplayed(t *testing.T) {
	t.Skip("redteam: reproduces 'gateway replays a POST the replica already read (and acted on) when the pooled connection then dies: double execution'; unskip when fixed")
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
func TestRedteamClientChosenRequestIDCollidesInTheAccessLog(t *testing.T) {
	t.Skip("redteam: reproduces 'client-chosen X-Request-Id is logged as the request id: callers can forge/collide access-log ids'; unskip when fixed")
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
}

// The per-client and total caps count TCP connections, but the gateway speaks HTTP/2, where one
// connection carries up to 250 concurrent streams (net/http's default), each proxied on its own
// upstream connection (the transport has no per-replica cap). With MaxConnsPerClient 1 and
// MaxConns 1, one client on one connection still holds hundreds of requests (and upstream
// sockets) open at once; at the defaults (256 per client) that is 64,000 per client, in the
// operator's process, for an API anyone can call.
func TestRedteamHTTP2StreamsBypassTheConnectionCaps(t *testing.T) {
	t.Skip("redteam: reproduces 'HTTP/2 streams multiply the gateway's per-client/total connection caps by 250 (and upstream sockets with them)'; unskip when fixed")
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
	for i := 0; i < n; i++ {
		go func() {
			if resp, err := c.Get(f.url + "/slow"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for peak.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("one client, one TCP connection (caps: 1 per client, 1 in total): %d requests held at the replica at once", peak.Load())
	if p := peak.Load(); p > 16 {
		t.Errorf("one connection held %d concurrent upstream requests", p)
	}
}
