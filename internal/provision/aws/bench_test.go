package aws

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkUpAgainstMoto measures `cluster up` of a private cluster (2 zones, single NAT, one node
// group) against a warm moto: wall time and the number of AWS calls per up. Waits poll every 5ms;
// moto reports every resource ready at once, so no wait sleeps.
//
//	go test ./internal/provision/aws -run '^$' -bench UpAgainstMoto -benchtime 5x
func BenchmarkUpAgainstMoto(b *testing.B) {
	u := moto(b)
	ctx := context.Background()
	yaml := func(name string) string {
		return "cluster_name: " + name + "\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nsubnet_visibility: private\n"
	}
	// Warm moto up (it loads each service's backend on first use).
	warm := newTestProvisioner(b, u, nil, b.TempDir())
	if _, err := warm.Up(ctx, mustConfig(b, yaml("bench-warm"))); err != nil {
		b.Fatal(err)
	}
	if _, err := warm.Down(ctx, "bench-warm", DownOptions{}); err != nil {
		b.Fatal(err)
	}
	var calls, noopCalls int64
	var wall, noop time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d-%d", b.N, i)
		rec := newRecorder()
		p := newTestProvisioner(b, u, rec, b.TempDir())
		start := time.Now()
		if _, err := p.Up(ctx, mustConfig(b, yaml(name))); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		calls += rec.total.Load()
		if i == 0 {
			rec.mu.Lock()
			b.Logf("calls of one up by operation: %v", rec.calls)
			rec.mu.Unlock()
		}
		// A second up of the same cluster finds everything and changes nothing.
		before := rec.total.Load()
		start = time.Now()
		if _, err := newTestProvisioner(b, u, rec, p.opts.StateDir).Up(ctx, mustConfig(b, yaml(name))); err != nil {
			b.Fatal(err)
		}
		noop += time.Since(start)
		noopCalls += rec.total.Load() - before
		b.StopTimer()
		if _, err := p.Down(ctx, name, DownOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "aws-calls/op")
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/up")
	b.ReportMetric(float64(noopCalls)/float64(b.N), "aws-calls/rerun")
	b.ReportMetric(noop.Seconds()/float64(b.N), "s/rerun")
}
