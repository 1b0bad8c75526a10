package operator

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/gateway/remote"
	"github.com/cortexlabs-go/cortex/internal/netlimit"
)

// Gateway modes (APIsConfig.Gateway).
const (
	GatewayEmbedded = "embedded" // the gateway listens in this process (the local provider)
	GatewayRemote   = "remote"   // `cortex gateway serve` runs apart and asks the internal endpoints
)

// The remote gateway's internal endpoints keep every decision here, where the state is (access
// rules and their unique-id bindings, API keys, the failure limiter, the verifier's cache). They
// answer only a caller with a client certificate of the gateway client CA (mutual TLS), checked
// before anything else: without it, a caller gets the 404 of a path that does not exist,
// whatever it sends, and no work is done. Why a certificate and not a bearer token: the gateway's requests carry other
// people's credentials and the client address the limiter counts by, so the operator must know
// the caller is the gateway before it reads a byte of the body; a certificate is checked in the
// TLS handshake (the key never crosses the wire, nothing to replay), the cluster CA already
// verifies the operator the other way, and the operator already verifies client certificates
// for the TokenReview webhook. A token would be a second secret, sent on every request, that
// anything which logs headers could leak.

// maxAuthorizeBody bounds an authorize request: two credential headers of at most 16 KiB each
// (gateway.Credential refuses longer ones), a few values each, and the API's name.
const maxAuthorizeBody = 256 << 10

// routeHub holds the current routing table for the remote gateway's long polls.
type routeHub struct {
	mu      sync.Mutex
	epoch   string // differs between runs of the operator, so a version never means two tables
	n       uint64
	routes  map[string]string
	changed chan struct{} // closed and replaced when routes change
	// stopping is closed when the operator begins to stop: long polls answer at once and close
	// their connections, so gateways ask the next operator (a rollout's new pod) instead of
	// keeping the routes of one that no longer hears of deploys until the poll times out.
	stopping chan struct{}
	stopOnce sync.Once
}

func newRouteHub() *routeHub {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &routeHub{epoch: hex.EncodeToString(b[:]), routes: map[string]string{}, changed: make(chan struct{}), stopping: make(chan struct{})}
}

// stop ends the long polls (see stopping).
func (h *routeHub) stop() { h.stopOnce.Do(func() { close(h.stopping) }) }

// set is the workload manager's OnRoutes in remote mode.
func (h *routeHub) set(m map[string]string) {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	h.mu.Lock()
	h.routes, h.n = c, h.n+1
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *routeHub) snapshot() (remote.Routes, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return remote.Routes{Version: h.epoch + "-" + strconv.FormatUint(h.n, 10), Routes: h.routes}, h.changed
}

// clientCAs is the CAs of one kind of caller (the webhook's, the remote gateway's).
type clientCAs []*x509.Certificate

// issued reports whether the request's client certificate chains to one of cas. The TLS
// handshake verified the chain (for client auth) against every CA the server asks for; this
// picks the caller's kind by the root of a verified chain, at no signature cost per request.
func (cas clientCAs) issued(r *http.Request) bool {
	if len(cas) == 0 || r.TLS == nil {
		return false
	}
	for _, chain := range r.TLS.VerifiedChains {
		if len(chain) == 0 {
			continue
		}
		root := chain[len(chain)-1]
		for _, ca := range cas {
			if root.Equal(ca) {
				return true
			}
		}
	}
	return false
}

// gatewayOnly answers 404, as for a path that does not exist, unless the caller is the gateway; for the gateway, it keeps the
// connection (the middleware closes those of requests without Authorization), trusts it at the
// connection caps, and keeps its requests out of the audit trail (the gateway's access log has
// one line per decision).
func (s *Server) gatewayOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := r.Context().Value(requestKey).(*requestState)
		if a == nil {
			a = &requestState{}
		}
		if !s.gatewayClientCAs.issued(r) {
			// Exactly what the catch-all answers a path that does not exist: to anyone but the
			// gateway, remote mode adds nothing to the operator's surface.
			a.decision, a.reason = "deny", "no_gateway_certificate"
			WriteError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
			return
		}
		a.decision, a.reason, a.quiet = "allow", "gateway", true
		w.Header().Del("Connection")
		if c, ok := r.Context().Value(connKey).(net.Conn); ok {
			netlimit.Trust(c)
		}
		next(w, r)
	}
}

func (s *Server) registerGatewayRoutes() {
	s.mux.HandleFunc("POST "+remote.AuthorizePath, s.gatewayOnly(s.handleGatewayAuthorize))
	s.mux.HandleFunc("GET "+remote.RoutesPath, s.gatewayOnly(s.handleGatewayRoutes))
	// Other methods on these paths: the same 404 for anyone but the gateway.
	for _, p := range []string{remote.AuthorizePath, remote.RoutesPath} {
		s.mux.HandleFunc(p, s.gatewayOnly(func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method %s not allowed", r.Method)
		}))
	}
}

// handleGatewayAuthorize is the decision for one request at the remote gateway: the same
// authorizeAPI the embedded gateway calls, on a request made of what the gateway sent. The
// client address is trusted for the failure limiter only because the caller is the gateway.
func (s *Server) handleGatewayAuthorize(w http.ResponseWriter, r *http.Request) {
	var req remote.AuthorizeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAuthorizeBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.API == "" || len(req.API) > 253 {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "want an authorize request with an API name")
		return
	}
	ap, err := netip.ParseAddrPort(req.Client)
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "client: want ip:port")
		return
	}
	h := http.Header{}
	for _, v := range req.Authorization {
		h.Add("Authorization", v)
	}
	for _, v := range req.APIKey {
		h.Add(gateway.APIKeyHeader, v)
	}
	fr, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "/", nil)
	fr.Header, fr.RemoteAddr = h, ap.String()
	WriteJSON(w, http.StatusOK, remote.FromDecision(s.authorizeAPI(fr, req.API)))
}

// handleGatewayRoutes answers the routing table: at once when the gateway's version is not the
// current one, else when it changes or after remote.LongPoll (the same version again).
func (s *Server) handleGatewayRoutes(w http.ResponseWriter, r *http.Request) {
	rt, changed := s.routeHub.snapshot()
	if r.URL.Query().Get(remote.KnownParam) == rt.Version {
		t := time.NewTimer(remote.LongPoll)
		defer t.Stop()
		select {
		case <-changed:
			rt, _ = s.routeHub.snapshot()
		case <-t.C:
		case <-s.routeHub.stopping:
		case <-r.Context().Done():
			return
		}
	}
	select {
	case <-s.routeHub.stopping:
		// The gateway's next poll goes on a new connection, to an operator that keeps running.
		w.Header().Set("Connection", "close")
	default:
	}
	WriteJSON(w, http.StatusOK, rt)
}

// checkGateway validates the gateway mode (Config.setDefaults).
func (c *APIsConfig) checkGateway() error {
	switch c.Gateway {
	case "":
		c.Gateway = GatewayEmbedded
	case GatewayEmbedded:
	case GatewayRemote:
		if len(c.PublicEndpoints) == 0 {
			return errors.New("apis.public_endpoints: required with apis.gateway remote (the URLs clients dial to reach the gateway; tokens for iam APIs are bound to them)")
		}
		if c.GatewayClientCAFile == "" {
			return errors.New("apis.gateway_client_ca_file: required with apis.gateway remote (only a gateway with a client certificate of this CA may ask the operator)")
		}
		return nil
	default:
		return fmt.Errorf("apis.gateway: %q is not embedded or remote", c.Gateway)
	}
	if c.GatewayClientCAFile != "" {
		return errors.New("apis.gateway_client_ca_file: only with apis.gateway remote")
	}
	return nil
}
