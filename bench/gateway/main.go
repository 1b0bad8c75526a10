// Command gateway benchmarks the cortex gateway against calling the API process directly and
// against nginx as a TLS reverse proxy to the same backend, side by side in one run, with wrk.
//
//	go run ./bench/gateway [-duration 10s] [-connections 64] [-rounds 3]
//
// Needs wrk and nginx on PATH (bench/setup.sh installs the Debian packages). The backend is a
// minimal Go HTTP server (so the proxies, not the API, are the bottleneck); the gateway runs in
// its own process with the operator's settings (access log to a file, TLS from the cluster CA);
// nginx uses the same certificate, an upstream keepalive pool and a buffered access log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

func main() {
	mode := flag.String("mode", "run", "run | backend | gateway (internal)")
	listen := flag.String("listen", "", "internal: listen address")
	target := flag.String("target", "", "internal: backend address for the gateway")
	tlsDir := flag.String("tls-dir", "", "internal: TLS directory for the gateway")
	logFile := flag.String("access-log", "", "internal: gateway access log")
	duration := flag.Duration("duration", 10*time.Second, "wrk duration per measurement")
	conns := flag.Int("connections", 64, "wrk connections for the throughput runs")
	threads := flag.Int("threads", 2, "wrk threads")
	rounds := flag.Int("rounds", 3, "rounds (targets alternate within a round; the median is reported)")
	cpuProfile := flag.String("gateway-cpuprofile", "", "write the gateway's CPU profile here")
	flag.Parse()
	var err error
	switch *mode {
	case "backend":
		err = backend(*listen)
	case "gateway":
		err = runGateway(*listen, *target, *tlsDir, *logFile, *cpuProfile)
	default:
		err = run(*duration, *conns, *threads, *rounds, *cpuProfile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var body = []byte(`{"prediction":"setosa"}`)

func backend(listen string) error {
	return http.ListenAndServe(listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
}

func runGateway(listen, target, tlsDir, logFile, cpuProfile string) error {
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	b, err := tlsutil.EnsureSelfManaged(tlsDir, nil)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	targets := []string{target}
	g := gateway.New(gateway.Options{Targets: func(string) []string { return targets }, AccessLog: f})
	g.SetRoutes(map[string]string{"/echo": "echo"})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); g.Close() }()
	err = g.Serve(ln, tlsutil.ServerConfig(b.Server))
	g.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(addr string) error {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s did not open", addr)
}

const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log %[1]s/nginx-access.log combined buffer=64k flush=1s;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream api { server %[2]s; keepalive 128; }
  server {
    listen 127.0.0.1:%[3]d ssl;
    ssl_certificate %[4]s/server.pem;
    ssl_certificate_key %[4]s/server-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 32m;
    location /echo {
      proxy_pass http://api/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`

type result struct {
	rps        float64
	p50, p99   float64 // ms
	transferOK bool
}

var (
	reRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP50 = regexp.MustCompile(`\n\s+50%\s+([0-9.]+)(us|ms|s)`)
	reP99 = regexp.MustCompile(`\n\s+99%\s+([0-9.]+)(us|ms|s)`)
	reErr = regexp.MustCompile(`Non-2xx or 3xx responses|Socket errors`)
)

func ms(m []string) float64 {
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "us":
		return v / 1000
	case "s":
		return v * 1000
	}
	return v
}

func wrk(url string, threads, conns int, d time.Duration) (result, error) {
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))), "--latency", url).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	s := string(out)
	m1, m2, m3 := reRPS.FindStringSubmatch(s), reP50.FindStringSubmatch(s), reP99.FindStringSubmatch(s)
	if m1 == nil || m2 == nil || m3 == nil {
		return result{}, fmt.Errorf("cannot parse wrk output:\n%s", s)
	}
	rps, _ := strconv.ParseFloat(m1[1], 64)
	if reErr.MatchString(s) {
		return result{}, fmt.Errorf("wrk %s saw errors:\n%s", url, s)
	}
	return result{rps: rps, p50: ms(m2), p99: ms(m3), transferOK: true}, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func run(d time.Duration, conns, threads, rounds int, cpuProfile string) error {
	for _, bin := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: run bench/setup.sh", bin)
		}
	}
	dir, err := os.MkdirTemp("", "cortex-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tlsDir := filepath.Join(dir, "tls")
	if _, err := tlsutil.EnsureSelfManaged(tlsDir, nil); err != nil {
		return err
	}
	for _, sub := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		_ = os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backendAddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	gwPort, ngxPort := freePort(), freePort()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_, _ = p.Process.Wait()
		}
	}()
	start := func(name string, args ...string) error {
		c := exec.Command(name, args...)
		c.Stderr = os.Stderr
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return err
		}
		procs = append(procs, c)
		return nil
	}
	if err := start(self, "-mode", "backend", "-listen", backendAddr); err != nil {
		return err
	}
	if err := start(self, "-mode", "gateway", "-listen", fmt.Sprintf("127.0.0.1:%d", gwPort), "-target", backendAddr,
		"-tls-dir", tlsDir, "-access-log", filepath.Join(dir, "gateway-access.log"), "-gateway-cpuprofile", cpuProfile); err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, backendAddr, ngxPort, tlsDir)), 0o600); err != nil {
		return err
	}
	if err := start("nginx", "-c", conf, "-p", dir); err != nil {
		return err
	}
	for _, a := range []string{backendAddr, fmt.Sprintf("127.0.0.1:%d", gwPort), fmt.Sprintf("127.0.0.1:%d", ngxPort)} {
		if err := waitPort(a); err != nil {
			return err
		}
	}
	targets := []struct{ name, url string }{
		{"direct (http, no proxy)", "http://" + backendAddr + "/"},
		{"cortex gateway (https)", fmt.Sprintf("https://127.0.0.1:%d/echo", gwPort)},
		{"nginx (https)", fmt.Sprintf("https://127.0.0.1:%d/echo", ngxPort)},
	}
	// Warm up (TLS sessions, upstream pools).
	for _, t := range targets {
		if _, err := wrk(t.url, threads, conns, 2*time.Second); err != nil {
			return err
		}
	}
	rps := make([][]float64, len(targets))
	p50 := make([][]float64, len(targets))
	p99 := make([][]float64, len(targets))
	lat50 := make([][]float64, len(targets))
	lat99 := make([][]float64, len(targets))
	for r := 0; r < rounds; r++ {
		for i, t := range targets {
			res, err := wrk(t.url, threads, conns, d)
			if err != nil {
				return err
			}
			rps[i], p50[i], p99[i] = append(rps[i], res.rps), append(p50[i], res.p50), append(p99[i], res.p99)
			// Latency: one connection, one request at a time.
			lr, err := wrk(t.url, 1, 1, d/2)
			if err != nil {
				return err
			}
			lat50[i], lat99[i] = append(lat50[i], lr.p50), append(lat99[i], lr.p99)
			fmt.Fprintf(os.Stderr, "round %d %-24s %9.0f req/s (c=%d p50 %.3f ms)  c=1 p50 %.3f ms p99 %.3f ms\n",
				r+1, t.name, res.rps, conns, res.p50, lr.p50, lr.p99)
		}
	}
	cpus := strings.TrimSpace(string(must(exec.Command("nproc").Output())))
	ngxVersion := strings.TrimSpace(string(must(exec.Command("nginx", "-v").CombinedOutput())))
	fmt.Printf("wrk -t%d -c%d -d%s, %d rounds (median), %s CPUs, %s, Go gateway GOMAXPROCS=default\n\n", threads, conns, d, rounds, cpus, ngxVersion)
	fmt.Println("| target | throughput (req/s, c=" + strconv.Itoa(conns) + ") | p50 / p99 at c=" + strconv.Itoa(conns) + " (ms) | p50 / p99 at c=1 (ms) |")
	fmt.Println("|---|---:|---:|---:|")
	for i, t := range targets {
		fmt.Printf("| %s | %.0f | %.3f / %.3f | %.3f / %.3f |\n", t.name, median(rps[i]), median(p50[i]), median(p99[i]), median(lat50[i]), median(lat99[i]))
	}
	fmt.Printf("\ngateway / nginx throughput: %.2fx\n", median(rps[1])/median(rps[2]))
	fmt.Printf("gateway added p50 over direct (c=1): %.3f ms (nginx: %.3f ms)\n", median(lat50[1])-median(lat50[0]), median(lat50[2])-median(lat50[0]))
	return nil
}

func must(b []byte, _ error) []byte { return b }
