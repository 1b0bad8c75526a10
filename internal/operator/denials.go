package operator

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultDenialLogWindow is how long repeated identical denials are counted before a summary.
const DefaultDenialLogWindow = time.Minute

// denialKey is what makes two audit lines "the same denial". The path is left out on purpose: a
// client walking random paths would otherwise get a full line per path. The verified ARN and the
// method are in: one principal's denials never hide another's (or another kind of attempt), and
// only holders of valid credentials can make new ARNs.
type denialKey struct {
	client, decision, reason, arn, method string
	status                                int
}

type denialWindow struct {
	start      time.Time
	path       string // of the first request, which was logged in full
	suppressed int
}

// denialLog aggregates the audit lines of requests that were not allowed (denials, and requests
// to the unauthenticated endpoints): the first of each key in a window is written in full, the
// rest are only counted, and when the window ends one summary line says how many were suppressed.
// Allowed requests never pass through it: each one is logged. Anyone who can connect can make
// denials, and before this, each cost a line: about 5 MB/s of log for a single client. Beyond
// maxKeys keys in a window (a flood from many addresses) nothing more is written in full: those
// denials are counted into one overflow summary, so the volume per window is bounded.
type denialLog struct {
	auth, anon *slog.Logger // where lines with a verified ARN, and those without, are written
	window     time.Duration
	maxKeys    int

	mu       sync.Mutex
	open     map[denialKey]*denialWindow
	overflow denialWindow
}

func newDenialLog(auth, anon *slog.Logger, window time.Duration) *denialLog {
	return &denialLog{auth: auth, anon: anon, window: window, maxKeys: 10000, open: map[denialKey]*denialWindow{}}
}

// logger is where k's lines go: unauthenticated ones apart from the audit trail of principals.
func (d *denialLog) logger(k denialKey) *slog.Logger {
	if k.arn != "" {
		return d.auth
	}
	return d.anon
}

// admit reports whether the audit line for k should be written in full; if not, it is counted.
func (d *denialLog) admit(k denialKey, path string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.open[k]; ok {
		if now.Sub(w.start) < d.window {
			w.suppressed++
			return false
		}
		d.summarize(k, w)
		delete(d.open, k)
	}
	if len(d.open) >= d.maxKeys {
		if d.overflow.suppressed == 0 {
			d.overflow.start, d.overflow.path = now, path
		}
		d.overflow.suppressed++
		return false
	}
	d.open[k] = &denialWindow{start: now, path: path}
	return true
}

// flush writes the summary of every window that has ended by now (every window, if all) and
// forgets it, so that the next denial of its key is logged in full again.
func (d *denialLog) flush(now time.Time, all bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, w := range d.open {
		if all || now.Sub(w.start) >= d.window {
			d.summarize(k, w)
			delete(d.open, k)
		}
	}
	if d.overflow.suppressed > 0 && (all || now.Sub(d.overflow.start) >= d.window) {
		d.summarize(denialKey{client: "*", decision: "*", reason: "too_many_clients"}, &d.overflow)
		d.overflow = denialWindow{}
	}
}

func (d *denialLog) summarize(k denialKey, w *denialWindow) {
	if w.suppressed == 0 {
		return
	}
	d.logger(k).LogAttrs(context.Background(), slog.LevelInfo, "denials suppressed",
		slog.String("client", k.client),
		slog.String("decision", k.decision),
		slog.String("reason", k.reason),
		slog.Int("status", k.status),
		slog.String("arn", k.arn),
		slog.String("method", k.method),
		slog.String("first_path", w.path),
		slog.Time("window_start", w.start.UTC()),
		slog.Float64("window_seconds", d.window.Seconds()),
		slog.Int("denials_suppressed", w.suppressed),
	)
}

// run flushes ended windows until ctx is done, then flushes the rest.
func (d *denialLog) run(ctx context.Context) {
	t := time.NewTicker(d.window / 4)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			d.flush(now, false)
		case <-ctx.Done():
			d.flush(time.Now(), true)
			return
		}
	}
}
