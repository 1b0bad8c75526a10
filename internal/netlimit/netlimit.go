// Package netlimit caps how many connections a server holds open: per client address and in
// total. Wrap a listener before handing it to the server (and before TLS, so that a connection
// over the cap costs no handshake):
//
//	ln = netlimit.NewListener(ln, netlimit.Limits{PerClient: 256, Total: 4096})
//
// A connection over a cap is closed as soon as it is accepted, and Accept goes on to the next
// one: an address at its cap cannot hold the accept queue, and clients below their caps keep
// being served. A connection gives its slot back when it is closed (once, however many times
// Close is called). Clients are keyed by IP address, IPv6 ones by their /64 (one host usually
// has a whole /64): ClientKey is that key, for everything else that counts per client.
//
// With EvictUntrusted, a listener at its total cap closes its oldest untrusted connection to
// admit a new one, rather than refusing the new one: a server marks a connection trusted (Trust)
// once a request on it has authenticated, so unauthenticated clients from many addresses cannot
// hold every slot and lock authenticated ones out.
package netlimit

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Limits are the caps; zero or negative means no cap.
type Limits struct {
	// PerClient caps the connections open at once from one client address.
	PerClient int
	// Total caps the connections open at once from all clients.
	Total int
	// EvictUntrusted: at the total cap, close the oldest connection not marked with Trust to
	// admit the new one (reason "evicted" to OnRefuse); refuse only when every open one is trusted.
	EvictUntrusted bool
	// OnRefuse, if set, is told about each connection closed at a cap (reason "per-client",
	// "total" or "evicted"). It runs in Accept: keep it cheap (a counter, a sampled log).
	OnRefuse func(remote net.Addr, reason string)
}

// Stats are a listener's counters.
type Stats struct {
	Open             int    // connections open now
	RefusedPerClient uint64 // connections closed because their client was at PerClient
	RefusedTotal     uint64 // connections closed because the listener was at Total
	Clients          int    // client addresses (keys) with at least one open connection
}

// Listener is a net.Listener that enforces Limits.
type Listener struct {
	net.Listener
	limits Limits

	mu        sync.Mutex
	open      int
	byClient  map[netip.Prefix]int
	untrusted list.List // of *conn, oldest first (EvictUntrusted only)

	refusedPerClient atomic.Uint64
	refusedTotal     atomic.Uint64
}

// NewListener wraps ln with limits.
func NewListener(ln net.Listener, limits Limits) *Listener {
	return &Listener{Listener: ln, limits: limits, byClient: map[netip.Prefix]int{}}
}

// Accept returns the next connection within the caps; connections over a cap are closed here.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		nc := &conn{Conn: c, l: l, key: key}
		reason, victim := l.take(nc)
		if victim != nil {
			victim.Close()
			if l.limits.OnRefuse != nil {
				l.limits.OnRefuse(victim.RemoteAddr(), "evicted")
			}
		}
		if reason == "" {
			return nc, nil
		}
		c.Close()
		if l.limits.OnRefuse != nil {
			l.limits.OnRefuse(c.RemoteAddr(), reason)
		}
	}
}

// take reserves a slot for c, or says which cap refuses it. At the total cap with
// EvictUntrusted it returns the oldest untrusted connection for the caller to close: that
// connection's slot is handed to c.
func (l *Listener) take(c *conn) (reason string, victim *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.PerClient > 0 && l.byClient[c.key] >= l.limits.PerClient {
		l.refusedPerClient.Add(1)
		return "per-client", nil
	}
	if l.limits.Total > 0 && l.open >= l.limits.Total {
		front := l.untrusted.Front()
		if !l.limits.EvictUntrusted || front == nil {
			l.refusedTotal.Add(1)
			return "total", nil
		}
		victim = l.untrusted.Remove(front).(*conn)
		victim.elem = nil
		victim.slotGiven = true // its slot is now c's: its Close must not free it again
		l.byClient[victim.key]--
		if l.byClient[victim.key] <= 0 {
			delete(l.byClient, victim.key)
		}
		l.open--
	}
	l.open++
	l.byClient[c.key]++
	if l.limits.EvictUntrusted {
		c.elem = l.untrusted.PushBack(c)
	}
	return "", victim
}

// Trust marks c, a connection accepted by a Listener (or a *tls.Conn over one), as trusted: it
// is never evicted. Servers call it once a request on c has authenticated. Other connections are
// ignored.
func Trust(c net.Conn) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	nc, ok := c.(*conn)
	if !ok {
		return
	}
	l := nc.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if nc.elem != nil {
		l.untrusted.Remove(nc.elem)
		nc.elem = nil
	}
}

func (l *Listener) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.elem != nil {
		l.untrusted.Remove(c.elem)
		c.elem = nil
	}
	if c.slotGiven {
		return
	}
	key := c.key
	l.open--
	if n := l.byClient[key] - 1; n > 0 {
		l.byClient[key] = n
	} else {
		delete(l.byClient, key)
	}
}

// Stats returns the listener's counters now.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.open, RefusedPerClient: l.refusedPerClient.Load(), RefusedTotal: l.refusedTotal.Load(),
		Clients: len(l.byClient)}
}

// ClientKey is the key a client is counted by, here and wherever else something is counted per
// client (failure limits, log aggregation): its IPv4 address, or the /64 of its IPv6 address.
// remoteAddr is "ip:port" (net/http's Request.RemoteAddr); anything else is its own key.
func ClientKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	p := clientKey(net.TCPAddrFromAddrPort(ap))
	if !p.IsValid() {
		return remoteAddr
	}
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// clientKey is what the per-client cap counts by: the IP (IPv4, or IPv4-mapped IPv6), or the /64
// of an IPv6 address. Addresses that are not IP (unix sockets) share one key.
func clientKey(a net.Addr) netip.Prefix {
	var ap netip.AddrPort
	switch t := a.(type) {
	case *net.TCPAddr:
		ap = t.AddrPort()
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.Prefix{}
		}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// conn gives its slot back on the first Close.
type conn struct {
	net.Conn
	l    *Listener
	key  netip.Prefix
	once sync.Once
	// Guarded by l.mu: its place among the untrusted (nil when trusted or closed), and whether
	// its slot was handed to a newer connection when it was evicted.
	elem      *list.Element
	slotGiven bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}
