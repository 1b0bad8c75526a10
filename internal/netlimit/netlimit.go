// Package netlimit caps the connections a server accepts: per client IP and in total.
//
// A connection over a cap is accepted from the kernel and closed at once (the client sees the
// connection closed before any TLS handshake or HTTP exchange), rather than left waiting in the
// backlog: a client at its cap is refused, not queued, and the accept loop never stalls.
package netlimit

import (
	"net"
	"sync"
)

// Limits are the caps; zero means no cap.
type Limits struct {
	PerIP int // open connections from one client IP
	Total int // open connections in all
}

// Refusal reasons, as passed to OnRefuse.
const (
	ReasonPerIP = "conn_limit_per_client"
	ReasonTotal = "conn_limit_total"
)

// Listener wraps a listener with Limits. Counting starts at Accept and ends when the accepted
// connection is closed (once, however often Close is called).
type Listener struct {
	net.Listener
	limits Limits
	// OnRefuse, if set, is told of each refused connection (it must not block).
	OnRefuse func(ip, reason string)

	mu    sync.Mutex
	total int
	perIP map[string]int
}

// NewListener returns inner with limits.
func NewListener(inner net.Listener, limits Limits) *Listener {
	return &Listener{Listener: inner, limits: limits, perIP: map[string]int{}}
}

// Accept returns the next connection within the limits, closing those over them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		if reason := l.acquire(ip); reason != "" {
			if l.OnRefuse != nil {
				l.OnRefuse(ip, reason) // before the close: whoever sees the close can see the refusal
			}
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, release: sync.OnceFunc(func() { l.release(ip) })}, nil
	}
}

func (l *Listener) acquire(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.Total > 0 && l.total >= l.limits.Total {
		return ReasonTotal
	}
	if l.limits.PerIP > 0 && l.perIP[ip] >= l.limits.PerIP {
		return ReasonPerIP
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip) // the map holds only clients with open connections
	}
}

// Open returns the number of open connections, in all and from ip.
func (l *Listener) Open(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perIP[ip]
}

type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func hostOf(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
