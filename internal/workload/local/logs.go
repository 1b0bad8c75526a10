package local

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

const (
	ringLines    = 2000
	maxLineBytes = 16 << 10
	maxLogFile   = 10 << 20
)

// logHub keeps an API's recent log lines in memory and fans new ones out to followers.
type logHub struct {
	mu     sync.Mutex
	ring   []hubLine
	next   int
	full   bool
	subs   map[chan []byte]struct{}
	closed bool
	done   chan struct{}
}

// hubLine is one line of an API's log stream: who said it, and the line `cortex logs` shows.
type hubLine struct {
	replica int
	fromAPI bool   // printed by the replica's process (false: the supervisor's event)
	text    []byte // the line as streamed: its prefix, the text, a newline
	body    []byte // the text alone (a part of text)
}

// lineSource renders the lines of one replica. The replica's own output is "[api-N] text" and
// the supervisor's events are "[api-N cortex] text": every line of the API's output starts
// with "[api-N] " (pump prefixes each one, long lines piece by piece), so nothing an API prints
// can pass for an event in the stream.
type lineSource struct {
	api     string
	replica int
}

func (s lineSource) outputPrefix() string { return fmt.Sprintf("[%s-%d] ", s.api, s.replica) }
func (s lineSource) eventPrefix() string  { return fmt.Sprintf("[%s-%d cortex] ", s.api, s.replica) }

// output is a line (or a piece of one) the replica printed.
func (s lineSource) output(chunk []byte) hubLine {
	return s.line(s.outputPrefix(), bytes.TrimSuffix(chunk, []byte("\n")), true)
}

// event is something the supervisor says about the replica.
func (s lineSource) event(msg string) hubLine { return s.line(s.eventPrefix(), []byte(msg), false) }

func (s lineSource) line(prefix string, body []byte, fromAPI bool) hubLine {
	text := make([]byte, 0, len(prefix)+len(body)+1)
	text = append(text, prefix...)
	text = append(text, body...)
	text = append(text, '\n')
	return hubLine{replica: s.replica, fromAPI: fromAPI, text: text, body: text[len(prefix) : len(text)-1]}
}

func newLogHub() *logHub {
	return &logHub{ring: make([]hubLine, ringLines), subs: map[chan []byte]struct{}{}, done: make(chan struct{})}
}

func (h *logHub) add(line hubLine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.ring[h.next] = line
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
	for c := range h.subs {
		select {
		case c <- line.text:
		default: // a slow follower loses lines rather than blocking the replica
		}
	}
}

func (h *logHub) snapshot() []hubLine {
	if !h.full {
		return append([]hubLine(nil), h.ring[:h.next]...)
	}
	out := append([]hubLine(nil), h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}

func (h *logHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// stream writes the recent lines and, with follow, new ones until ctx ends or the hub closes.
func (h *logHub) stream(ctx context.Context, follow bool, w io.Writer) error {
	h.mu.Lock()
	lines := h.snapshot()
	var c chan []byte
	if follow && !h.closed {
		c = make(chan []byte, 1024)
		h.subs[c] = struct{}{}
	}
	h.mu.Unlock()
	if c != nil {
		defer func() {
			h.mu.Lock()
			delete(h.subs, c)
			h.mu.Unlock()
		}()
	}
	fl, _ := w.(interface{ Flush() })
	for _, l := range lines {
		if _, err := w.Write(l.text); err != nil {
			return err
		}
	}
	if fl != nil {
		fl.Flush()
	}
	if c == nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case l := <-c:
			if _, err := w.Write(l); err != nil {
				return err
			}
			// Drain what is queued before flushing.
			for more := true; more; {
				select {
				case l2 := <-c:
					if _, err := w.Write(l2); err != nil {
						return err
					}
				default:
					more = false
				}
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}

// replicaLog is the file a replica's output is kept in: one JSON record per line, written by
// log/slog's JSON encoder, so that nothing an API prints (escapes, bytes that are not UTF-8, text
// that looks like a record) can break the format or pass for a record of the supervisor. The
// replica's lines have "source":"api", the supervisor's own "source":"cortex". Rotated to .1 at
// maxLogFile.
type replicaLog struct {
	log  *slog.Logger
	file *rotatingFile
}

func openReplicaLog(path, api string, replica int) (*replicaLog, error) {
	if err := fsutil.EnsurePrivateDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, fsutil.PrivateFile)
	if err != nil {
		return nil, err
	}
	st, _ := f.Stat()
	var size int64
	if st != nil {
		size = st.Size()
	}
	rf := &rotatingFile{path: path, f: f, size: size}
	h := slog.NewJSONHandler(rf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.LevelKey:
			return slog.Attr{}
		case slog.TimeKey:
			return slog.Time(slog.TimeKey, a.Value.Time().UTC())
		}
		return a
	}})
	return &replicaLog{log: slog.New(h).With(slog.String("api", api), slog.Int("replica", replica)), file: rf}, nil
}

// output records one line the replica printed (without its newline).
func (l *replicaLog) output(line []byte) {
	l.log.LogAttrs(context.Background(), slog.LevelInfo, string(line), slog.String("source", "api"))
}

// event records something the supervisor has to say about the replica.
func (l *replicaLog) event(msg string) {
	l.log.LogAttrs(context.Background(), slog.LevelInfo, msg, slog.String("source", "cortex"))
}

func (l *replicaLog) close() { l.file.close() }

// rotatingFile is an append-only file moved to .1 when it would grow past maxLogFile. Each Write
// is one whole record (slog writes a record at once).
type rotatingFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

func (r *rotatingFile) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size+int64(len(b)) > maxLogFile {
		r.f.Close()
		_ = os.Rename(r.path, r.path+".1")
		f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fsutil.PrivateFile)
		if err != nil {
			r.f = nil
			return 0, err
		}
		r.f, r.size = f, 0
	}
	n, err := r.f.Write(b)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// pump copies a replica's output, line by line, into its file (a JSON record per line) and the
// API's hub (the line with the replica's prefix, for `cortex logs`).
func pump(r io.Reader, src lineSource, file *replicaLog, hub *logHub) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if file != nil {
				file.output(bytes.TrimSuffix(chunk, []byte("\n")))
			}
			hub.add(src.output(chunk))
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
}
