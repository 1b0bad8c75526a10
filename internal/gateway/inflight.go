package gateway

import (
	"net/http"
	"sync"

	"github.com/cortexlabs-go/cortex/internal/netlimit"
)

// http2MaxStreams is how many requests one HTTP/2 connection may have open at once (net/http's
// default is 250). A client that wants more waits for a stream (its HTTP/2 library queues the
// request) or opens more connections, which the connection caps count.
const http2MaxStreams = 32

// maxConnsPerReplica caps the gateway's connections to one replica (in use, dialing and idle):
// requests beyond it wait for one of them (still counted by the in-flight caps) instead of
// opening sockets without bound in the operator's process.
const maxConnsPerReplica = 256

// inFlight counts the requests being served, per client key (netlimit.ClientKey: the IP
// address, an IPv6 client's /64) and in total. The connection caps alone do not bound them:
// one HTTP/2 connection carries many requests at once.
type inFlight struct {
	perClient, total int // caps; zero or negative: no cap

	mu       sync.Mutex
	n        int
	byClient map[string]int
}

func newInFlight(perClient, total int) *inFlight {
	return &inFlight{perClient: perClient, total: total, byClient: map[string]int{}}
}

// acquire takes a slot for a request from client, or reports false when a cap is reached.
func (f *inFlight) acquire(client string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (f.total > 0 && f.n >= f.total) || (f.perClient > 0 && f.byClient[client] >= f.perClient) {
		return false
	}
	f.n++
	f.byClient[client]++
	return true
}

func (f *inFlight) release(client string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if n := f.byClient[client] - 1; n > 0 {
		f.byClient[client] = n
	} else {
		delete(f.byClient, client)
	}
}

// admit takes an in-flight slot for r, or answers 429 and reports false. The caller calls
// release when it is done with the request.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	client := netlimit.ClientKey(r.RemoteAddr)
	if !g.inFlight.acquire(client) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "too many requests in flight; retry later")
		return nil, false
	}
	return func() { g.inFlight.release(client) }, true
}
