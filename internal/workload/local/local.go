// Package local runs APIs as supervised processes on this machine: each replica is a child
// process in its own process group, listening on 127.0.0.1:$CORTEX_PORT; it is health-checked,
// restarted with backoff when it exits, and its output is captured per replica.
package local

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/fielderr"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

//go:embed runtime/serve.py
var serveScript []byte

// Options configure the backend.
type Options struct {
	// Dir holds the backend's files: run/ (pid files), logs/<api>/, runtime/serve.py.
	Dir string
	// Python runs python handlers: default $CORTEX_PYTHON, else python3 from PATH.
	Python string
	// BaseEnv is the environment every replica starts from (default: PATH, HOME, LANG, LC_*,
	// TZ, TMPDIR, USER of this process; nothing else is inherited, in particular no AWS_*).
	BaseEnv []string
	// ReadyTimeout is how long a replica may take to listen on its port (default 2 min).
	ReadyTimeout time.Duration
	// BackoffMin and BackoffMax bound the restart delay (defaults 250ms, 30s); it doubles with
	// each consecutive failure and resets once a replica has been ready for StableAfter (10s).
	BackoffMin, BackoffMax, StableAfter time.Duration
	// StopTimeout is the grace period between SIGTERM and SIGKILL (default 5s).
	StopTimeout time.Duration
	// Logf receives the backend's own events (never secrets).
	Logf func(format string, args ...any)
}

// Backend is the local implementation of workload.Backend.
type Backend struct {
	opts      Options
	runtimePy string
	mu        sync.Mutex
	apis      map[string]*api
	closed    bool
	// byName is a read-only copy of apis for Targets (the gateway's hot path takes no lock).
	byName atomic.Pointer[map[string]*api]
}

// publishLocked refreshes the lock-free copy of the API map; b.mu must be held.
func (b *Backend) publishLocked() {
	m := make(map[string]*api, len(b.apis))
	for k, v := range b.apis {
		m[k] = v
	}
	b.byName.Store(&m)
}

var _ workload.Backend = (*Backend)(nil)

// New prepares dir, kills replicas orphaned by a previous operator, and returns the backend.
func New(opts Options) (*Backend, error) {
	if opts.Dir == "" {
		return nil, errors.New("local backend: Dir is required")
	}
	if opts.Python == "" {
		opts.Python = os.Getenv("CORTEX_PYTHON")
	}
	if opts.Python == "" {
		opts.Python = "python3"
	}
	if opts.BaseEnv == nil {
		opts.BaseEnv = defaultBaseEnv()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.BackoffMin == 0 {
		opts.BackoffMin = 250 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.StableAfter == 0 {
		opts.StableAfter = 10 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 5 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	for _, d := range []string{opts.Dir, filepath.Join(opts.Dir, "run"), filepath.Join(opts.Dir, "logs"), filepath.Join(opts.Dir, "runtime")} {
		if err := fsutil.EnsurePrivateDir(d); err != nil {
			return nil, err
		}
	}
	if n := SweepOrphans(opts.Dir); n > 0 {
		opts.Logf("local backend: killed %d replica process(es) left by a previous operator", n)
	}
	if err := CheckPython(opts.Python); err != nil {
		opts.Logf("local backend: warning: %v", err)
	}
	rt := filepath.Join(opts.Dir, "runtime", "serve.py")
	if err := fsutil.WriteFileAtomic(rt, serveScript); err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, runtimePy: rt, apis: map[string]*api{}}
	b.publishLocked()
	return b, nil
}

func defaultBaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "LANG", k == "TZ", k == "TMPDIR", k == "USER", k == "SSL_CERT_FILE", k == "SSL_CERT_DIR", strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	return env
}

type api struct {
	b         *Backend
	name      string
	spec      apispec.Spec
	secretEnv map[string]string
	codeDir   string
	tmplHash  string
	updatedAt time.Time
	gen       int
	current   []*replica
	old       []*replica
	// retiring are replicas being stopped in the background (replaced or scaled away): stopAll
	// waits for them too, so that nothing of a deleted API outlives Delete or Close.
	retiring []*replica
	hub      *logHub
	targets  atomic.Pointer[[]string]
}

type replica struct {
	a        *api
	id       int
	gen      int
	spec     apispec.Spec
	secret   map[string]string
	codeDir  string // where the replica runs: the version's bundle, or the project directory
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	state    string // starting | ready | restarting | error | stopping
	reason   string
	restarts int
	addr     string
}

func (r *replica) set(state, reason string) {
	r.mu.Lock()
	r.state, r.reason = state, reason
	r.mu.Unlock()
	r.a.b.changed(r.a)
}

var _ workload.SpecChecker = (*Backend)(nil)

// CheckSpec implements workload.SpecChecker: local processes run no container images. (Compute
// is ignored, not refused: see docs/apis.md.)
func (b *Backend) CheckSpec(s apispec.Spec) error {
	if s.Handler.Type == apispec.HandlerContainer {
		return &fielderr.Error{Subject: fmt.Sprintf("api %q", s.Name), Field: "handler.type",
			Msg: "the local provider runs no container images; deploy a container API to a Kubernetes cluster (cortex cluster up --provider kubernetes), or use a python or command handler here"}
	}
	// Checked here too (not only in Apply): a deploy that is refused changes nothing.
	return RefuseIAMIdentity(s)
}

// Apply implements workload.Backend.
func (b *Backend) Apply(ctx context.Context, d workload.Deployment) error {
	spec := d.Spec
	if err := apispec.Validate(&spec, true); err != nil {
		return err
	}
	if err := RefuseIAMIdentity(spec); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("local backend is closed")
	}
	a, ok := b.apis[spec.Name]
	if !ok {
		a = &api{b: b, name: spec.Name, hub: newLogHub()}
		empty := []string{}
		a.targets.Store(&empty)
		b.apis[spec.Name] = a
		b.publishLocked()
	}
	// The code is part of the template: new code means new replicas, never a scale of old ones.
	th := spec.TemplateHash() + "/" + d.Code + "/" + d.CodeDir
	codeDir := d.CodeDir
	if codeDir == "" {
		codeDir = spec.ProjectDir
	}
	if ok && th == a.tmplHash && sameEnv(a.secretEnv, d.SecretEnv) {
		// Scale only.
		for len(a.current) < spec.Replicas {
			a.current = append(a.current, b.startReplica(a, len(a.current), a.gen, spec, d.SecretEnv, codeDir))
		}
		for len(a.current) > spec.Replicas {
			r := a.current[len(a.current)-1]
			a.current = a.current[:len(a.current)-1]
			b.retireLocked(a, r)
		}
		a.spec = spec
		a.updatedAt = d.UpdatedAt
		b.changedLocked(a)
		return nil
	}
	// New version: start new replicas; the old ones serve until all new ones are ready.
	a.old = append(a.old, a.current...)
	a.current = nil
	a.gen++
	a.spec, a.secretEnv, a.codeDir, a.tmplHash, a.updatedAt = spec, d.SecretEnv, codeDir, th, d.UpdatedAt
	for i := 0; i < spec.Replicas; i++ {
		a.current = append(a.current, b.startReplica(a, i, a.gen, spec, d.SecretEnv, codeDir))
	}
	b.changedLocked(a)
	return nil
}

// Restart implements workload.Backend.
func (b *Backend) Restart(ctx context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.apis[name]
	if !ok {
		return fmt.Errorf("api %q not found", name)
	}
	a.old = append(a.old, a.current...)
	a.current = nil
	a.gen++
	for i := 0; i < a.spec.Replicas; i++ {
		a.current = append(a.current, b.startReplica(a, i, a.gen, a.spec, a.secretEnv, a.codeDir))
	}
	b.changedLocked(a)
	return nil
}

func sameEnv(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// changed recomputes an API's targets and retires old replicas once the new ones are ready.
func (b *Backend) changed(a *api) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changedLocked(a)
}

func (b *Backend) changedLocked(a *api) {
	// One version serves at a time: the previous version's replicas keep all the traffic until
	// every replica of the new one is ready (then they are stopped); the new version's ready
	// replicas serve alone only while no old replica is ready (a failed or first version).
	var readyNew, readyOld []string
	for _, r := range a.current {
		r.mu.Lock()
		if r.state == "ready" {
			readyNew = append(readyNew, r.addr)
		}
		r.mu.Unlock()
	}
	if len(a.old) > 0 && len(readyNew) >= len(a.current) {
		for _, r := range a.old {
			b.retireLocked(a, r)
		}
		a.old = nil
	}
	for _, r := range a.old {
		r.mu.Lock()
		if r.state == "ready" {
			readyOld = append(readyOld, r.addr)
		}
		r.mu.Unlock()
	}
	targets := readyNew
	if len(readyOld) > 0 {
		targets = readyOld
	}
	if targets == nil {
		targets = []string{}
	}
	a.targets.Store(&targets)
}

// retireLocked stops r in the background, keeping it in a.retiring until it has stopped.
func (b *Backend) retireLocked(a *api, r *replica) {
	a.retiring = append(a.retiring, r)
	go func() {
		r.stop()
		b.mu.Lock()
		defer b.mu.Unlock()
		a.retiring = slices.DeleteFunc(a.retiring, func(x *replica) bool { return x == r })
	}()
}

func (b *Backend) startReplica(a *api, id, gen int, spec apispec.Spec, secret map[string]string, codeDir string) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{a: a, id: id, gen: gen, spec: spec, secret: secret, codeDir: codeDir, cancel: cancel, done: make(chan struct{}), state: "starting"}
	go r.run(ctx)
	return r
}

func (r *replica) stop() {
	r.mu.Lock()
	if r.state != "error" {
		r.state = "stopping"
	}
	r.mu.Unlock()
	r.cancel()
	<-r.done
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *replica) command(port int) (*exec.Cmd, error) {
	b := r.a.b
	s := r.spec
	env := append([]string(nil), b.opts.BaseEnv...)
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"CORTEX_PORT="+strconv.Itoa(port),
		"CORTEX_API_NAME="+s.Name,
		"CORTEX_REPLICA="+strconv.Itoa(r.id),
		"PYTHONUNBUFFERED=1",
	)
	var cmd *exec.Cmd
	switch s.Handler.Type {
	case apispec.HandlerPython:
		cfg, err := json.Marshal(s.Handler.Config)
		if err != nil {
			return nil, err
		}
		if s.Handler.Config == nil {
			cfg = []byte("{}")
		}
		env = append(env,
			"CORTEX_HANDLER_PATH="+filepath.Join(r.codeDir, s.Handler.Path),
			"CORTEX_HANDLER_CONFIG="+string(cfg),
			"PYTHONDONTWRITEBYTECODE=1",
		)
		cmd = exec.Command(b.opts.Python, b.runtimePy)
	case apispec.HandlerCommand:
		cmd = exec.Command(s.Handler.Command[0], s.Handler.Command[1:]...)
	default:
		return nil, fmt.Errorf("unknown handler type %q", s.Handler.Type)
	}
	for k, v := range r.secret {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	cmd.Dir = r.codeDir
	if cmd.Dir == "" {
		cmd.Dir = filepath.Join(b.opts.Dir, "logs", s.Name)
	}
	cmd.SysProcAttr = procAttr()
	return cmd, nil
}

func (r *replica) pidPath() string {
	return filepath.Join(r.a.b.opts.Dir, "run", fmt.Sprintf("%s.%d.%d.pid", r.a.name, r.gen, r.id))
}

// run is the supervisor loop of one replica.
func (r *replica) run(ctx context.Context) {
	defer close(r.done)
	b := r.a.b
	failures := 0
	src := lineSource{api: r.a.name, replica: r.id}
	logFile, err := openReplicaLog(filepath.Join(b.opts.Dir, "logs", r.a.name, fmt.Sprintf("replica-%d.log", r.id)), r.a.name, r.id)
	if err != nil {
		b.opts.Logf("api %s: cannot open log file: %v", r.a.name, err)
		logFile = nil
	} else {
		defer logFile.close()
	}
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return
		}
		wasReady, stable, reason := r.once(ctx, src, logFile)
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.restarts++
		r.mu.Unlock()
		if stable {
			failures = 0
		} else {
			failures++
		}
		delay := b.opts.BackoffMin << min(failures, 16)
		if delay > b.opts.BackoffMax || delay <= 0 {
			delay = b.opts.BackoffMax
		}
		if wasReady {
			r.set("restarting", reason)
		} else {
			r.set("error", reason)
		}
		event := fmt.Sprintf("%s; restarting in %s", reason, delay.Round(time.Millisecond))
		r.a.hub.add(src.event(event))
		if logFile != nil {
			logFile.event(event)
		}
		b.opts.Logf("api %s replica %d: %s; restarting in %s", r.a.name, r.id, reason, delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// once starts the process and supervises it until it exits or ctx ends. It reports whether the
// replica became ready, whether it was stable (ready for StableAfter) and why it ended.
func (r *replica) once(ctx context.Context, src lineSource, logFile *replicaLog) (ready, stable bool, reason string) {
	b := r.a.b
	port, err := freePort()
	if err != nil {
		return false, false, "no free port: " + err.Error()
	}
	cmd, err := r.command(port)
	if err != nil {
		return false, false, err.Error()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return false, false, err.Error()
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Stdin = nil
	if err := startLocked(cmd); err != nil {
		pw.Close()
		pr.Close()
		return false, false, "cannot start: " + err.Error()
	}
	pw.Close()
	pumped := make(chan struct{})
	go func() { pump(pr, src, logFile, r.a.hub); pr.Close(); close(pumped) }()
	pid := cmd.Process.Pid
	_ = WritePidFile(r.pidPath(), pid)
	defer os.Remove(r.pidPath())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	addr := "127.0.0.1:" + strconv.Itoa(port)
	r.mu.Lock()
	r.addr = addr
	r.mu.Unlock()
	started := time.Now()
	var readyAt time.Time
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	readyDeadline := time.NewTimer(b.opts.ReadyTimeout)
	defer readyDeadline.Stop()
	healthFailures := 0
	for {
		select {
		case <-ctx.Done():
			KillGroup(pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(b.opts.StopTimeout):
				KillGroup(pid, syscall.SIGKILL)
				<-exited
			}
			KillGroup(pid, syscall.SIGKILL) // leftovers of the group
			waitPump(pumped)
			return !readyAt.IsZero(), false, "stopped"
		case err := <-exited:
			KillGroup(pid, syscall.SIGKILL)
			waitPump(pumped)
			why := exitReason(err)
			if last := r.lastLine(); last != "" {
				why += ": " + last
			}
			if readyAt.IsZero() {
				return false, false, fmt.Sprintf("exited %s after start, before listening on $CORTEX_PORT (%s)", time.Since(started).Round(time.Millisecond), why)
			}
			return true, time.Since(readyAt) >= b.opts.StableAfter, "exited (" + why + ")"
		case <-readyDeadline.C:
			if readyAt.IsZero() {
				KillGroup(pid, syscall.SIGKILL)
				<-exited
				waitPump(pumped)
				return false, false, fmt.Sprintf("not listening on $CORTEX_PORT after %s", b.opts.ReadyTimeout)
			}
		case <-poll.C:
			ok := dialOK(addr)
			switch {
			case ok && readyAt.IsZero():
				readyAt = time.Now()
				healthFailures = 0
				poll.Reset(time.Second)
				r.set("ready", "")
			case ok:
				if healthFailures >= 3 {
					r.set("ready", "")
				}
				healthFailures = 0
			case !readyAt.IsZero():
				healthFailures++
				if healthFailures == 3 {
					r.set("restarting", "health check failed 3 times")
				}
			}
		}
	}
}

func waitPump(c chan struct{}) {
	select {
	case <-c:
	case <-time.After(2 * time.Second): // a grandchild holding the pipe must not block us
	}
}

// lastLine is the replica's last output line (for the error reason), as reasonText: by the
// line's source, not its text, so that no output passes for the supervisor's or hides from it.
func (r *replica) lastLine() string {
	r.a.hub.mu.Lock()
	defer r.a.hub.mu.Unlock()
	lines := r.a.hub.snapshot()
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-50; i-- {
		if l := lines[i]; l.fromAPI && l.replica == r.id {
			if t := reasonText(l.body); t != "" {
				return t
			}
		}
	}
	return ""
}

func exitReason(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Delete implements workload.Backend.
func (b *Backend) Delete(ctx context.Context, name string) error {
	b.mu.Lock()
	a, ok := b.apis[name]
	if ok {
		delete(b.apis, name)
		b.publishLocked()
	}
	b.mu.Unlock()
	if !ok {
		return nil
	}
	return stopAll(ctx, a)
}

func stopAll(ctx context.Context, a *api) error {
	a.b.mu.Lock()
	rs := append(append(append([]*replica(nil), a.current...), a.old...), a.retiring...)
	a.b.mu.Unlock()
	empty := []string{}
	a.targets.Store(&empty)
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	defer a.hub.close()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status implements workload.Backend.
func (b *Backend) Status(name string) (workload.Status, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.apis[name]
	if !ok {
		return workload.Status{}, false
	}
	st := workload.Status{Name: name, Requested: a.spec.Replicas, UpdatedAt: a.updatedAt}
	var errReason, otherReason string
	for _, r := range a.current {
		r.mu.Lock()
		rs := workload.ReplicaStatus{ID: r.id, State: r.state, Restarts: r.restarts, Reason: r.reason}
		r.mu.Unlock()
		st.Replicas = append(st.Replicas, rs)
		switch rs.State {
		case "ready":
			st.Ready++
		case "error":
			if errReason == "" {
				errReason = fmt.Sprintf("replica %d: %s", rs.ID, rs.Reason)
			}
		default:
			if otherReason == "" && rs.Reason != "" {
				otherReason = fmt.Sprintf("replica %d: %s", rs.ID, rs.Reason)
			}
		}
	}
	switch {
	case st.Ready >= st.Requested && len(a.old) == 0:
		st.State = workload.Live
	case errReason != "":
		st.State, st.Reason = workload.Error, errReason
	default:
		st.State = workload.Updating
		st.Reason = otherReason
		if len(a.old) > 0 && st.Reason == "" {
			st.Reason = "replacing replicas of the previous version"
		}
	}
	return st, true
}

// Targets implements workload.Backend.
func (b *Backend) Targets(name string) []string {
	a, ok := (*b.byName.Load())[name]
	if !ok {
		return nil
	}
	return *a.targets.Load()
}

// Logs implements workload.Backend.
func (b *Backend) Logs(ctx context.Context, name string, follow bool, w io.Writer) error {
	b.mu.Lock()
	a, ok := b.apis[name]
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("api %q not found", name)
	}
	return a.hub.stream(ctx, follow, w)
}

// Close implements workload.Backend.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	apis := make([]*api, 0, len(b.apis))
	for _, a := range b.apis {
		apis = append(apis, a)
	}
	b.apis = map[string]*api{}
	b.publishLocked()
	b.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(apis))
	for _, a := range apis {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- stopAll(ctx, a) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
