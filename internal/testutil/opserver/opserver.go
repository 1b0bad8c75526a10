// Package opserver runs a real operator in-process on a free loopback port for tests.
package opserver

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/operator"
)

// Operator is a running operator.
type Operator struct {
	*operator.Server
	URL    string
	CAFile string
	Log    *SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs an operator with cfg (StateDir defaults to a temp dir, Listen to 127.0.0.1:0).
func Start(t testing.TB, cfg operator.Config) *Operator {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	log := &SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(log, nil))
	srv, err := operator.New(cfg)
	if err != nil {
		t.Fatalf("operator.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Operator{Server: srv, Log: log, cancel: cancel, done: make(chan error, 1),
		CAFile: filepath.Join(cfg.StateDir, "tls", "ca.pem")}
	ready := make(chan net.Addr, 1)
	go func() { o.done <- srv.Run(ctx, func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		o.URL = "https://" + a.String()
	case err := <-o.done:
		t.Fatalf("operator did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("operator did not start in 20s")
	}
	t.Cleanup(o.Stop)
	return o
}

// Stop shuts the operator down (idempotent).
func (o *Operator) Stop() {
	if o.cancel == nil {
		return
	}
	o.cancel()
	o.cancel = nil
	select {
	case <-o.done:
	case <-time.After(15 * time.Second):
	}
}
