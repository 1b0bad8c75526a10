// Package localcluster runs a local cluster: the operator (with its gateway and API processes)
// as a detached background process bound to 127.0.0.1, with its state under the CLI's config
// directory (<config>/local). It starts, finds, health-checks and stops that process; it knows
// nothing about the CLI.
package localcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/local"
)

// DefaultEnv is the environment `up` configures.
const DefaultEnv = "local"

// Auth modes of a local cluster.
const (
	AuthLocal = "local" // a random admin credential in a 0600 file
	AuthIAM   = "iam"   // identity tokens verified with AWS STS, like an AWS cluster
)

// Options say where the local cluster lives and how to start it.
type Options struct {
	// ConfigDir is the CLI's configuration directory; the cluster lives in ConfigDir/local.
	ConfigDir string
	// EnvName is the environment to configure (default "local").
	EnvName string
	// Exe is the cortex binary to run as the operator (default: this executable).
	Exe string
	// OperatorPort and GatewayPort pin the ports (0: the previous ones if free, else free ports).
	OperatorPort, GatewayPort int
	// Python runs python handlers (CORTEX_PYTHON of the operator; default python3).
	Python string
	// Auth is local (default) or iam; with iam, AccountID is required.
	Auth            string
	AccountID       string
	CreatorARN      string
	Region          string
	STSTestEndpoint string
	// StartTimeout bounds waiting for the operator to become healthy (default 30s).
	StartTimeout time.Duration
	// StopTimeout bounds a graceful stop before SIGKILL (default 20s).
	StopTimeout time.Duration
	// Progress receives one-line progress messages (nil: none).
	Progress io.Writer
}

// Paths are the files of a local cluster.
type Paths struct {
	Dir, StateDir, PidFile, LogFile, TokenFile, RecordFile, LockFile string
	// AWSSettingsFile says whether APIs get AWS credentials (read by the operator at each deploy).
	AWSSettingsFile string
	// StderrFile catches what the operator prints before its log is open or outside it (a
	// configuration error, a crash); it is truncated at every start, so it stays small.
	StderrFile string
}

// PathsFor returns the paths of the local cluster under configDir.
func PathsFor(configDir string) Paths {
	d := filepath.Join(configDir, "local")
	return Paths{Dir: d, StateDir: filepath.Join(d, "state"), PidFile: filepath.Join(d, "operator.pid"),
		LogFile: filepath.Join(d, "operator.log"), StderrFile: filepath.Join(d, "operator.stderr"), TokenFile: filepath.Join(d, "admin.token"),
		RecordFile: filepath.Join(d, "cluster.json"), LockFile: filepath.Join(d, ".lock"), AWSSettingsFile: filepath.Join(d, "apis-aws.json")}
}

// Record is what `up` remembers between runs (cluster.json).
type Record struct {
	OperatorPort int    `json:"operator_port"`
	GatewayPort  int    `json:"gateway_port"`
	Auth         string `json:"auth"`
	EnvName      string `json:"env_name"`
	StartedAt    string `json:"started_at,omitempty"`
	// IAM settings, kept so that `up` after a crash restarts the cluster as it was.
	AccountID       string `json:"account_id,omitempty"`
	CreatorARN      string `json:"creator_arn,omitempty"`
	STSTestEndpoint string `json:"sts_test_endpoint,omitempty"`
	Python          string `json:"python,omitempty"`
}

// Status is what Info reports.
type Status struct {
	Running          bool   `json:"running"`
	PID              int    `json:"pid,omitempty"`
	OperatorEndpoint string `json:"operator_endpoint,omitempty"`
	GatewayEndpoint  string `json:"gateway_endpoint,omitempty"`
	Auth             string `json:"auth,omitempty"`
	EnvName          string `json:"environment,omitempty"`
	StateDir         string `json:"state_dir"`
	LogFile          string `json:"log_file"`
	StartedAt        string `json:"started_at,omitempty"`
	// Started is true when Up started the operator (false: it was already running).
	Started bool `json:"-"`
	// StalePid is set when Up or Down found a pid file of a process that no longer runs.
	StalePid int `json:"-"`
}

func (o *Options) defaults() error {
	if o.ConfigDir == "" {
		return errors.New("local cluster: config dir is required")
	}
	if o.EnvName == "" {
		o.EnvName = DefaultEnv
	}
	if err := cliconfig.ValidateEnvName(o.EnvName); err != nil {
		return err
	}
	if o.Auth != "" && o.Auth != AuthLocal && o.Auth != AuthIAM {
		return fmt.Errorf("invalid auth %q: use local or iam", o.Auth)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 20 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// lock takes an exclusive lock on the cluster directory (concurrent up/down wait for each other).
func lock(p Paths) (func(), error) {
	if err := fsutil.EnsurePrivateDir(p.Dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p.LockFile, os.O_CREATE|os.O_RDWR, fsutil.PrivateFile)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func readRecord(p Paths) (Record, bool) {
	var r Record
	data, err := os.ReadFile(p.RecordFile)
	if err != nil || json.Unmarshal(data, &r) != nil {
		return Record{}, false
	}
	return r, true
}

// runningOperator returns the pid of the cluster's operator when it runs; stale is the pid of
// a pid file whose process is gone (or is not our operator), which is then removed.
func runningOperator(p Paths) (pid, stale int) {
	pf, alive, err := local.ReadPidFile(p.PidFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(p.PidFile) // malformed
		}
		return 0, 0
	}
	if alive && isOperator(pf.Pid, p.StateDir) {
		return pf.Pid, 0
	}
	_ = os.Remove(p.PidFile)
	return 0, pf.Pid
}

// isOperator checks the process's command line (when /proc is there) so a reused pid of an
// unrelated process is never signalled.
func isOperator(pid int, stateDir string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: trust pid + start time
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	joined := " " + strings.Join(args, " ") + " "
	return strings.Contains(joined, " operator serve ") && strings.Contains(joined, " "+stateDir+" ")
}

func portFree(port int) bool {
	if port <= 0 {
		return false
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort(avoid int) (int, error) {
	for i := 0; i < 10; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != avoid {
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// Up starts the local cluster (or finds it running), waits until it is healthy and configures
// the environment. Running it again is safe.
func Up(ctx context.Context, o Options) (*Status, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	p := PathsFor(o.ConfigDir)
	unlock, err := lock(p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, d := range []string{p.Dir, p.StateDir} {
		if err := fsutil.EnsurePrivateDir(d); err != nil {
			return nil, err
		}
	}
	rec, _ := readRecord(p)
	st := &Status{StateDir: p.StateDir, LogFile: p.LogFile}
	pid, stale := runningOperator(p)
	st.StalePid = stale
	if stale != 0 {
		fmt.Fprintf(o.Progress, "found a stale pid file (process %d is not running); starting a new operator\n", stale)
	}
	if pid != 0 {
		if o.Auth != "" && rec.Auth != "" && rec.Auth != o.Auth {
			return nil, fmt.Errorf("the local cluster is running with --auth %s; run `cortex cluster down` first to change it", rec.Auth)
		}
		fmt.Fprintf(o.Progress, "the local cluster is already running (pid %d)\n", pid)
	} else {
		// A crashed operator may have left API processes behind.
		if n := local.SweepOrphans(filepath.Join(p.StateDir, "workloads")); n > 0 {
			fmt.Fprintf(o.Progress, "stopped %d API process(es) left by a previous operator\n", n)
		}
		opPort, gwPort := o.OperatorPort, o.GatewayPort
		if opPort == 0 && portFree(rec.OperatorPort) {
			opPort = rec.OperatorPort
		}
		if gwPort == 0 && portFree(rec.GatewayPort) && rec.GatewayPort != opPort {
			gwPort = rec.GatewayPort
		}
		if opPort == 0 {
			if opPort, err = freePort(gwPort); err != nil {
				return nil, err
			}
		}
		if gwPort == 0 {
			if gwPort, err = freePort(opPort); err != nil {
				return nil, err
			}
		}
		// Without flags, a restart (e.g. after a crash) keeps the previous settings.
		if o.Auth == "" {
			o.Auth = rec.Auth
			if o.Auth == AuthIAM && o.AccountID == "" {
				o.AccountID, o.CreatorARN, o.STSTestEndpoint = rec.AccountID, rec.CreatorARN, rec.STSTestEndpoint
			}
		}
		if o.Auth == "" {
			o.Auth = AuthLocal
		}
		if o.Auth == AuthIAM && o.AccountID == "" {
			return nil, errors.New("--auth iam needs --account-id (the AWS account whose identities may use the cluster)")
		}
		if o.Python == "" {
			o.Python = rec.Python
		}
		py := o.Python
		if py == "" {
			py = os.Getenv("CORTEX_PYTHON")
		}
		if err := local.CheckPython(py); err != nil {
			fmt.Fprintf(o.Progress, "warning: %v\n", err)
		}
		rec = Record{OperatorPort: opPort, GatewayPort: gwPort, Auth: o.Auth, EnvName: o.EnvName,
			StartedAt: time.Now().UTC().Format(time.RFC3339), Python: o.Python}
		if o.Auth == AuthIAM {
			rec.AccountID, rec.CreatorARN, rec.STSTestEndpoint = o.AccountID, o.CreatorARN, o.STSTestEndpoint
		}
		if pid, err = start(p, o, rec); err != nil {
			return nil, err
		}
		data, _ := json.MarshalIndent(rec, "", "  ")
		if err := fsutil.WriteFileAtomic(p.RecordFile, data); err != nil {
			return nil, err
		}
		st.Started = true
		fmt.Fprintf(o.Progress, "started the operator (pid %d), waiting until it is healthy\n", pid)
	}
	// Starting the operator and writing its environment are one step: if the wait or the
	// environment fails (an interrupt included), an operator this call started is stopped again,
	// so no running cluster is left without its environment.
	st.Running, st.PID, st.Auth, st.EnvName, st.StartedAt = true, pid, rec.Auth, o.EnvName, rec.StartedAt
	st.OperatorEndpoint = fmt.Sprintf("https://127.0.0.1:%d", rec.OperatorPort)
	st.GatewayEndpoint = fmt.Sprintf("https://127.0.0.1:%d", rec.GatewayPort)
	caPEM, err := waitHealthy(ctx, p, pid, rec.OperatorPort, o.StartTimeout)
	if err == nil {
		err = configureEnv(ctx, o, p, st, caPEM)
	}
	if err != nil {
		if st.Started {
			fmt.Fprintf(o.Progress, "stopping the operator this command started (pid %d)\n", pid)
			stopProcess(context.WithoutCancel(ctx), pid, o.StopTimeout)
			local.SweepOrphans(filepath.Join(p.StateDir, "workloads"))
			_ = os.Remove(p.PidFile)
		}
		return nil, err
	}
	return st, nil
}

func start(p Paths, o Options, rec Record) (int, error) {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return 0, err
		}
	}
	// The operator writes its own log, rotated (20 MB x 5 by default): an append-only stderr file
	// grew without bound.
	args := []string{"operator", "serve", "--provider", "local", "--state-dir", p.StateDir,
		"--listen", "127.0.0.1:" + strconv.Itoa(rec.OperatorPort), "--cluster-name", "local", "--log-file", p.LogFile,
		"--apis-aws-settings-file", p.AWSSettingsFile}
	if o.Auth == AuthLocal {
		args = append(args, "--local-token-file", p.TokenFile)
	} else {
		args = append(args, "--account-id", o.AccountID)
		if o.CreatorARN != "" {
			args = append(args, "--creator-arn", o.CreatorARN)
		}
		if o.Region != "" {
			args = append(args, "--region", o.Region)
		}
		if o.STSTestEndpoint != "" {
			args = append(args, "--sts-test-endpoint", o.STSTestEndpoint)
		}
	}
	cmd := exec.Command(exe, args...)
	env := os.Environ()
	env = append(env,
		"CORTEX_GATEWAY_LISTEN=127.0.0.1:"+strconv.Itoa(rec.GatewayPort),
	)
	if o.Python != "" {
		env = append(env, "CORTEX_PYTHON="+o.Python)
	}
	cmd.Env = env
	cmd.Dir = p.Dir
	logf, err := os.OpenFile(p.StderrFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fsutil.PrivateFile)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	// Its own session: no terminal, survives the CLI, not hit by the CLI's Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = os.Remove(filepath.Join(p.StateDir, "operator.addr"))
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the operator: %w", err)
	}
	pid := cmd.Process.Pid
	if err := local.WritePidFile(p.PidFile, pid); err != nil {
		_ = cmd.Process.Kill()
		if state, _ := cmd.Process.Wait(); state != nil && state.Exited() {
			// It died on its own before its pid file was written (a bad flag, a port in use):
			// that is a start-up failure, with its output, not the pid file's "zombie".
			return 0, startupFailed(p)
		}
		return 0, err
	}
	// Reap it if it dies while we wait (avoids a zombie that looks alive); after we exit, init does.
	go func() { _, _ = cmd.Process.Wait() }()
	return pid, nil
}

// waitHealthy polls /healthz over TLS verified with the cluster's CA until it answers, the
// process dies (the error quotes its log) or the timeout passes.
func waitHealthy(ctx context.Context, p Paths, pid, port int, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	caFile := filepath.Join(p.StateDir, "tls", "ca.pem")
	endpoint := fmt.Sprintf("https://127.0.0.1:%d", port)
	var lastErr error
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := local.ProcessStartTime(pid); err != nil {
			return nil, startupFailed(p)
		}
		caPEM, err := os.ReadFile(caFile)
		if err == nil {
			lastErr = checkHealth(ctx, endpoint, caPEM)
			if lastErr == nil {
				return caPEM, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the operator (pid %d) is not healthy after %s: %v; see %s", pid, timeout, lastErr, p.LogFile)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkHealth asks the operator's /healthz over TLS verified with the cluster's CA.
func checkHealth(ctx context.Context, endpoint string, caPEM []byte) error {
	c, err := client.New(client.Options{Endpoint: endpoint, CAPEM: caPEM})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Health(ctx)
}

// Probe reports whether https://addr answers TLS verified with caPEM (used by tests and info).
func Probe(addr string, caPEM []byte) error {
	cfg, err := tlsutil.ClientConfig(caPEM)
	if err != nil {
		return err
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return conn.Close()
}

// startupFailed is the error of an operator that died during start-up, quoting what it left.
func startupFailed(p Paths) error {
	return fmt.Errorf("the operator exited during start-up; its log (%s) ends with:\n%s", p.LogFile, startupTail(p))
}

// startupTail is what an operator that died during start-up left: the end of its log, then what
// it printed to stderr (where an error before the log was open, or a crash, goes).
func startupTail(p Paths) string {
	var parts []string
	for _, f := range []string{p.LogFile, p.StderrFile} {
		if t := tail(f, 15); t != "(no log)" && t != "" {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		return "(no log)"
	}
	return strings.Join(parts, "\n")
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func configureEnv(ctx context.Context, o Options, p Paths, st *Status, caPEM []byte) error {
	cfg, err := cliconfig.Load(o.ConfigDir)
	if err != nil {
		return err
	}
	env := cliconfig.Environment{}
	if prev, err := cfg.Get(o.EnvName); err == nil && prev.Name == o.EnvName {
		env = *prev // keep aws_profile / aws_credentials_for_apis
	}
	env.Name = o.EnvName
	env.Provider = "local"
	env.OperatorEndpoint = st.OperatorEndpoint
	env.CACert = string(caPEM)
	env.ClusterName = "local"
	// The cluster binding (id, STS endpoint) is recorded whatever the auth: tokens need it with
	// --auth iam, and it names the cluster in `env list` and `whoami` either way.
	c, err := client.New(client.Options{Endpoint: st.OperatorEndpoint, CAPEM: caPEM})
	if err != nil {
		return err
	}
	defer c.Close()
	ap, err := c.AuthParams(ctx)
	if err != nil {
		return err
	}
	env.ClusterID, env.STSHost, env.STSRegion, env.STSScheme = ap.ClusterID, ap.STSHost, ap.STSRegion, ap.STSScheme
	if st.Auth == AuthIAM {
		env.Auth, env.LocalTokenFile = cliconfig.AuthAWS, ""
	} else {
		env.Auth, env.LocalTokenFile = cliconfig.AuthLocal, p.TokenFile
	}
	// What the operator needs of the environment (AWS credentials for APIs) it gets in its own
	// file, written before the environment so that the environment never names a cluster that
	// lacks it.
	if err := SetAPIAWSSettings(o.ConfigDir, env.AWSCredentialsForAPIs, env.AWSProfile); err != nil {
		return err
	}
	cfg.Put(env)
	return cfg.Save()
}

// SetAPIAWSSettings records whether the local cluster's APIs get AWS credentials, and from which
// profile; the operator reads it at each deploy. `env configure` of the local environment calls
// it, so a change takes effect at the next deploy.
func SetAPIAWSSettings(configDir string, enabled bool, profile string) error {
	p := PathsFor(configDir)
	if err := fsutil.EnsurePrivateDir(p.Dir); err != nil {
		return err
	}
	return workload.WriteAWSSettings(p.AWSSettingsFile, workload.AWSSettings{Enabled: enabled, Profile: profile})
}

// Info reports the local cluster without changing anything.
func Info(configDir string) (*Status, error) {
	p := PathsFor(configDir)
	st := &Status{StateDir: p.StateDir, LogFile: p.LogFile}
	rec, ok := readRecord(p)
	pf, alive, err := local.ReadPidFile(p.PidFile)
	if err == nil && alive && isOperator(pf.Pid, p.StateDir) {
		st.Running, st.PID = true, pf.Pid
	} else if err == nil {
		st.StalePid = pf.Pid
	}
	if ok {
		st.Auth, st.EnvName, st.StartedAt = rec.Auth, rec.EnvName, rec.StartedAt
		st.OperatorEndpoint = fmt.Sprintf("https://127.0.0.1:%d", rec.OperatorPort)
		st.GatewayEndpoint = fmt.Sprintf("https://127.0.0.1:%d", rec.GatewayPort)
	}
	return st, nil
}

// DownOptions control Down.
type DownOptions struct {
	ConfigDir string
	// KeepState keeps the APIs, CA and logs for the next `up` (default: everything is deleted).
	KeepState   bool
	StopTimeout time.Duration
	Progress    io.Writer
}

// Down stops the operator and every API process it started, forgets the environment and
// (unless KeepState) deletes the cluster's files. It is safe to run when nothing runs.
func Down(ctx context.Context, o DownOptions) (*Status, error) {
	if o.StopTimeout == 0 {
		o.StopTimeout = 20 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	p := PathsFor(o.ConfigDir)
	if _, err := os.Stat(p.Dir); errors.Is(err, os.ErrNotExist) {
		return &Status{StateDir: p.StateDir, LogFile: p.LogFile}, nil
	}
	unlock, err := lock(p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, _ := readRecord(p)
	st := &Status{StateDir: p.StateDir, LogFile: p.LogFile, EnvName: rec.EnvName}
	pid, stale := runningOperator(p)
	st.StalePid = stale
	if pid != 0 {
		st.PID = pid
		fmt.Fprintf(o.Progress, "stopping the operator (pid %d) and its APIs\n", pid)
		stopProcess(ctx, pid, o.StopTimeout)
	}
	if n := local.SweepOrphans(filepath.Join(p.StateDir, "workloads")); n > 0 {
		fmt.Fprintf(o.Progress, "stopped %d leftover API process(es)\n", n)
	}
	_ = os.Remove(p.PidFile)
	// Forget the environment if it is this cluster's.
	if cfg, err := cliconfig.Load(o.ConfigDir); err == nil {
		name := rec.EnvName
		if name == "" {
			name = DefaultEnv
		}
		if env, err := cfg.Get(name); err == nil && env.Name == name && env.Provider == "local" {
			cfg.Delete(name)
			if err := cfg.Save(); err != nil {
				return nil, err
			}
		}
	}
	if !o.KeepState {
		if err := os.RemoveAll(p.Dir); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// stopProcess sends SIGTERM, waits up to timeout, then SIGKILLs the process.
func stopProcess(ctx context.Context, pid int, timeout time.Duration) {
	start, err := local.ProcessStartTime(pid)
	if err != nil {
		return
	}
	gone := func() bool {
		now, err := local.ProcessStartTime(pid)
		return err != nil || now != start
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for !gone() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 100 && !gone(); i++ {
				time.Sleep(20 * time.Millisecond)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
