package local

import (
	"bufio"
	"context"
	"io"
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
	ring   [][]byte
	next   int
	full   bool
	subs   map[chan []byte]struct{}
	closed bool
	done   chan struct{}
}

func newLogHub() *logHub {
	return &logHub{ring: make([][]byte, ringLines), subs: map[chan []byte]struct{}{}, done: make(chan struct{})}
}

func (h *logHub) add(line []byte) {
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
		case c <- line:
		default: // a slow follower loses lines rather than blocking the replica
		}
	}
}

func (h *logHub) snapshot() [][]byte {
	if !h.full {
		return append([][]byte(nil), h.ring[:h.next]...)
	}
	out := append([][]byte(nil), h.ring[h.next:]...)
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
		if _, err := w.Write(l); err != nil {
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

// replicaLog is the file a replica's output is captured in (rotated to .1 at maxLogFile).
type replicaLog struct {
	path string
	f    *os.File
	size int64
}

func openReplicaLog(path string) (*replicaLog, error) {
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
	return &replicaLog{path: path, f: f, size: size}, nil
}

func (l *replicaLog) write(b []byte) {
	if l.size+int64(len(b)) > maxLogFile {
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fsutil.PrivateFile)
		if err != nil {
			return
		}
		l.f, l.size = f, 0
	}
	n, _ := l.f.Write(b)
	l.size += int64(n)
}

// pump copies a replica's output, line by line with a prefix, into its file and the API's hub.
func pump(r io.Reader, prefix string, file *replicaLog, hub *logHub) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			line := make([]byte, 0, len(prefix)+len(chunk)+1)
			line = append(line, prefix...)
			line = append(line, chunk...)
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			if file != nil {
				file.write(line)
			}
			hub.add(line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	if file != nil {
		file.f.Close()
	}
}
