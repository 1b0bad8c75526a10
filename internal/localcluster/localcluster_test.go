package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/workload/local"
)

// A pid file naming a process that is not this cluster's operator (pid reuse after a crash) is
// stale: Down must not signal that process, and it removes the file.
func TestStalePidFileNeverKillsAStranger(t *testing.T) {
	dir := t.TempDir()
	p := PathsFor(dir)
	if err := fsutil.EnsurePrivateDir(p.Dir); err != nil {
		t.Fatal(err)
	}
	stranger := exec.Command("sleep", "30")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stranger.Process.Kill(); _, _ = stranger.Process.Wait() }()
	if err := local.WritePidFile(p.PidFile, stranger.Process.Pid); err != nil {
		t.Fatal(err)
	}
	st, err := Info(dir)
	if err != nil || st.Running {
		t.Fatalf("info: %+v %v", st, err)
	}
	st, err = Down(context.Background(), DownOptions{ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if st.StalePid != stranger.Process.Pid || st.PID != 0 {
		t.Fatalf("down: %+v", st)
	}
	if _, err := local.ProcessStartTime(stranger.Process.Pid); err != nil {
		t.Fatal("down killed a process that is not the operator")
	}
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Fatalf("cluster dir left: %v", err)
	}
}

// A pid file of a dead process (a crash) is detected as stale.
func TestDeadPidIsStale(t *testing.T) {
	dir := t.TempDir()
	p := PathsFor(dir)
	if err := fsutil.EnsurePrivateDir(p.Dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(p.PidFile, []byte(fmt.Sprintf("%d 12345\n", cmd.Process.Pid))); err != nil {
		t.Fatal(err)
	}
	pid, stale := runningOperator(p)
	if pid != 0 || stale != cmd.Process.Pid {
		t.Fatalf("pid %d stale %d", pid, stale)
	}
	if _, err := os.Stat(p.PidFile); !os.IsNotExist(err) {
		t.Fatal("stale pid file not removed")
	}
}

func TestUpRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{ConfigDir: t.TempDir(), Auth: "nope"},
		{ConfigDir: t.TempDir(), Auth: AuthIAM},
		{ConfigDir: t.TempDir(), EnvName: "Bad Name"},
		{},
	} {
		if _, err := Up(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// The operator writes its own rotated log (--log-file); what it prints to stderr before that log
// is open (a bad flag, a port in use) must still reach the user when it dies during start-up.
func TestStartupFailureQuotesTheOperatorsOutput(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(t.TempDir(), "fake-operator")
	// A stand-in for `cortex operator serve` that fails at once: a real process, its real stderr.
	script := "#!/bin/sh\necho \"args: $*\" >&2\necho 'Error: listen on 127.0.0.1:1: address already in use' >&2\nexit 1\n"
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Up(context.Background(), Options{ConfigDir: dir, Exe: exe, Auth: AuthLocal})
	p := PathsFor(dir)
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "--log-file "+p.LogFile) {
		t.Fatalf("the operator was not given its log file: %v", err)
	}
	if fi, err := os.Stat(p.StderrFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stderr file: %v %v", fi, err)
	}
}
