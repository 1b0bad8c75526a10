package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The gateway's own HTTPS/1.1 server. net/http's server costs, per request, a goroutine for its
// background read and several cross-goroutine wake-ups; on a keep-alive proxy path that is a
// large share of the CPU. This loop reads a request, runs ServeHTTP and writes the response on
// the connection's goroutine, with the same timeouts (see Options).

// Serve accepts connections on ln, wraps them in TLS with cfg (HTTP/1.1 only) and serves them
// until Shutdown or Close. It returns http.ErrServerClosed after Shutdown or Close.
func (g *Gateway) Serve(ln net.Listener, cfg *tls.Config) error {
	cfg = cfg.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	cfg.NextProtos = []string{"http/1.1", "http/1.0"}
	g.srvMu.Lock()
	if g.closing {
		g.srvMu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	g.listeners = append(g.listeners, ln)
	if g.conns == nil {
		g.conns = map[*serverConn]struct{}{}
	}
	g.srvMu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			g.srvMu.Lock()
			closing := g.closing
			g.srvMu.Unlock()
			if closing {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		sc := &serverConn{g: g, raw: c, tc: tls.Server(c, cfg)}
		g.srvMu.Lock()
		if g.closing {
			g.srvMu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		g.conns[sc] = struct{}{}
		g.wg.Add(1)
		g.srvMu.Unlock()
		go sc.serve()
	}
}

// Shutdown stops accepting, closes idle connections and waits (bounded by ctx) for requests in
// flight; then it closes what is left.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.srvMu.Lock()
	g.closing = true
	for _, ln := range g.listeners {
		ln.Close()
	}
	for sc := range g.conns {
		if sc.idle.Load() {
			sc.raw.Close()
		}
	}
	g.srvMu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.closeConns()
		<-done
		return ctx.Err()
	}
}

func (g *Gateway) closeConns() {
	g.srvMu.Lock()
	defer g.srvMu.Unlock()
	g.closing = true
	for _, ln := range g.listeners {
		ln.Close()
	}
	for sc := range g.conns {
		sc.raw.Close()
	}
}

type serverConn struct {
	g    *Gateway
	raw  net.Conn
	tc   *tls.Conn
	idle atomicBool
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) Store(v bool) { b.mu.Lock(); b.v = v; b.mu.Unlock() }
func (b *atomicBool) Load() bool   { b.mu.Lock(); defer b.mu.Unlock(); return b.v }

var (
	srvReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	srvWriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (sc *serverConn) serve() {
	g := sc.g
	defer func() {
		sc.raw.Close()
		g.srvMu.Lock()
		delete(g.conns, sc)
		g.srvMu.Unlock()
		g.wg.Done()
	}()
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler && g.opts.ErrorLog != nil {
			g.opts.ErrorLog("gateway: panic serving %s: %v", sc.raw.RemoteAddr(), p)
		}
	}()
	_ = sc.tc.SetDeadline(time.Now().Add(g.opts.ReadHeaderTimeout))
	if err := sc.tc.Handshake(); err != nil {
		return
	}
	br := srvReaderPool.Get().(*bufio.Reader)
	br.Reset(sc.tc)
	bw := srvWriterPool.Get().(*bufio.Writer)
	bw.Reset(sc.tc)
	defer func() {
		br.Reset(nil)
		srvReaderPool.Put(br)
		bw.Reset(nil)
		srvWriterPool.Put(bw)
	}()
	remote := sc.raw.RemoteAddr().String()
	state := sc.tc.ConnectionState()
	for first := true; ; first = false {
		// Wait for the next request (idle timeout), then bound reading its headers.
		// Idle, then check for shutdown: either we see closing, or Shutdown sees us idle and
		// closes the connection under the Peek.
		sc.idle.Store(true)
		g.srvMu.Lock()
		closing := g.closing
		g.srvMu.Unlock()
		if closing {
			return
		}
		if !first {
			_ = sc.tc.SetReadDeadline(time.Now().Add(g.opts.IdleTimeout))
			if _, err := br.Peek(1); err != nil {
				return
			}
		}
		sc.idle.Store(false)
		now := time.Now()
		_ = sc.tc.SetReadDeadline(now.Add(g.opts.ReadHeaderTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			if err != io.EOF && !isTimeout(err) && !errors.Is(err, net.ErrClosed) {
				writeRaw(bw, http.StatusBadRequest, "bad_request", "malformed request")
			}
			return
		}
		_ = sc.tc.SetReadDeadline(now.Add(g.opts.ReadTimeout))
		_ = sc.tc.SetWriteDeadline(now.Add(g.opts.WriteTimeout))
		req.RemoteAddr = remote
		req.TLS = &state
		body := &serverBody{rc: req.Body}
		if req.Header.Get("Expect") != "" {
			if !strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
				writeRaw(bw, http.StatusExpectationFailed, "bad_request", "unsupported Expect header")
				return
			}
			body.continueW = bw
		}
		req.Body = body
		w := &serverResponse{bw: bw, req: req, header: make(http.Header, 8)}
		g.ServeHTTP(w, req)
		if err := w.finish(); err != nil {
			return
		}
		if !body.eof && (w.closeAfter || req.Close) {
			// Answered before the body was read (413): let the client read the answer
			// before the close, instead of resetting the connection under it.
			_ = sc.tc.CloseWrite()
			_ = sc.tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _ = io.CopyN(io.Discard, sc.tc, 4<<20)
			return
		}
		if w.closeAfter || req.Close || !body.drain() {
			return
		}
	}
}

// writeRaw answers a request the server could not parse, then the connection closes.
func writeRaw(bw *bufio.Writer, status int, code, msg string) {
	data := `{"error":{"code":"` + code + `","message":"` + msg + `"}}` + "\n"
	bw.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(data)) + "\r\n\r\n" + data)
	_ = bw.Flush()
}

// serverBody sends "100 Continue" before the first read when the client asked for it, and
// tracks whether the body was read to the end.
type serverBody struct {
	rc        io.ReadCloser
	continueW *bufio.Writer
	eof       bool
}

func (b *serverBody) Read(p []byte) (int, error) {
	if b.continueW != nil {
		b.continueW.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := b.continueW.Flush(); err != nil {
			return 0, err
		}
		b.continueW = nil
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *serverBody) Close() error { return nil }

// drain reads what is left of a small unread body so the connection can be reused.
func (b *serverBody) drain() bool {
	if b.eof {
		return true
	}
	if b.continueW != nil {
		return false // the client waits for 100 Continue: the body never comes; close
	}
	n, err := io.CopyN(io.Discard, b.rc, 256<<10)
	return err == io.EOF && n < 256<<10
}

// serverResponse is the http.ResponseWriter of one request.
type serverResponse struct {
	bw          *bufio.Writer
	req         *http.Request
	header      http.Header
	wroteHeader bool
	status      int
	chunked     bool
	noBody      bool
	remaining   int64 // -1: unknown
	closeAfter  bool
	failed      error
}

func (w *serverResponse) Header() http.Header { return w.header }

func (w *serverResponse) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status >= 100 && status < 200 {
		return // informational answers are not forwarded
	}
	w.wroteHeader = true
	w.status = status
	h := w.header
	w.noBody = w.req.Method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
	w.remaining = -1
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.remaining = n
		} else {
			h.Del("Content-Length")
		}
	}
	if strings.EqualFold(h.Get("Connection"), "close") || w.req.Close {
		w.closeAfter = true
	}
	if !w.noBody && w.remaining < 0 {
		if w.req.ProtoAtLeast(1, 1) {
			w.chunked = true
		} else {
			w.closeAfter = true // HTTP/1.0: the end of the body is the end of the connection
		}
	}
	bw := w.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(status))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(status))
	bw.WriteString("\r\n")
	h.Del("Transfer-Encoding")
	if w.closeAfter {
		h.Set("Connection", "close")
	} else {
		h.Del("Connection")
	}
	for k, vs := range h {
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(headerValue(v))
			bw.WriteString("\r\n")
		}
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate())
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

func (w *serverResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if w.header.Get("Content-Type") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.failed != nil {
		return 0, w.failed
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	if w.remaining >= 0 {
		if int64(len(p)) > w.remaining {
			return 0, errors.New("gateway: write beyond Content-Length")
		}
		w.remaining -= int64(len(p))
	}
	if w.chunked {
		w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		w.bw.WriteString("\r\n")
	}
	n, err := w.bw.Write(p)
	if w.chunked && err == nil {
		_, err = w.bw.WriteString("\r\n")
	}
	if err != nil {
		w.failed = err
	}
	return n, err
}

// Flush sends what is buffered (streams).
func (w *serverResponse) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if err := w.bw.Flush(); err != nil {
		w.failed = err
	}
}

// FlushError is used by http.ResponseController.
func (w *serverResponse) FlushError() error {
	w.Flush()
	return w.failed
}

func (w *serverResponse) finish() error {
	if !w.wroteHeader {
		w.header.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
	if w.chunked {
		w.bw.WriteString("0\r\n\r\n")
	}
	if w.remaining > 0 {
		w.closeAfter = true // short body: the client must not reuse this connection
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.failed
}

var (
	dateMu    sync.Mutex
	dateSec   int64
	dateCache string
)

func httpDate() string {
	now := time.Now()
	dateMu.Lock()
	defer dateMu.Unlock()
	if s := now.Unix(); s != dateSec {
		dateSec = s
		dateCache = now.UTC().Format(http.TimeFormat)
	}
	return dateCache
}
