package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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
