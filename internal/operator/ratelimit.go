package operator

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failureLimiter limits authentication failures per client key (IPv4 address or IPv6 /64): a
// client that keeps sending bad tokens is answered 429 before its tokens cost a verification (or
// an STS call). It remembers at most max clients; when full, the client that failed least
// recently is forgotten (O(1)), so a flood of new addresses can never switch limiting off for
// the others.
type failureLimiter struct {
	mu      sync.RWMutex
	perSec  rate.Limit
	burst   int
	max     int
	clients map[string]*list.Element // of *limitedClient
	lru     list.List                // least recently failed first
}

type limitedClient struct {
	key string
	lim *rate.Limiter
}

func newFailureLimiter(perSec float64, burst, maxClients int) *failureLimiter {
	return &failureLimiter{perSec: rate.Limit(perSec), burst: burst, max: maxClients, clients: map[string]*list.Element{}}
}

// blocked reports whether key has used up its failures.
func (l *failureLimiter) blocked(key string, now time.Time) bool {
	l.mu.RLock() // every request asks; only failures write
	defer l.mu.RUnlock()
	e, ok := l.clients[key]
	return ok && e.Value.(*limitedClient).lim.TokensAt(now) < 1
}

// fail records one failure of key.
func (l *failureLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max {
			oldest := l.lru.Front()
			delete(l.clients, oldest.Value.(*limitedClient).key)
			l.lru.Remove(oldest)
		}
		e = l.lru.PushBack(&limitedClient{key: key, lim: rate.NewLimiter(l.perSec, l.burst)})
		l.clients[key] = e
	} else {
		l.lru.MoveToBack(e)
	}
	e.Value.(*limitedClient).lim.AllowN(now, 1)
}
