package get_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/get"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// idleBackend is a workload backend that runs nothing: Apply records the API and Status reports
// it live. A fake, because what is measured is `cortex get` (the CLI, the operator's list, the
// manager's state) with 1,000 APIs, not replicas: the local backend would start 1,000 Python
// processes, more than this 2-core machine holds, and the kube backend on kwok takes minutes to
// make 1,000 APIs live (docs/performance.md) while its Status is a read of its informer caches,
// like this one's map.
type idleBackend struct {
	mu   sync.Mutex
	apis map[string]workload.Status
}

func (b *idleBackend) Apply(_ context.Context, d workload.Deployment) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := max(d.Spec.Replicas, 1)
	b.apis[d.Spec.Name] = workload.Status{Name: d.Spec.Name, State: workload.Live, Requested: n, Ready: n, UpdatedAt: d.UpdatedAt}
	return nil
}
func (b *idleBackend) Restart(context.Context, string) error { return nil }
func (b *idleBackend) Delete(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.apis, name)
	return nil
}
func (b *idleBackend) Status(name string) (workload.Status, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.apis[name]
	return st, ok
}
func (b *idleBackend) Targets(string) []string                             { return nil }
func (b *idleBackend) Logs(context.Context, string, bool, io.Writer) error { return nil }
func (b *idleBackend) Close(context.Context) error                         { return nil }

// operatorWithAPIs starts a real operator (in-process, local admin credential) holding n APIs,
// deployed through its API, and writes a CLI configuration whose default environment is it.
func operatorWithAPIs(b *testing.B, n int) (configDir string) {
	b.Helper()
	dir := b.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	op := opserver.Start(b, operator.Config{StateDir: filepath.Join(dir, "state"), LocalTokenFile: tokenFile,
		AccountID: "123456789012", APIs: operator.APIsConfig{Workloads: &idleBackend{apis: map[string]workload.Status{}}}})
	project := filepath.Join(dir, "project")
	if err := os.Mkdir(project, 0o700); err != nil {
		b.Fatal(err)
	}
	var specs []apispec.Spec
	for i := range n {
		specs = append(specs, apispec.Spec{Name: fmt.Sprintf("api-%04d", i), Kind: "RealtimeAPI", Replicas: 1 + i%3, ProjectDir: project,
			Handler: apispec.Handler{Type: "command", Command: []string{"./serve"}}})
	}
	configDir = filepath.Join(dir, "cli")
	cfg, err := cliconfig.Load(configDir)
	if err != nil {
		b.Fatal(err)
	}
	caPEM, err := os.ReadFile(op.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	env := cliconfig.Environment{Name: "bench", Provider: "local", OperatorEndpoint: op.URL, CACert: string(caPEM),
		Auth: cliconfig.AuthLocal, LocalTokenFile: tokenFile}
	cfg.Put(env)
	cfg.DefaultEnvironment = env.Name
	if err := cfg.Save(); err != nil {
		b.Fatal(err)
	}
	cl, err := client.ForEnvironment(configDir, &env, time.Now, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for chunk := range slices.Chunk(specs, 100) {
		if err := cl.Do(ctx, "POST", "/v1/apis", operator.DeployRequest{APIs: chunk}, nil); err != nil {
			b.Fatal(err)
		}
	}
	return configDir
}

// BenchmarkGet1000APIs is `cortex get` listing 1,000 APIs from a real operator over loopback TLS
// (issue 9: ≤ 100 ms median). in-process runs the command as the cortex binary would, a new
// client (new TLS connection) each time; process runs the built binary, process start included,
// as a user sees it. Both report their median (ms-median) beside Go's mean.
func BenchmarkGet1000APIs(b *testing.B) {
	configDir := operatorWithAPIs(b, 1000)
	median := func(b *testing.B, ds []time.Duration) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "ms-median")
	}
	check := func(b *testing.B, out string) {
		if n := strings.Count(out, "\napi-"); n != 1000 {
			b.Fatalf("get listed %d APIs:\n%.300s", n, out)
		}
	}

	b.Run("in-process", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			f, out, _ := cmdutil.TestFactory(configDir, "", false)
			f.Getenv = os.Getenv
			if err := cmdutil.ExecuteTest(get.NewCmdGet(f, nil)); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			check(b, out.String())
		}
		median(b, ds)
	})

	b.Run("process", func(b *testing.B) {
		bin := filepath.Join(b.TempDir(), "cortex")
		build := exec.Command("go", "build", "-o", bin, "github.com/cortexlabs-go/cortex/cmd/cortex")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
		var ds []time.Duration
		for b.Loop() {
			cmd := exec.Command(bin, "get")
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + configDir, cliconfig.DirEnv + "=" + configDir}
			start := time.Now()
			out, err := cmd.CombinedOutput()
			ds = append(ds, time.Since(start))
			if err != nil {
				b.Fatalf("cortex get: %v\n%.300s", err, out)
			}
			check(b, string(out))
		}
		median(b, ds)
	})
}
