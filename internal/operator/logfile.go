package operator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// Log rotation defaults: at most (1 + backups) x size on disk, 120 MB.
const (
	DefaultLogMaxSizeMB  = 20
	DefaultLogMaxBackups = 5
)

// DenialLogFile is where the lines of unauthenticated traffic go when the log is the file path:
// beside it, "denials" before the extension (operator.log: operator.denials.log).
func DenialLogFile(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".denials" + ext
}

// OpenLogFile returns a writer that appends to path and rotates it when it reaches maxSizeMB,
// keeping maxBackups rotated files (path's name with a timestamp; older ones are deleted).
//
// The log holds the audit trail (ARNs, addresses, decisions): the file and every rotated one are
// 0600 and the directory must be private. A missing directory is created 0700; an existing one
// that others can read or write is refused rather than changed (it may be shared, like /var/log),
// and so is a path that is a symlink or not a regular file.
func OpenLogFile(path string, maxSizeMB, maxBackups int) (io.WriteCloser, error) {
	if maxSizeMB < 1 || maxBackups < 1 {
		return nil, fmt.Errorf("log file %s: size (%d MB) and backups (%d) must be at least 1", path, maxSizeMB, maxBackups)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := fsutil.EnsurePrivateDir(dir); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("log file %s: %s is not a directory", abs, dir)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("log file %s: its directory is accessible to others (mode %v): use a private directory or run chmod 700 %s", abs, fi.Mode().Perm(), dir)
	}
	if fi, err := os.Lstat(abs); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("log file %s is not a regular file", abs)
		}
		// lumberjack gives new files the mode of the one it rotates: make sure that is 0600.
		if err := os.Chmod(abs, fsutil.PrivateFile); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Compression stays off: lumberjack would compress in the background, and plain files are
	// what `tail` and the start-up error of `cluster up` read.
	return &lumberjack.Logger{Filename: abs, MaxSize: maxSizeMB, MaxBackups: maxBackups}, nil
}
