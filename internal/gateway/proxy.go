package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The upstream side of the gateway: a small HTTP/1.1 client tuned for the hot path. A request
// is written and its response read by the handler's own goroutine on a pooled keep-alive
// connection (no hand-off to transport goroutines), and a small request goes out in a single
// write. Bodies of unknown or large size are streamed on a fresh connection.

// smallBody is the largest request body that is read into memory before it is forwarded (so
// the request can be retried on a fresh connection when a pooled one turns out to be closed).
const smallBody = 64 << 10

type upstreamConn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	idleFrom time.Time
}

// idleTimeout closes pooled connections unused this long (replicas that restarted listen on
// new ports, so connections to old ones would otherwise linger).
const idleTimeout = 60 * time.Second

type connPool struct {
	mu   sync.Mutex
	idle map[string][]*upstreamConn
	max  int
}

func newPool(maxPerHost int) *connPool {
	return &connPool{idle: map[string][]*upstreamConn{}, max: maxPerHost}
}

func (p *connPool) get(addr string) *upstreamConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[addr]
	if len(l) == 0 {
		return nil
	}
	c := l[len(l)-1]
	p.idle[addr] = l[:len(l)-1]
	return c
}

func (p *connPool) put(addr string, c *upstreamConn) {
	c.idleFrom = time.Now()
	p.mu.Lock()
	if len(p.idle[addr]) < p.max {
		p.idle[addr] = append(p.idle[addr], c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.Close()
}

// sweep closes connections idle longer than idleTimeout.
func (p *connPool) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.idle {
		keep := l[:0]
		for _, c := range l {
			if now.Sub(c.idleFrom) > idleTimeout {
				c.Close()
			} else {
				keep = append(keep, c)
			}
		}
		if len(keep) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = keep
		}
	}
}

func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.idle {
		for _, c := range l {
			c.Close()
		}
		delete(p.idle, addr)
	}
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}
)

func dial(addr string) (*upstreamConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c)
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c)
	return &upstreamConn{Conn: c, br: br, bw: bw}, nil
}

func (c *upstreamConn) Close() error {
	err := c.Conn.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.br, c.bw = nil, nil
	}
	return err
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1), nor is Expect (the gateway answers it).
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Expect": true, "Content-Length": true, "Host": true,
}

func connectionTokens(h http.Header) map[string]bool {
	var m map[string]bool
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[http.CanonicalHeaderKey(tok)] = true
			}
		}
	}
	return m
}

// writeHead writes the request line and headers of the forwarded request.
func writeHead(bw *bufio.Writer, r *http.Request, upstream, path string, length int64) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	if r.URL.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(r.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(upstream)
	bw.WriteString("\r\n")
	drop := connectionTokens(r.Header)
	for k, vs := range r.Header {
		if hopHeaders[k] || drop[k] || k == "X-Forwarded-For" || k == "X-Forwarded-Proto" || k == "X-Forwarded-Host" {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(headerValue(v))
			bw.WriteString("\r\n")
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
			bw.WriteString(headerValue(strings.Join(prior, ", ")))
			bw.WriteString(", ")
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	bw.WriteString(headerValue(r.Host))
	bw.WriteString("\r\n")
	switch {
	case length >= 0:
		if length > 0 || (r.Method != "GET" && r.Method != "HEAD") {
			bw.WriteString("Content-Length: ")
			bw.WriteString(strconv.FormatInt(length, 10))
			bw.WriteString("\r\n")
		}
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

// headerValue strips CR and LF (net/http already rejects them in requests; defence in depth).
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// errStale marks a failure of a reused connection before any response byte: safe to retry
// when the request was fully buffered.
var errStale = errors.New("stale upstream connection")

type upstreamError struct {
	status int
	code   string
	msg    string
	err    error
}

func (e *upstreamError) Error() string { return e.msg + ": " + e.err.Error() }

// forward sends r to upstream and writes the answer to w. It returns an error only when
// nothing has been written to w yet.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, upstream, path string, info *reqInfo) error {
	var small []byte
	length := r.ContentLength
	hasBody := r.Body != nil && r.Body != http.NoBody
	if !hasBody {
		length = 0
	}
	if hasBody && length >= 0 && length <= smallBody {
		buf := make([]byte, length)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return g.bodyError(err, info)
		}
		small = buf
	}
	if !hasBody || small != nil {
		for attempt := 0; attempt < 2; attempt++ {
			c := g.pool.get(upstream)
			reused := c != nil
			if c == nil {
				var err error
				if c, err = dial(upstream); err != nil {
					return &upstreamError{status: http.StatusBadGateway, code: "upstream_error", msg: "the API's replica failed to answer", err: err}
				}
			}
			err := g.roundTrip(w, r, c, upstream, path, length, small, nil)
			if errors.Is(err, errStale) && reused {
				continue
			}
			return err
		}
		return &upstreamError{status: http.StatusBadGateway, code: "upstream_error", msg: "the API's replica failed to answer", err: errStale}
	}
	// A large or chunked body: streamed on a fresh connection.
	c, err := dial(upstream)
	if err != nil {
		return &upstreamError{status: http.StatusBadGateway, code: "upstream_error", msg: "the API's replica failed to answer", err: err}
	}
	return g.roundTrip(w, r, c, upstream, path, length, nil, markedReader{r.Body})
}

func (g *Gateway) bodyError(err error, info *reqInfo) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || (info != nil && info.tooLarge.Load()) {
		return &upstreamError{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			msg: "request body larger than " + strconv.FormatInt(g.opts.MaxBodyBytes, 10) + " bytes", err: err}
	}
	return &upstreamError{status: 499, code: "client_error", msg: "reading the request body failed", err: err}
}

// roundTrip writes the request on c and copies the response to w. It owns c: it either returns
// it to the pool or closes it.
func (g *Gateway) roundTrip(w http.ResponseWriter, r *http.Request, c *upstreamConn, upstream, path string, length int64, small []byte, stream io.Reader) (err error) {
	keep := false
	defer func() {
		if keep {
			// The deadline stays; the next request on this connection sets its own.
			g.pool.put(upstream, c)
		} else {
			c.Close()
		}
	}()
	_ = c.SetDeadline(time.Now().Add(g.opts.UpstreamTimeout))
	writeHead(c.bw, r, upstream, path, length)
	if small != nil {
		c.bw.Write(small)
	}
	if stream != nil {
		var dst io.Writer = c.bw
		var cw io.WriteCloser
		if length < 0 {
			cw = httputil.NewChunkedWriter(c.bw)
			dst = cw
		}
		buf := bufferPool{}.Get()
		_, err := io.CopyBuffer(dst, stream, buf)
		bufferPool{}.Put(buf)
		if err != nil {
			var re *readErr
			if errors.As(err, &re) {
				return g.bodyError(re.err, nil)
			}
			return g.upstreamErr(err)
		}
		if cw != nil {
			cw.Close()
			c.bw.WriteString("\r\n")
		}
	}
	if err := c.bw.Flush(); err != nil {
		if small != nil || stream == nil {
			return fmt.Errorf("%w: %v", errStale, err)
		}
		return g.upstreamErr(err)
	}
	resp, err := http.ReadResponse(c.br, r)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, r)
	}
	if err != nil {
		if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)) && stream == nil {
			return fmt.Errorf("%w: %v", errStale, err)
		}
		return g.upstreamErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return &upstreamError{status: http.StatusBadGateway, code: "upstream_error", msg: "protocol upgrades are not supported", err: errors.New("101")}
	}
	h := w.Header()
	drop := connectionTokens(resp.Header)
	for k, vs := range resp.Header {
		if hopHeaders[k] || drop[k] {
			continue
		}
		h[k] = vs
	}
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	buf := bufferPool{}.Get()
	defer bufferPool{}.Put(buf)
	var copyErr error
	if resp.ContentLength < 0 {
		// A stream: pass every chunk on as it comes.
		rc := http.NewResponseController(w)
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					copyErr = werr
					break
				}
				_ = rc.Flush()
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				copyErr = rerr
				break
			}
		}
	} else {
		_, copyErr = io.CopyBuffer(w, resp.Body, buf)
	}
	if copyErr != nil {
		// Headers are out: abort the client's response so it sees a truncated body.
		panic(http.ErrAbortHandler)
	}
	keep = !resp.Close && !r.Close
	return nil
}

func (g *Gateway) upstreamErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &upstreamError{status: http.StatusGatewayTimeout, code: "upstream_timeout", msg: "the API did not answer in time", err: err}
	}
	return &upstreamError{status: http.StatusBadGateway, code: "upstream_error", msg: "the API's replica failed to answer", err: err}
}

func isReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

// readErr marks an error from the client's body (vs. from the upstream connection).
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }

type markedReader struct{ r io.Reader }

func (m markedReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		return n, &readErr{err}
	}
	return n, err
}
