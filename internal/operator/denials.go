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
// client walking random paths would otherwise get a full line per path. The verified ARN is in:
// the TokenReview webhook has one client, the API server, relaying everyone's tokens, and each
// identity it denies must have its own line (an unverified request has none, so a flood of bad
// tokens still collapses into one).
type denialKey struct {
	client, arn, decision, reason string
	status                        int
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
// denials, and before this, each cost a line: about 5 MB/s of log for a single client.
type denialLog struct {
	log     *slog.Logger
	window  time.Duration
	maxKeys int // beyond this many keys in one window, lines are written in full (disk is bounded by rotation)

	mu   sync.Mutex
	open map[denialKey]*denialWindow
}

func newDenialLog(log *slog.Logger, window time.Duration) *denialLog {
	return &denialLog{log: log, window: window, maxKeys: 10000, open: map[denialKey]*denialWindow{}}
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
		return true
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
}

func (d *denialLog) summarize(k denialKey, w *denialWindow) {
	if w.suppressed == 0 {
		return
	}
	d.log.LogAttrs(context.Background(), slog.LevelInfo, "denials suppressed",
		slog.String("client", k.client),
		slog.String("arn", k.arn),
		slog.String("decision", k.decision),
		slog.String("reason", k.reason),
		slog.Int("status", k.status),
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
