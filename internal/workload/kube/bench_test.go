package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// countingClient counts the backend's requests to the API server: watches (long-lived) apart
// from the rest.
type countingClient struct {
	requests, watches atomic.Int64
}

func (c *countingClient) RoundTrip(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Query().Get("watch") == "true" {
			c.watches.Add(1)
		} else {
			c.requests.Add(1)
		}
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func countingBackend(tb testing.TB, c *kubetest.Cluster, ns string) (*kube.Backend, *countingClient) {
	tb.Helper()
	cc := &countingClient{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WrapTransport = cc.RoundTrip
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := kube.New(ctx, kube.Options{Client: client, Namespace: ns, Image: testImage})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close(context.Background()) })
	return b, cc
}

func waitAllLive(tb testing.TB, b *kube.Backend, names []string, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := kubetest.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		for _, n := range names {
			if st, ok := b.Status(n); !ok || st.State != workload.Live || len(b.Targets(n)) != st.Requested {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		tb.Fatalf("waiting for %d APIs to be live: %v", len(names), err)
	}
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkDeployToReady: from Apply of a new one-replica API to live with a target (kwok node).
func BenchmarkDeployToReady(bm *testing.B) {
	c := kubetest.Start(bm)
	c.Namespace(bm, "bench-one")
	b, cc := countingBackend(bm, c, "bench-one")
	bm.ResetTimer()
	start := cc.requests.Load()
	for i := 0; i < bm.N; i++ {
		name := fmt.Sprintf("api-%d", i)
		apply(bm, b, workload.Deployment{Spec: spec(name, 1, nil)})
		waitAllLive(bm, b, []string{name}, time.Minute)
	}
	bm.ReportMetric(float64(cc.requests.Load()-start)/float64(bm.N), "requests/api")
}

// BenchmarkApplyMany applies $CORTEX_BENCH_APIS (default 1000) one-replica APIs and waits until
// all are live: wall time, this process's RSS (the backend is the operator's share) and the API
// server requests the backend made, per API, while applying and while waiting (watch-driven:
// waiting costs no requests). Run with -benchtime=1x.
func BenchmarkApplyMany(bm *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("CORTEX_BENCH_APIS")); err == nil && v > 0 {
		n = v
	}
	c := kubetest.Start(bm)
	for i := 0; i < bm.N; i++ {
		ns := fmt.Sprintf("bench-many-%d", i)
		c.Namespace(bm, ns)
		b, cc := countingBackend(bm, c, ns)
		runtime.GC()
		rss0 := rssBytes()
		names := make([]string, n)
		for j := range names {
			names[j] = fmt.Sprintf("api-%04d", j)
		}
		begin := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		errs := make(chan error, n)
		for _, name := range names {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := b.Apply(ctx, workload.Deployment{Spec: spec(name, 1, nil)}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			bm.Fatal(err)
		}
		applied := time.Since(begin)
		applyReqs := cc.requests.Load()
		waitAllLive(bm, b, names, 20*time.Minute)
		wall := time.Since(begin)
		waitReqs := cc.requests.Load() - applyReqs

		// A second pass of the same specs (an operator restart's Restore): no-op applies.
		reBegin := time.Now()
		before := cc.requests.Load()
		for _, name := range names {
			apply(bm, b, workload.Deployment{Spec: spec(name, 1, nil)})
		}
		reapply := time.Since(reBegin)
		reqs := cc.requests.Load() - before
		rss := rssBytes()

		bm.ReportMetric(float64(n), "apis")
		bm.ReportMetric(applied.Seconds(), "apply-s")
		bm.ReportMetric(wall.Seconds(), "all-live-s")
		bm.ReportMetric(reapply.Seconds(), "reapply-s")
		bm.ReportMetric(float64(applyReqs)/float64(n), "apply-requests/api")
		bm.ReportMetric(float64(waitReqs), "requests-while-waiting")
		bm.ReportMetric(float64(reqs)/float64(n), "reapply-requests/api")
		bm.ReportMetric(float64(cc.watches.Load()), "watches")
		bm.ReportMetric(float64(rss)/(1<<20), "rss-MB")
		bm.ReportMetric(float64(rss-rss0)/(1<<20), "rss-growth-MB")
	}
}
