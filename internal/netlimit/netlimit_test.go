package netlimit

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// serve accepts on l; each accepted connection is greeted with "ok\n" and held until the client
// closes it.
func serve(t *testing.T, l net.Listener) {
	t.Helper()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("ok\n"))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
}

// dial connects from the loopback address src and reports whether the server kept the
// connection (greeted it) or closed it at once.
func dial(t *testing.T, addr, src string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang is a failure, not a pass
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection from %s neither greeted nor closed", src)
		}
		c.Close()
		return nil, false
	}
	if line != "ok\n" {
		t.Fatalf("greeting %q", line)
	}
	return c, true
}

func listen(t *testing.T, lim Limits) (*Listener, *refusals) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, lim)
	r := &refusals{}
	l.OnRefuse = r.add
	t.Cleanup(func() { l.Close() })
	serve(t, l)
	return l, r
}

type refusals struct {
	mu  sync.Mutex
	got []string
}

func (r *refusals) add(ip, reason string) {
	r.mu.Lock()
	r.got = append(r.got, ip+" "+reason)
	r.mu.Unlock()
}
func (r *refusals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.got...)
}

func TestPerIPCapRefusesTheNextConnectionAndFreesOnClose(t *testing.T) {
	l, refused := listen(t, Limits{PerIP: 3, Total: 100})
	addr := l.Addr().String()
	var open []net.Conn
	for i := 0; i < 3; i++ {
		c, ok := dial(t, addr, "127.0.0.1")
		if !ok {
			t.Fatalf("connection %d refused under the cap", i+1)
		}
		open = append(open, c)
	}
	if _, ok := dial(t, addr, "127.0.0.1"); ok {
		t.Fatal("4th connection from one IP accepted with a per-IP cap of 3")
	}
	if got := refused.list(); len(got) != 1 || got[0] != "127.0.0.1 "+ReasonPerIP {
		t.Fatalf("refusals = %v", got)
	}
	// Another address is not affected.
	if c, ok := dial(t, addr, "127.0.0.2"); !ok {
		t.Fatal("another client refused")
	} else {
		c.Close()
	}
	// Closing one frees its slot (the server sees the close asynchronously: poll).
	open[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, n := l.Open("127.0.0.1"); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connection still counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, ok := dial(t, addr, "127.0.0.1"); !ok {
		t.Fatal("a freed slot was not reusable")
	} else {
		c.Close()
	}
	for _, c := range open[1:] {
		c.Close()
	}
}

func TestTotalCapRefusesTheNextConnection(t *testing.T) {
	l, refused := listen(t, Limits{PerIP: 10, Total: 3})
	addr := l.Addr().String()
	for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c, ok := dial(t, addr, src)
		if !ok {
			t.Fatalf("connection from %s refused under the cap", src)
		}
		defer c.Close()
	}
	if _, ok := dial(t, addr, "127.0.0.4"); ok {
		t.Fatal("4th connection accepted with a total cap of 3")
	}
	if got := refused.list(); len(got) != 1 || got[0] != "127.0.0.4 "+ReasonTotal {
		t.Fatalf("refusals = %v", got)
	}
}

// A connection closed twice (net/http does) frees its slot once: the cap must not drift upward.
func TestDoubleCloseReleasesOnce(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, Limits{PerIP: 1})
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	_ = c.Close()
	if total, fromIP := l.Open("127.0.0.1"); total != 0 || fromIP != 0 {
		t.Fatalf("after a double close: %d open, %d from the client", total, fromIP)
	}
}
