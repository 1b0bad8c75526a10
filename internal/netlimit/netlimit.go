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
// has a whole /64).
package netlimit

import (
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
	// OnRefuse, if set, is told about each connection closed at a cap (reason "per-client" or
	// "total"). It runs in Accept: keep it cheap (a counter, a sampled log).
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

	mu       sync.Mutex
	open     int
	byClient map[netip.Prefix]int

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
		reason := l.take(key)
		if reason == "" {
			return &conn{Conn: c, l: l, key: key}, nil
		}
		c.Close()
		if l.limits.OnRefuse != nil {
			l.limits.OnRefuse(c.RemoteAddr(), reason)
		}
	}
}

// take reserves a slot for a client, or says which cap refuses it.
func (l *Listener) take(key netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.Total > 0 && l.open >= l.limits.Total {
		l.refusedTotal.Add(1)
		return "total"
	}
	if l.limits.PerClient > 0 && l.byClient[key] >= l.limits.PerClient {
		l.refusedPerClient.Add(1)
		return "per-client"
	}
	l.open++
	l.byClient[key]++
	return ""
}

func (l *Listener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
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

// ClientKey names the client a connection or request comes from the way the per-client cap
// counts it ("192.0.2.7/32", "2001:db8:1:2::/64"), for other per-client limits to agree with
// this one. Addresses that are not IP share one key.
func ClientKey(a net.Addr) string { return clientKey(a).String() }

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
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
