package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// ptyRun is cortex running on a pseudo-terminal, as in a user's shell: Ctrl-C typed on it is
// turned into SIGINT by the terminal, for the process group in the foreground.
type ptyRun struct {
	t     *testing.T
	cmd   *exec.Cmd
	tty   *os.File // the terminal's side the process has (kept to read its mode afterwards)
	ptm   *os.File // our side
	mu    sync.Mutex
	out   bytes.Buffer
	read  chan struct{} // closed when everything the process wrote has been read
	done  chan struct{}
	state *os.ProcessState
}

func startOnPTY(t *testing.T, env []string, args ...string) *ptyRun {
	t.Helper()
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	cmd := exec.Command(cortexBin, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// Its own session with the pty as controlling terminal: it is the foreground process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &ptyRun{t: t, cmd: cmd, tty: tty, ptm: ptm, done: make(chan struct{}), read: make(chan struct{})}
	go func() {
		defer close(r.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { _ = cmd.Wait(); r.state = cmd.ProcessState; close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
		ptm.Close()
		tty.Close()
	})
	return r
}

// drain closes our copy of the terminal's side, so that reading ends once everything the exited
// process wrote has been read, and waits for that.
func (r *ptyRun) drain() string {
	r.t.Helper()
	r.tty.Close()
	select {
	case <-r.read:
	case <-time.After(10 * time.Second):
		r.t.Fatal("the terminal's output did not end")
	}
	return r.output()
}

func (r *ptyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor waits until the output contains s (bounded: a broken build must not hang CI).
func (r *ptyRun) waitFor(s string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.output(), s) {
		select {
		case <-r.done:
			r.t.Fatalf("cortex exited (%v) before printing %q:\n%s", r.state, s, r.output())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %q within 30s:\n%s", s, r.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *ptyRun) typeText(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.ptm, s); err != nil {
		r.t.Fatal(err)
	}
}

// exitCode waits for the process; one that is still running after 10s has ignored the interrupt.
func (r *ptyRun) exitCode() int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Fatalf("cortex is still running 10s after Ctrl-C:\n%s", r.output())
	}
	return r.state.ExitCode()
}

// Ctrl-C at any prompt ends the command at once with exit code 130 and one line, changes
// nothing, and leaves the terminal echoing again (issue 12, item 4). Before, the interrupt was
// swallowed and the next line typed was taken as the answer.
func TestCtrlCAtEveryPrompt(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	op := opserver.Start(t, operator.Config{STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012", LocalTokenFile: tokenFile})
	// An environment of that operator, for the commands that need one (delete).
	withEnv := func(configDir string) {
		cfg, err := cliconfig.Load(configDir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Put(cliconfig.Environment{Name: "local", OperatorEndpoint: op.URL, CACert: string(op.CAPEM()), Auth: cliconfig.AuthLocal,
			LocalTokenFile: tokenFile, ClusterID: op.Cluster().ID})
		if err := cfg.Save(); err != nil {
			t.Fatal(err)
		}
	}
	clusterYAML := filepath.Join(t.TempDir(), "cluster.yaml")
	writeFile(t, clusterYAML, "cluster_name: ctrlc\nregion: us-west-2\n")
	for _, tc := range []struct {
		name   string
		args   []string
		prompt string
		before string // typed before the prompt is interrupted
		setup  func(configDir string)
	}{
		{"CA trust", []string{"env", "configure", "x", "--operator-endpoint", op.URL}, "Trust it for this environment? [y/N] ", "", nil},
		{"AWS access key", []string{"cluster", "up", clusterYAML}, "AWS access key id: ", "", nil},
		{"AWS secret (no echo)", []string{"cluster", "up", clusterYAML}, "AWS secret access key: ", "AKIAIOSFODNN7EXAMPLE\r", nil},
		{"delete confirmation", []string{"delete", "echo"}, "? [y/N] ", "", withEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			configDir := t.TempDir()
			home := t.TempDir()
			env := append(os.Environ(), "CORTEX_CLI_CONFIG_DIR="+configDir, "CORTEX_ENV=", "HOME="+home,
				"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
				"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
				"AWS_EC2_METADATA_DISABLED=true", "CORTEX_AWS_ACCESS_KEY_ID=", "CORTEX_AWS_SECRET_ACCESS_KEY=",
				"CLUSTER_AWS_ACCESS_KEY_ID=", "CLUSTER_AWS_SECRET_ACCESS_KEY=")
			if tc.setup != nil {
				tc.setup(configDir)
			}
			before, _ := os.ReadFile(filepath.Join(configDir, "cli.yaml"))
			r := startOnPTY(t, env, tc.args...)
			if tc.before != "" {
				r.waitFor("AWS access key id: ")
				r.typeText(tc.before)
			}
			r.waitFor(tc.prompt)
			r.typeText("\x03") // Ctrl-C
			if code := r.exitCode(); code != 130 {
				t.Fatalf("exit code %d, want 130:\n%s", code, r.output())
			}
			termios, err := unix.IoctlGetTermios(int(r.tty.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			out := r.drain()
			tail := out[strings.LastIndex(out, tc.prompt)+len(tc.prompt):]
			if !strings.Contains(tail, "interrupted") || strings.Count(strings.TrimSpace(strings.ReplaceAll(tail, "^C", "")), "\n") > 1 {
				t.Errorf("want one line saying it was interrupted after the prompt, got %q", tail)
			}
			if after, _ := os.ReadFile(filepath.Join(configDir, "cli.yaml")); !bytes.Equal(before, after) {
				t.Errorf("an interrupted command changed cli.yaml")
			}
			if ents, _ := os.ReadDir(filepath.Join(configDir, "clusters")); len(ents) > 0 {
				t.Errorf("an interrupted command cached credentials: %v", ents)
			}
			if termios.Lflag&unix.ECHO == 0 {
				t.Errorf("the terminal was left without echo")
			}
		})
	}
}

// Ctrl-C while a local `cluster up` waits for the operator it started stops that operator again:
// no cluster is left running without its environment (issue 12, item 4). The test sends SIGINT
// to the real process, as a terminal does.
func TestInterruptedLocalClusterUpLeavesNothingRunning(t *testing.T) {
	c := newCluster(t)
	cmd := exec.Command(cortexBin, "cluster", "up")
	cmd.Env = c.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := regexp.MustCompile(`started the operator \(pid (\d+)\)`)
	var log strings.Builder
	pid := 0
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := started.FindStringSubmatch(sc.Text()); m != nil {
			pid, _ = strconv.Atoi(m[1])
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	rest, _ := io.ReadAll(stderr)
	log.Write(rest)
	err = cmd.Wait()
	if pid == 0 {
		t.Fatalf("cluster up never started an operator: %v\n%s", err, log.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(log.String(), "interrupted") {
		t.Fatalf("exit %d, want 130 and a line saying interrupted:\n%s%s", code, out.String(), log.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the operator (pid %d) is still running after the interrupted up:\n%s", pid, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg, _ := os.ReadFile(filepath.Join(c.configDir, "cli.yaml"))
	if strings.Contains(string(cfg), "\n  name: local\n") {
		t.Errorf("the environment was written although up was interrupted:\n%s", cfg)
	}
	if left := c.processes(); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
	// And the next up works as if nothing happened.
	c.must("cluster", "up")
	if ci := c.info(); !ci.Running {
		t.Fatalf("cluster up after the interrupted one: %+v", ci)
	}
}

// -e NAME is accepted by the local provider's up, info and down (issue 12, item 2; before:
// "--env not valid with --provider local"): up configures that environment, info lists through
// it, down forgets it.
func TestLocalClusterCommandsTakeTheEnvFlag(t *testing.T) {
	c := newCluster(t)
	c.must("cluster", "up", "-e", "dev")
	cfg, _ := os.ReadFile(filepath.Join(c.configDir, "cli.yaml"))
	if !strings.Contains(string(cfg), "\n  name: dev\n") || strings.Contains(string(cfg), "\n  name: local\n") {
		t.Fatalf("cluster up -e dev wrote:\n%s", cfg)
	}
	if out := c.must("cluster", "info", "-e", "dev"); !strings.Contains(out, "environment:  dev") || !strings.Contains(out, "apis:") || strings.Contains(out, "cannot list") {
		t.Fatalf("cluster info -e dev:\n%s", out)
	}
	c.must("cluster", "down", "-e", "dev")
	cfg, _ = os.ReadFile(filepath.Join(c.configDir, "cli.yaml"))
	if strings.Contains(string(cfg), "\n  name: dev\n") {
		t.Fatalf("cluster down -e dev left the environment:\n%s", cfg)
	}
}
