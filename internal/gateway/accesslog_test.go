package gateway

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Every access-log line is valid JSON (and valid UTF-8) whatever the client sends: an escape
// sequence or a byte that is not UTF-8 in the path must not let a request hide from JSON-based
// monitoring.
func TestAccessLogIsJSONWhateverTheRequest(t *testing.T) {
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", backend(t, "a"))
	paths := []string{
		"/echo/%1b%5b31mred%1b%5b0m", "/echo/%ff%fe", "/%ff", "/nope/%00%0a%0d%22%5c", "/echo/%e2%80%a8%c0%af",
		"/echo/" + strings.Repeat("%ff", 300), "/echo/%7b%22status%22%3a200%7d",
	}
	for _, p := range paths {
		conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		// Hostile headers too: a request id that is not accepted, header bytes that are not UTF-8.
		io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: x\r\nX-Request-Id: \"}\xff{\r\nUser-Agent: \"}\xff\xfe\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conn.Close()
	}
	f.g.Close() // flushes the access log
	lines := strings.Split(strings.TrimSuffix(f.log.String(), "\n"), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("%d access-log lines for %d requests:\n%s", len(lines), len(paths), f.log.String())
	}
	for i, line := range lines {
		var e accessEntry
		if !utf8.ValidString(line) || !json.Valid([]byte(line)) || json.Unmarshal([]byte(line), &e) != nil {
			t.Errorf("line %d is not valid JSON: %q", i, line)
			continue
		}
		if e.Method != "GET" || e.Status == 0 || e.RequestID == "" || !strings.HasPrefix(e.Path, "/") {
			t.Errorf("line %d: %+v", i, e)
		}
	}
}
