package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/testutil/pyruntime"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/local"
)

// smugglingHandler answers every call with what it was given, after a second (so that an answer
// to a smuggled request is still pending when the next caller's request arrives), and records
// every call it serves in calls.jsonl.
const smugglingHandler = `
import json, os, time

class Handler:
    def __init__(self, config):
        self.record = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.jsonl")

    def note(self, call):
        with open(self.record, "a") as f:
            f.write(json.dumps(call) + "\n")

    def handle_post(self, payload):
        self.note({"method": "POST", "payload": payload})
        time.sleep(1)
        return {"you_sent": payload}

    def handle_get(self):
        self.note({"method": "GET"})
        return {"get": "ok"}
`

// pythonAPI runs handler as API name on the real local backend (the real serve.py runtime) and
// routes /name to it through f. It returns the project dir.
func pythonAPI(t *testing.T, f *fixture, name, handler string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(handler), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := local.New(local.Options{Dir: t.TempDir(), Python: pyruntime.Python(t), StopTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	spec := apispec.Spec{Name: name, Kind: apispec.KindRealtime, ProjectDir: dir, Replicas: 1,
		Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py"}}
	if err := b.Apply(context.Background(), workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(b.Targets(name)) == 0 {
		if time.Now().After(deadline) {
			st, _ := b.Status(name)
			t.Fatalf("API never ready: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.g.SetRoutes(map[string]string{"/" + name: name})
	f.setTargets(name, b.Targets(name)...)
	return dir
}

// A GET whose body is a second HTTP request must not reach the replica as a request of its own:
// its answer would go to the next caller on that pooled upstream connection (the victim gets the
// attacker's chosen answer), and the gateway's access log would never show it. Real gateway, real
// Python runtime process, real sockets.
func TestGetBodyIsNotSmuggledToTheReplica(t *testing.T) {
	f := newFixture(t, Options{})
	dir := pythonAPI(t, f, "smug", smugglingHandler)

	smuggled := `{"from": "smuggled"}`
	inner := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		fmt.Sprint(len(smuggled)) + "\r\n\r\n" + smuggled
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /smug HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(inner), inner)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	attackerBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The attacker's answer is about its own request: the GET's answer, or a refusal.
	if strings.Contains(string(attackerBody), "victim") {
		t.Errorf("the attacker got the victim's answer: %s", attackerBody)
	}

	// The victim calls right after, concurrently with whatever the replica is still doing.
	victim := make(chan string, 1)
	go func() {
		resp, err := f.client.Post(f.url+"/smug", "application/json", strings.NewReader(`{"from": "victim"}`))
		if err != nil {
			victim <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		victim <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	if got := <-victim; got != `200 {"you_sent": {"from": "victim"}}` {
		t.Errorf("the victim got %q, want the answer to its own input", got)
	}

	// Every call the replica served is in the access log, and none was smuggled.
	f.g.Close() // flushes the access log
	var forwarded int
	for _, line := range strings.Split(strings.TrimSpace(f.log.String()), "\n") {
		var e accessEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		if e.Upstream != "" && e.Status < 400 {
			forwarded++
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "calls.jsonl"))
	calls := strings.Split(strings.TrimSpace(string(data)), "\n")
	if strings.Contains(string(data), "smuggled") || len(calls) != forwarded {
		t.Errorf("the replica served %d call(s) %q; the access log shows %d:\n%s", len(calls), calls, forwarded, f.log.String())
	}
}

// Defence in depth for replicas the gateway does not control (command handlers): a replica that,
// like the old runtime, answers a GET without reading its body must still never see the body. The
// gateway refuses a body on GET and HEAD (400, connection closed) and forwards nothing.
func TestGetOrHeadWithBodyIsRefused(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	addr := rawReplica(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, req.Method+" "+req.RequestURI)
			mu.Unlock()
			if req.Method == "POST" {
				_, _ = io.Copy(io.Discard, req.Body)
			} // a GET's body is left unread, as the old runtime did
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	f := newFixture(t, Options{})
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	f.setTargets("echo", addr)
	inner := "POST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
	for _, req := range []string{
		fmt.Sprintf("GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(inner), inner),
		fmt.Sprintf("HEAD /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(inner), inner),
		fmt.Sprintf("GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(inner), inner),
	} {
		conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, req)
		br := bufio.NewReader(conn)
		method, _, _ := strings.Cut(req, " ")
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !resp.Close {
			t.Errorf("%q: %d close=%t %s, want 400 and the connection closed", req, resp.StatusCode, resp.Close, body)
		}
		if method == "GET" && !strings.Contains(string(body), `"code":"body_not_allowed"`) {
			t.Errorf("%q: body %s", req, body)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection still open after the refusal: %v", req, err)
		}
		conn.Close()
	}
	// Over HTTP/2 as well.
	h2 := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: f.pool}}}
	req, _ := http.NewRequest("GET", f.url+"/echo", strings.NewReader(inner))
	resp, err := h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("HTTP/%d GET with a body: %d, want 400", resp.ProtoMajor, resp.StatusCode)
	}
	// A GET without a body still goes through.
	resp, err = f.client.Get(f.url + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 200 || len(seen) != 1 || seen[0] != "GET /" {
		t.Fatalf("status %d; the replica saw %q, want only the bodiless GET", resp.StatusCode, seen)
	}
}
