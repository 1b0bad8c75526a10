package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cortexlabs-go/cortex/internal/netlimit"
)

// The upstream side is net/http/httputil's ReverseProxy on a tuned http.Transport, and the
// server side is net/http's Server. Both are the standard library on purpose: request parsing,
// request-line and header serialization, hop-by-hop handling and limits are where proxies get
// smuggled through, and they are better left to code that the whole Go ecosystem exercises.

// target is where one request goes; it travels in the request's context to the Rewrite hook.
type target struct {
	upstream string // host:port of the chosen replica
	path     string // decoded path below the API's endpoint ("/" at least)
	rawPath  string // the same, as the client escaped it (may be empty)
	info     *reqInfo
}

// smallBody is the largest request body read into memory before it is forwarded, so that the
// request can be sent again when a pooled connection turns out to be closed (see retryIdle).
const smallBody = 64 << 10

// retryIdle sends a request once more, on a fresh connection, when the pooled keep-alive
// connection it went out on turned out to be closed by the replica (the keep-alive race: the
// replica hung up an idle connection just as the gateway picked it) and the request provably
// never reached it: the transport never finished writing it (httptrace's WroteRequest did not
// fire, or fired with an error). An error alone (EOF, reset) proves nothing: a replica that read
// the whole request, acted on it and then lost the connection fails the same way, and sending a
// POST again would run it twice. So a request that was written is never resent, whatever the
// method: its client gets 502 and decides. Never on a fresh connection, never after an answer
// started, never for a streamed body (only buffered bodies of at most 64 KiB can be resent).
// http.Transport retries on its own only what it knows was not written at all; this adds the
// cases where the connection's close reached the transport as an error before the write did.
type retryIdle struct{ rt http.RoundTripper }

func (t retryIdle) RoundTrip(r *http.Request) (*http.Response, error) {
	var reused, written atomic.Bool
	ctx := httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	})
	resp, err := t.rt.RoundTrip(r.WithContext(ctx))
	if err == nil || !reused.Load() || written.Load() || r.Context().Err() != nil || !closedUnderUs(err) {
		return resp, err
	}
	again := r.Clone(r.Context())
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return resp, err
		}
		if again.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.rt.RoundTrip(again)
}

// closedUnderUs reports the ways a closed connection shows: net/http's "server closed idle
// connection", a reset, a broken pipe, an EOF before any answer, or the transport's own close
// of that connection (its reader saw the EOF) while the request was being written.
func closedUnderUs(err error) bool {
	return err.Error() == "http: server closed idle connection" || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

// bufferSmallBody reads a small request body of known length into memory and makes it
// replayable; larger or chunked bodies keep streaming.
func bufferSmallBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength < 0 || r.ContentLength > smallBody {
		return nil
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return nil
}

func newTransport(opts Options) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   maxConnsPerReplica,
		MaxConnsPerHost:       maxConnsPerReplica,
		IdleConnTimeout:       60 * time.Second, // replicas that restarted listen on new ports
		ResponseHeaderTimeout: opts.UpstreamTimeout,
		DisableCompression:    true, // pass bodies through as the API wrote them
		// Replicas are plain HTTP/1.1 on loopback.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}

func (g *Gateway) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(ctxKey{}).(*target)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = t.upstream
			pr.Out.URL.Path, pr.Out.URL.RawPath = t.path, t.rawPath
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = ""
			// The server already answered the client's Expect: 100-continue; the replica gets
			// the body without a second round of it.
			pr.Out.Header.Del("Expect")
			// Client-sent X-Forwarded-* are dropped by Rewrite; these are the gateway's own.
			pr.SetXForwarded()
		},
		Transport:    retryIdle{g.transport},
		BufferPool:   bufferPool{},
		ErrorHandler: g.proxyError,
		ErrorLog:     newStdLogger(g.opts.ErrorLog),
	}
}

// proxyError answers a request the replica could not: 413 when the body went over the limit,
// 504 on a timeout, 502 otherwise; nothing when the client itself went away.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t, _ := r.Context().Value(ctxKey{}).(*target)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || (t != nil && t.info.tooLarge.Load()):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "request body larger than "+strconv.FormatInt(g.opts.MaxBodyBytes, 10)+" bytes")
	case t != nil && t.info.bodyTimeout.Load():
		// The client's body did not arrive in time (ReadTimeout); the replica is not to blame.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time")
	case r.Context().Err() != nil || errors.Is(err, context.Canceled):
		w.WriteHeader(499) // the client went away; nobody reads this, the access log does
	case isTimeout(err):
		writeError(w, http.StatusGatewayTimeout, "upstream_timeout", "the API did not answer in time")
	default:
		if g.opts.ErrorLog != nil && t != nil {
			g.opts.ErrorLog("gateway: %s: %v", t.upstream, err)
		}
		writeError(w, http.StatusBadGateway, "upstream_error", "the API's replica failed to answer")
	}
}

// Serve serves HTTPS (TLS 1.2+, HTTP/1.1 and HTTP/2) on ln until Shutdown or Close; it returns
// http.ErrServerClosed then.
func (g *Gateway) Serve(ln net.Listener, cfg *tls.Config) error {
	g.srvMu.Lock()
	if g.closing {
		g.srvMu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	srv := g.ServerWithTLS(cfg)
	g.srvMu.Unlock()
	return srv.ServeTLS(g.limitListener(ln), "", "")
}

// Shutdown stops accepting, closes idle connections and waits (bounded by ctx) for requests in
// flight.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.srvMu.Lock()
	g.closing = true
	srv := g.srv
	g.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// limitListener caps connections per client address and in total (before TLS: a connection over
// a cap costs no handshake), and logs refusals at most once a minute with their count.
func (g *Gateway) limitListener(ln net.Listener) net.Listener {
	var refused atomic.Uint64
	var lastLog atomic.Int64
	return netlimit.NewListener(ln, netlimit.Limits{
		PerClient: g.opts.MaxConnsPerClient,
		Total:     g.opts.MaxConns,
		OnRefuse: func(remote net.Addr, reason string) {
			n := refused.Add(1)
			now := time.Now().UnixNano()
			last := lastLog.Load()
			if g.opts.ErrorLog != nil && now-last >= int64(time.Minute) && lastLog.CompareAndSwap(last, now) {
				g.opts.ErrorLog("gateway: connection from %s closed: %s connection cap reached (%d refused so far)", remote, reason, n)
			}
		},
	})
}
