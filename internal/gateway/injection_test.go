package gateway

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A decoded path must never reach the replica raw: %0d%0a or %20 in the URL would otherwise split
// the forwarded request line and smuggle headers or a second request to the API.
func TestEncodedCRLFAndSpacesInPathAreNotInjected(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	addr := rawReplica(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			mu.Lock()
			lines = append(lines, req.Method+" "+req.RequestURI+" injected="+req.Header.Get("X-Injected"))
			mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", addr)
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /echo/a%20HTTP/1.1%0d%0aX-Injected:%20yes%0d%0a%0d%0aGET%20/admin HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 || strings.Contains(lines[0], "injected=yes") || strings.Contains(lines[0], " /admin") {
		t.Fatalf("the replica saw %q: the path was injected into the request line", lines)
	}
	if !strings.HasPrefix(strings.ToUpper(lines[0]), "GET /A%20HTTP/1.1%0D%0AX-INJECTED:%20YES") {
		t.Fatalf("the replica saw %q, want the path still escaped", lines[0])
	}
}
