package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/gateway"
)

// LongPoll is how long the operator holds a routes request whose version is current.
const LongPoll = 30 * time.Second

// maxAnswer bounds what the gateway reads of an operator answer (a routing table of many APIs).
const maxAnswer = 8 << 20

// ClientOptions configure a Client.
type ClientOptions struct {
	// OperatorURL is the operator's base URL (https://cortex-operator.<ns>.svc:8888).
	OperatorURL string
	// TLS verifies the operator (RootCAs: the cluster CA) and presents the gateway's client
	// certificate (Certificates).
	TLS *tls.Config
	// AuthorizeTimeout bounds one decision [15s]: verifying an identity token may take an STS call.
	AuthorizeTimeout time.Duration
	// MaxConns caps the connections to the operator [64]; more concurrent decisions wait for one.
	// The operator serves HTTP/1.1 only (one request per connection at a time) and caps
	// connections per client address, the gateway's included.
	MaxConns int
	// Logf receives the client's own errors (the operator unreachable, a bad answer).
	Logf func(format string, args ...any)
}

// Client talks to the operator's internal endpoints.
type Client struct {
	authorizeURL, routesURL string
	hc                      *http.Client
	timeout                 time.Duration
	logf                    func(format string, args ...any)
}

// NewClient checks the options and returns a client (it does not dial).
func NewClient(o ClientOptions) (*Client, error) {
	u, err := url.Parse(o.OperatorURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("operator URL %q: want https://host[:port]", o.OperatorURL)
	}
	if o.TLS == nil || o.TLS.RootCAs == nil || len(o.TLS.Certificates) == 0 {
		return nil, errors.New("the operator's CA and the gateway's client certificate are required")
	}
	if o.AuthorizeTimeout == 0 {
		o.AuthorizeTimeout = 15 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 64
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	cfg := o.TLS.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		MaxConnsPerHost:     o.MaxConns,
		MaxIdleConnsPerHost: o.MaxConns,
		IdleConnTimeout:     50 * time.Second, // below the operator's idle timeout (60 s)
		TLSHandshakeTimeout: 5 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	base := strings.TrimSuffix(u.String(), "/")
	return &Client{authorizeURL: base + AuthorizePath, routesURL: base + RoutesPath,
		hc: &http.Client{Transport: tr}, timeout: o.AuthorizeTimeout, logf: o.Logf}, nil
}

// unavailable is the decision when the operator gave none: closed, and worth retrying.
func unavailable(auth string) gateway.Decision {
	return gateway.Decision{Status: http.StatusServiceUnavailable, Code: "authorizer_unavailable",
		Message: "the gateway could not reach the cluster's operator to authorize this request; retry later",
		Auth:    auth, Reason: "operator_unavailable", RetryAfter: 2}
}

// validStatus are the statuses a decision may carry: 0 lets the request through.
func validStatus(s int) bool {
	switch s {
	case 0, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusServiceUnavailable:
		return true
	}
	return false
}

// Authorize is gateway.Options.Authorize: the operator's decision for r, or 503 when there is
// none (never a pass).
func (c *Client) Authorize(r *http.Request, api string) gateway.Decision {
	body, err := json.Marshal(AuthorizeRequest{API: api, Client: r.RemoteAddr,
		Authorization: r.Header.Values("Authorization"), APIKey: r.Header.Values(gateway.APIKeyHeader)})
	if err != nil {
		return unavailable("")
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.authorizeURL, bytes.NewReader(body))
	if err != nil {
		return unavailable("")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if r.Context().Err() == nil { // not the client going away
			c.logf("authorize: the operator is unreachable: %v", err)
		}
		return unavailable("")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		c.logf("authorize: the operator answered %s", resp.Status)
		return unavailable("")
	}
	var d Decision
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	err = dec.Decode(&d)
	if err == nil && dec.Decode(&json.RawMessage{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	// Read to the end (the answer's trailing newline): else the connection is not reused, and the
	// next decision pays a TLS handshake.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if err != nil || !isDecision(d) {
		c.logf("authorize: the operator's answer is not a decision (%v, status %d)", err, d.Status)
		return unavailable("")
	}
	return d.gateway()
}

// isDecision reports whether d is one the operator makes. A pass (status 0) must say so
// positively, with the API's auth type and a reason, as every pass of the operator does: JSON
// null, {} or an answer of another shape decode to the zero Decision, whose status 0 would
// otherwise let the request through. A refusal carries a known status and a code.
func isDecision(d Decision) bool {
	if !validStatus(d.Status) {
		return false
	}
	if d.Status != 0 {
		return d.Code != ""
	}
	switch d.Auth {
	case apispec.AuthNone, apispec.AuthIAM, apispec.AuthAPIKey:
		return d.Reason != ""
	}
	return false
}

// WatchRoutes calls set with every new routing table until ctx ends. While the operator is away
// it retries with backoff and set is not called: the gateway keeps routing by the last table.
// ready, if not nil, is closed after the first table was set.
func (c *Client) WatchRoutes(ctx context.Context, set func(map[string]string), ready chan<- struct{}) {
	known := ""
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		rt, err := c.routes(ctx, known)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logf("routes: %v (keeping the last table; retry in %s)", err, backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if rt.Version != known {
			set(rt.Routes)
			if known == "" && ready != nil {
				close(ready)
			}
			known = rt.Version
		}
	}
}

func (c *Client) routes(ctx context.Context, known string) (*Routes, error) {
	ctx, cancel := context.WithTimeout(ctx, LongPoll+15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.routesURL+"?"+KnownParam+"="+url.QueryEscape(known), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("the operator answered %s", resp.Status)
	}
	var rt Routes
	err = json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&rt)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // keep the connection
	if err != nil {
		return nil, fmt.Errorf("the operator's routing table: %w", err)
	}
	if rt.Version == "" || rt.Routes == nil {
		return nil, errors.New("the operator's routing table has no version")
	}
	for ep, api := range rt.Routes {
		if !strings.HasPrefix(ep, "/") || api == "" {
			return nil, fmt.Errorf("the operator's routing table has an invalid route %q -> %q", ep, api)
		}
	}
	return &rt, nil
}

// Close drops the idle connections to the operator.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Serve runs gw on ln (TLS with cfg) as a remote gateway: it follows the operator's routes and
// asks c for every decision (gw must have been made with Authorize: c.Authorize). It returns
// when ctx ends (after a graceful shutdown of at most 10 s) or the server fails.
func Serve(ctx context.Context, gw *gateway.Gateway, c *Client, ln net.Listener, cfg *tls.Config) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go c.WatchRoutes(watchCtx, gw.SetRoutes, nil)
	errc := make(chan error, 1)
	go func() { errc <- gw.Serve(ln, cfg) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = gw.Shutdown(shutdownCtx)
	c.Close()
	if err := gw.Close(); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
