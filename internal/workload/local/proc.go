package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// ProcessStartTime returns an opaque token that identifies the process with this pid (its start
// time in clock ticks since boot, from /proc). Together with the pid it detects pid reuse.
// It returns an error when the process does not exist.
func ProcessStartTime(pid int) (string, error) {
	if pid <= 0 {
		return "", errors.New("invalid pid")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		// No /proc (not Linux): fall back to "exists".
		if e := syscall.Kill(pid, 0); e != nil && !errors.Is(e, syscall.EPERM) {
			return "", e
		}
		return "?", nil
	}
	// The command name (field 2) is in parentheses and may contain spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", errors.New("unparsable /proc stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return "", errors.New("unparsable /proc stat")
	}
	if fields[0] == "Z" {
		return "", errors.New("zombie")
	}
	return fields[19], nil
}

// PidFile is the content of a pid file: a pid and its start time.
type PidFile struct {
	Pid   int
	Start string
}

// WritePidFile records pid (with its start time) at path, 0600.
func WritePidFile(path string, pid int) error {
	start, err := ProcessStartTime(pid)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, []byte(fmt.Sprintf("%d %s\n", pid, start)))
}

// ReadPidFile reads a pid file and reports whether that very process still runs.
func ReadPidFile(path string) (pf PidFile, alive bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pf, false, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return pf, false, fmt.Errorf("%s: malformed pid file", path)
	}
	pf.Pid, err = strconv.Atoi(f[0])
	if err != nil || pf.Pid <= 1 {
		return pf, false, fmt.Errorf("%s: malformed pid file", path)
	}
	pf.Start = f[1]
	now, e := ProcessStartTime(pf.Pid)
	return pf, e == nil && now == pf.Start, nil
}

// KillGroup sends sig to the process group led by pid (replicas run in their own group).
func KillGroup(pid int, sig syscall.Signal) {
	if pid > 1 {
		_ = syscall.Kill(-pid, sig)
		_ = syscall.Kill(pid, sig)
	}
}

// SweepOrphans kills the replica process groups recorded under dir/run whose pid files still
// name a live process (left by an operator that was killed), and removes the pid files. It
// returns how many processes it killed.
func SweepOrphans(dir string) int {
	runDir := filepath.Join(dir, "run")
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return 0
	}
	killed := 0
	var live []int
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pid") {
			continue
		}
		p := filepath.Join(runDir, e.Name())
		pf, alive, err := ReadPidFile(p)
		if err == nil && alive {
			KillGroup(pf.Pid, syscall.SIGKILL)
			live = append(live, pf.Pid)
			killed++
		}
		_ = os.Remove(p)
	}
	// Wait (bounded) until they are gone, so ports are free for the next start.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range live {
		for time.Now().Before(deadline) {
			if _, err := ProcessStartTime(pid); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return killed
}
