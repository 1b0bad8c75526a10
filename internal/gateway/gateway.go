// Package gateway is the HTTPS front door of a cluster's APIs: it asks Options.Authorize who may
// pass (and strips credentials before forwarding), routes /<endpoint>[/...] to a
// ready replica of the API (round robin), streams bodies both ways, bounds request bodies,
// times and connections (per client and in total), refuses bodies on GET/HEAD, answers 503 with a
// JSON error when no replica is ready, tags every request with an id of its own (X-Request-Id;
// the id a client sent is kept as client_request_id) and writes a JSON access log.
package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Gateway. Zero values take the defaults in brackets.
type Options struct {
	// Targets returns the host:port addresses of the API's ready replicas (must be cheap).
	Targets func(api string) []string
	// MaxBodyBytes bounds request bodies [32 MiB]; larger requests get 413.
	MaxBodyBytes int64
	// ReadHeaderTimeout bounds reading a request's headers [10s].
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included [2m]: a slow client is cut off.
	ReadTimeout time.Duration
	// UpstreamTimeout bounds waiting for a replica's response headers [2m] (then 504).
	UpstreamTimeout time.Duration
	// WriteTimeout bounds writing the response [10m].
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections [2m].
	IdleTimeout time.Duration
	// MaxConnsPerClient caps the connections open at once from one client address (IPv6: its
	// /64) [256]; further ones are closed as they are accepted. Negative: no cap.
	MaxConnsPerClient int
	// MaxConns caps the connections open at once in total [4096]. Negative: no cap.
	MaxConns int
	// MaxRequestsPerClient caps the requests in flight at once from one client address (IPv6:
	// its /64), over all its connections [MaxConnsPerClient]: HTTP/2 carries many requests on
	// one connection, and this keeps them within what as many HTTP/1.1 connections could
	// carry. Further requests get 429 too_many_requests. Negative: no cap.
	MaxRequestsPerClient int
	// MaxRequests caps the requests in flight at once in total [MaxConns]. Negative: no cap.
	MaxRequests int
	// AccessLog receives one JSON line per request (nil: no access log). Writes are buffered and
	// flushed every second and on Close.
	AccessLog io.Writer
	// ErrorLog receives the server's own errors (nil: discarded).
	ErrorLog func(format string, args ...any)
	// Authorize decides whether a request may reach the API (see auth.go) before anything is
	// read past its headers. The operator always sets it; nil lets every request through (tests
	// and benchmarks of the proxy alone).
	Authorize func(r *http.Request, api string) Decision
}

// Gateway routes requests to API replicas. Create it with New, set routes with SetRoutes.
type Gateway struct {
	opts      Options
	routes    atomic.Pointer[routeTable]
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	log       *accessLog
	inFlight  *inFlight

	srvMu   sync.Mutex
	closing bool
	srv     *http.Server
}

type route struct {
	api      string
	endpoint string
	rr       atomic.Uint64
}

type routeTable struct {
	byEndpoint map[string]*route // lowercase-insensitive? no: exact, case-sensitive paths
}

// New returns a gateway with no routes.
func New(opts Options) *Gateway {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 2 * time.Minute
	}
	if opts.UpstreamTimeout == 0 {
		opts.UpstreamTimeout = 2 * time.Minute
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 10 * time.Minute
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.MaxConnsPerClient == 0 {
		opts.MaxConnsPerClient = 256
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 4096
	}
	if opts.MaxRequestsPerClient == 0 {
		opts.MaxRequestsPerClient = opts.MaxConnsPerClient
	}
	if opts.MaxRequests == 0 {
		opts.MaxRequests = opts.MaxConns
	}
	if opts.Targets == nil {
		opts.Targets = func(string) []string { return nil }
	}
	g := &Gateway{opts: opts, transport: newTransport(opts), inFlight: newInFlight(opts.MaxRequestsPerClient, opts.MaxRequests)}
	g.proxy = g.newProxy()
	g.routes.Store(&routeTable{byEndpoint: map[string]*route{}})
	if opts.AccessLog != nil {
		g.log = newAccessLog(opts.AccessLog)
	}
	return g
}

// SetRoutes replaces the routing table: endpoint path ("/iris") -> API name.
func (g *Gateway) SetRoutes(routes map[string]string) {
	old := g.routes.Load()
	t := &routeTable{byEndpoint: make(map[string]*route, len(routes))}
	for ep, api := range routes {
		r := &route{api: api, endpoint: ep}
		if prev, ok := old.byEndpoint[ep]; ok && prev.api == api {
			r = prev // keep the round-robin position
		}
		t.byEndpoint[ep] = r
	}
	g.routes.Store(t)
}

// lookup finds the longest endpoint that is path or a prefix of path at a '/' boundary.
func (t *routeTable) lookup(path string) (*route, string) {
	p := path
	for {
		if r, ok := t.byEndpoint[p]; ok {
			rest := path[len(p):]
			if rest == "" {
				rest = "/"
			}
			return r, rest
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			return nil, ""
		}
		p = p[:i]
	}
}

type ctxKey struct{}

// reqInfo travels with a request through the proxy (for errors and the access log).
type reqInfo struct {
	tooLarge    atomic.Bool
	bodyTimeout atomic.Bool // the client did not send its body within ReadTimeout
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id, clientID := requestIDs(r)
	w.Header().Set("X-Request-Id", id)
	rec := &recorder{ResponseWriter: w, status: 0}
	path := r.URL.Path
	var apiName, upstream string
	var d Decision
	defer func() {
		if g.log != nil {
			g.log.write(start, id, clientID, r, path, apiName, upstream, &d, rec.status, rec.bytes)
		}
	}()

	release, ok := g.admit(rec, r)
	if !ok {
		return
	}
	defer release()

	rt, rest := g.routes.Load().lookup(path)
	if rt == nil || strings.Contains(path, "/../") || strings.HasSuffix(path, "/..") {
		writeError(rec, http.StatusNotFound, "not_found", "no API at "+truncate(path, 200))
		return
	}
	apiName = rt.api
	if g.opts.Authorize != nil {
		if d = g.opts.Authorize(r, rt.api); d.Status != 0 {
			g.deny(rec, &d)
			return
		}
	}
	// Credentials are for the gateway only: the replica never sees them, whatever the API's auth.
	r.Header.Del("Authorization")
	r.Header.Del(APIKeyHeader)
	if r.ContentLength > g.opts.MaxBodyBytes {
		rec.Header().Set("Connection", "close")
		writeError(rec, http.StatusRequestEntityTooLarge, "body_too_large",
			"request body larger than "+strconv.FormatInt(g.opts.MaxBodyBytes, 10)+" bytes")
		return
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.ContentLength != 0 {
		// A body on GET or HEAD has no meaning, and a replica that does not read it (as the old
		// Python runtime did) would parse it as a request of its own on the pooled connection,
		// one the gateway never framed, logged or routed, whose answer goes to the next caller.
		// Refuse it, and close: the body is not read.
		rec.Header().Set("Connection", "close")
		writeError(rec, http.StatusBadRequest, "body_not_allowed", "a "+r.Method+" request cannot have a body")
		return
	}
	targets := g.opts.Targets(rt.api)
	if len(targets) == 0 {
		rec.Header().Set("Retry-After", "1")
		writeError(rec, http.StatusServiceUnavailable, "no_ready_replica", "API "+rt.api+" has no ready replica")
		return
	}
	upstream = targets[int(rt.rr.Add(1)%uint64(len(targets)))]
	info := &reqInfo{}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &limitedBody{rc: http.MaxBytesReader(rec, r.Body, g.opts.MaxBodyBytes), info: info}
	}
	if err := bufferSmallBody(r); err != nil {
		g.proxyError(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &target{upstream: upstream, info: info})), err)
		return
	}
	t := &target{upstream: upstream, path: rest, info: info}
	// Keep the client's escaping of the part below the endpoint (endpoints are plain paths, so
	// the escaped form starts with the same bytes); net/http re-escapes whatever is not valid.
	if escaped := r.URL.EscapedPath(); strings.HasPrefix(escaped, rt.endpoint) {
		if t.rawPath = escaped[len(rt.endpoint):]; t.rawPath == "" {
			t.rawPath = "/"
		}
	}
	g.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, t)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// limitedBody notes when the MaxBytesReader trips, so the proxy's error becomes a 413.
type limitedBody struct {
	rc   io.ReadCloser
	info *reqInfo
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.info.tooLarge.Store(true)
		} else if isTimeout(err) {
			b.info.bodyTimeout.Store(true)
		}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// errorBody is the JSON error shape shared with the operator.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e errorBody
	e.Error.Code, e.Error.Message = code, msg
	data, _ := json.Marshal(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// requestIDs gives the request the gateway's own id, always: the id the access log, the replica
// (X-Request-Id) and the client (the response's X-Request-Id) know it by, so that no caller can
// reuse another request's id or pick one that collides. The id a client sent, if it is a valid
// one, is kept as its own field: client_request_id in the access log, X-Client-Request-Id to
// the replica (a client-sent X-Client-Request-Id is dropped, so the replica can trust that
// header to be the gateway's). An invalid client id is dropped.
func requestIDs(r *http.Request) (id, clientID string) {
	id = newRequestID()
	if c := r.Header.Get("X-Request-Id"); validClientRequestID(c) {
		clientID = c
	}
	r.Header.Set("X-Request-Id", id)
	r.Header.Del("X-Client-Request-Id")
	if clientID != "" {
		r.Header.Set("X-Client-Request-Id", clientID)
	}
	return id, clientID
}

// maxClientRequestID bounds the client's request id (log lines stay small).
const maxClientRequestID = 128

// validClientRequestID accepts 1 to 128 printable ASCII characters (space to '~').
func validClientRequestID(id string) bool {
	if id == "" || len(id) > maxClientRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder captures the status and size for the access log; Unwrap keeps Flush and deadlines
// reachable through http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type bufferPool struct{}

var pool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(pool.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { pool.Put(&b) }

// Server returns the HTTPS server of the gateway (TLS 1.2+ with cert), not yet listening. Run the
// gateway with Serve: it also caps connections per client and in total, which a bare
// *http.Server serving its own listener does not.
func (g *Gateway) Server(cert tls.Certificate) *http.Server {
	return g.ServerWithTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
}

// ServerWithTLS is Server with a caller-built TLS config (its MinVersion is raised to 1.2).
func (g *Gateway) ServerWithTLS(cfg *tls.Config) *http.Server {
	cfg = cfg.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	srv := &http.Server{
		Handler:           g,
		TLSConfig:         cfg,
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		ReadTimeout:       g.opts.ReadTimeout,
		WriteTimeout:      g.opts.WriteTimeout,
		IdleTimeout:       g.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: http2MaxStreams},
	}
	srv.ErrorLog = newStdLogger(g.opts.ErrorLog)
	g.srv = srv
	return srv
}

// Close stops serving at once, drops idle upstream connections and flushes the access log.
func (g *Gateway) Close() error {
	g.srvMu.Lock()
	g.closing = true
	srv := g.srv
	g.srvMu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	g.transport.CloseIdleConnections()
	if g.log != nil {
		return g.log.close()
	}
	return nil
}

// accessLog writes one JSON line per request with log/slog's JSON encoder (whatever a client
// puts in a path comes out as valid JSON and UTF-8), buffered and flushed every second.
type accessLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newAccessLog(w io.Writer) *accessLog {
	l := &accessLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	l.log = slog.New(slog.NewJSONHandler(lockedWriter{l}, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.LevelKey, slog.MessageKey: // every line is an access record: no level, no message
				return slog.Attr{}
			case slog.TimeKey:
				return slog.Time(slog.TimeKey, a.Value.Time().UTC())
			}
			return a
		},
	}))
	go func() {
		defer close(l.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.mu.Lock()
				_ = l.w.Flush()
				l.mu.Unlock()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

// lockedWriter is the buffered file, shared with the flusher.
type lockedWriter struct{ l *accessLog }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.w.Write(p)
}

// accessEntry is the shape of an access-log line (for readers of the log, and the tests).
type accessEntry struct {
	Time       string  `json:"time"`
	RequestID  string  `json:"request_id"`
	ClientID   string  `json:"client_request_id,omitempty"`
	Remote     string  `json:"remote"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	API        string  `json:"api,omitempty"`
	Upstream   string  `json:"upstream,omitempty"`
	Auth       string  `json:"auth,omitempty"`
	Principal  string  `json:"principal,omitempty"`
	Decision   string  `json:"decision,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
}

func (l *accessLog) write(start time.Time, id, clientID string, r *http.Request, path, api, upstream string, d *Decision, status int, n int64) {
	if status == 0 {
		status = http.StatusOK
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("request_id", id),
	)
	if clientID != "" {
		attrs = append(attrs, slog.String("client_request_id", clientID))
	}
	attrs = append(attrs,
		slog.String("remote", r.RemoteAddr),
		slog.String("method", r.Method),
		slog.String("path", truncate(path, 512)))
	if api != "" {
		attrs = append(attrs, slog.String("api", api))
	}
	if upstream != "" {
		attrs = append(attrs, slog.String("upstream", upstream))
	}
	// The decision: the API's auth type, who (a verified ARN or "key:<id>", never a credential),
	// allow or deny, and why.
	if d.Auth != "" {
		attrs = append(attrs, slog.String("auth", d.Auth))
		if d.Principal != "" {
			attrs = append(attrs, slog.String("principal", d.Principal))
		}
		decision := "allow"
		if d.Status != 0 {
			decision = "deny"
		}
		attrs = append(attrs, slog.String("decision", decision), slog.String("reason", d.Reason))
	}
	attrs = append(attrs,
		slog.Int("status", status),
		slog.Int64("bytes", n),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	rec := slog.NewRecord(start, slog.LevelInfo, "", 0)
	rec.AddAttrs(attrs...)
	_ = l.log.Handler().Handle(context.Background(), rec)
}

func (l *accessLog) close() error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}
