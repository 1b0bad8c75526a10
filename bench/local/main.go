// Command local measures the local provider: `cortex get` round trip against the local
// operator (median over N runs, each a new process, so process start is included) and the
// operator's resident memory when idle.
//
//	go run ./bench/local [-n 100]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 100, "number of `cortex get` runs")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cortex-bench-local-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "cortex")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cortex")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	env := append(os.Environ(), "CORTEX_CLI_CONFIG_DIR="+filepath.Join(dir, "config"), "CORTEX_ENV=")
	cortex := func(args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("cortex %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	if _, err := cortex("cluster", "up"); err != nil {
		return err
	}
	defer cortex("cluster", "down")
	pidData, err := os.ReadFile(filepath.Join(dir, "config", "local", "operator.pid"))
	if err != nil {
		return err
	}
	pid, _ := strconv.Atoi(strings.Fields(string(pidData))[0])

	time.Sleep(3 * time.Second) // idle
	rssEmpty := rss(pid)
	if _, err := cortex("deploy", filepath.Join(root, "examples", "echo", "cortex.yaml")); err != nil {
		return err
	}
	// Warm up: the first run mints nothing (local token) but fills the page cache.
	for i := 0; i < 5; i++ {
		if _, err := cortex("get"); err != nil {
			return err
		}
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := cortex("get"); err != nil {
			return err
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	time.Sleep(3 * time.Second) // idle again
	rssOne := rss(pid)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("| measurement | result |\n|---|---:|\n")
	fmt.Printf("| `cortex get` round trip, median of %d (new process each, 1 API) | %s |\n", n, ms(ds[len(ds)/2]))
	fmt.Printf("| `cortex get` round trip, p90 | %s |\n", ms(ds[len(ds)*9/10]))
	fmt.Printf("| `cortex get` round trip, min / max | %s / %s |\n", ms(ds[0]), ms(ds[len(ds)-1]))
	fmt.Printf("| operator RSS idle, no APIs | %s |\n", rssEmpty)
	fmt.Printf("| operator RSS idle, 1 API deployed, after %d gets | %s |\n", n, rssOne)
	return nil
}

func rss(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f MB", float64(kb)/1024)
		}
	}
	return "?"
}
