package netlimit

import (
	"bufio"
	"net"
	"net/netip"
	"testing"
	"time"
)

// server accepts on a limited listener and greets every connection it is given ("hi\n"), then
// keeps it open until the client closes it.
func server(t *testing.T, limits Limits) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, limits)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("hi\n"))
				c.Read(make([]byte, 1)) // until the client closes
			}()
		}
	}()
	return l
}

// dial connects from the local address from (any 127.x.y.z works on Linux loopback) and reports
// whether the server accepted the connection (greeted it) or closed it at once.
func dial(t *testing.T, l *Listener, from string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a broken listener fails, not hangs
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("from %s: neither greeted nor closed", from)
		}
		return c, false
	}
	return c, line == "hi\n"
}

// waitOpen polls until the listener counts n open connections (a closed client's slot is given
// back when the server side sees the close).
func waitOpen(t *testing.T, l *Listener, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("open connections: %+v, want %d", l.Stats(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPerClientCap(t *testing.T) {
	l := server(t, Limits{PerClient: 2, Total: 100})
	a1, ok1 := dial(t, l, "127.0.0.1")
	_, ok2 := dial(t, l, "127.0.0.1")
	_, ok3 := dial(t, l, "127.0.0.1")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("from one address: accepted %t %t %t, want the third refused", ok1, ok2, ok3)
	}
	// Another client is not affected by the first one's cap.
	if _, ok := dial(t, l, "127.0.0.2"); !ok {
		t.Fatal("another client was refused")
	}
	// A slot comes back when a connection closes.
	a1.Close()
	waitOpen(t, l, 2)
	if _, ok := dial(t, l, "127.0.0.1"); !ok {
		t.Fatal("refused after a connection of the client closed")
	}
	st := l.Stats()
	if st.Open != 3 || st.RefusedPerClient != 1 || st.RefusedTotal != 0 || st.Clients != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTotalCap(t *testing.T) {
	refused := make(chan string, 10)
	l := server(t, Limits{PerClient: 10, Total: 3, OnRefuse: func(remote net.Addr, reason string) { refused <- reason }})
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		if _, ok := dial(t, l, from); !ok {
			t.Fatalf("%s refused below the total cap", from)
		}
	}
	if _, ok := dial(t, l, "127.0.0.4"); ok {
		t.Fatal("a fourth connection was accepted over the total cap of 3")
	}
	select {
	case reason := <-refused:
		if reason != "total" {
			t.Fatalf("refused for %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRefuse was not called")
	}
	if st := l.Stats(); st.Open != 3 || st.RefusedTotal != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseTwiceGivesBackOneSlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, Limits{PerClient: 1})
	defer l.Close()
	client, err := net.Dial("tcp", ln.Addr().String()) // completes in the kernel's accept queue
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if st := l.Stats(); st.Open != 0 || st.Clients != 0 {
		t.Fatalf("after a double close: %+v", st)
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:443":              "192.0.2.7/32",
		"[::ffff:192.0.2.7]:443":     "192.0.2.7/32",
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:80":  "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:80":       "2001:db8:1:3::/64",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(a); got != netip.MustParsePrefix(want) {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

// At the total cap, EvictUntrusted closes the oldest connection not marked trusted to admit a new
// one; trusted connections are never evicted, and with only trusted ones open the new one is
// refused.
func TestEvictUntrustedAtTheTotalCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	refused := make(chan string, 16)
	l := NewListener(ln, Limits{Total: 3, EvictUntrusted: true, OnRefuse: func(_ net.Addr, reason string) { refused <- reason }})
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// The stand-in for "a request on this connection authenticated": clients from
			// 127.0.0.9 are trusted before they are greeted.
			if host, _, _ := net.SplitHostPort(c.RemoteAddr().String()); host == "127.0.0.9" {
				Trust(c)
			}
			go func() {
				defer c.Close()
				c.Write([]byte("hi\n"))
				c.Read(make([]byte, 1))
			}()
		}
	}()
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	trusted, ok := dial(t, l, "127.0.0.9")
	if !ok {
		t.Fatal("trusted client refused")
	}
	old1, _ := dial(t, l, "127.0.0.2")
	old2, _ := dial(t, l, "127.0.0.3")
	waitOpen(t, l, 3)
	if _, ok := dial(t, l, "127.0.0.4"); !ok {
		t.Fatal("a new client at the total cap was refused although untrusted connections could be evicted")
	}
	if !closed(old1) {
		t.Fatal("the oldest untrusted connection was not evicted")
	}
	if _, ok := dial(t, l, "127.0.0.5"); !ok {
		t.Fatal("second new client refused")
	}
	if !closed(old2) {
		t.Fatal("the next oldest untrusted connection was not evicted")
	}
	for i := 0; i < 2; i++ {
		reasons = append(reasons, <-refused)
	}
	if reasons[0] != "evicted" || reasons[1] != "evicted" {
		t.Fatalf("OnRefuse reasons %v, want evicted twice", reasons)
	}
	trusted.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := trusted.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
		t.Fatalf("the trusted connection was closed: %v", err)
	}
	waitOpen(t, l, 3)
	if st := l.Stats(); st.Open != 3 || st.Clients != 3 {
		t.Fatalf("stats after evictions: %+v", st)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestExportedClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":                "127.0.0.1",
		"[::ffff:10.1.2.3]:80":          "10.1.2.3",
		"[2001:db8:0:1::5]:443":         "2001:db8:0:1::/64",
		"[2001:db8:0:1:ffff:1:2:3]:443": "2001:db8:0:1::/64",
		"[2001:db8:0:2::5]:443":         "2001:db8:0:2::/64",
		"not an address":                "not an address",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
