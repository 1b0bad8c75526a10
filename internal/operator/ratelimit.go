package operator

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failureLimiter limits authentication failures per client address: a client that keeps sending
// bad tokens is answered 429 before its tokens cost a verification (or an STS call).
type failureLimiter struct {
	mu      sync.RWMutex
	perSec  rate.Limit
	burst   int
	max     int
	clients map[string]*rate.Limiter
}

func newFailureLimiter(perSec float64, burst, maxClients int) *failureLimiter {
	return &failureLimiter{perSec: rate.Limit(perSec), burst: burst, max: maxClients, clients: map[string]*rate.Limiter{}}
}

// blocked reports whether addr has used up its failures.
func (l *failureLimiter) blocked(addr string, now time.Time) bool {
	l.mu.RLock() // every request asks; only failures write
	defer l.mu.RUnlock()
	lim, ok := l.clients[addr]
	return ok && lim.TokensAt(now) < 1
}

// fail records one failure of addr.
func (l *failureLimiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients[addr]
	if !ok {
		if len(l.clients) >= l.max {
			// Forget clients whose budget has fully refilled; they are indistinguishable from new ones.
			for a, c := range l.clients {
				if c.TokensAt(now) >= float64(l.burst) {
					delete(l.clients, a)
				}
			}
			if len(l.clients) >= l.max {
				return // under a flood of addresses, fail open on limiting only, never on authentication
			}
		}
		lim = rate.NewLimiter(l.perSec, l.burst)
		l.clients[addr] = lim
	}
	lim.AllowN(now, 1)
}
