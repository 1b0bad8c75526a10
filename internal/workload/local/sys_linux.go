package local

import (
	"os/exec"
	"runtime"
	"syscall"
)

// procAttr puts a replica in its own process group and asks the kernel to kill it if the
// operator dies (SIGKILL included), so no replica outlives its supervisor.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startLocked starts cmd from a locked OS thread: Pdeathsig fires when the forking *thread*
// exits, and the Go runtime only retires threads whose goroutine exits while locked, which this
// one never does. Orphans that escape anyway are swept by SweepOrphans from their pid files.
func startLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}
