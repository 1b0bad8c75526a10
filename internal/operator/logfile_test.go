package operator_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/operator"
)

// The log rotates at its size cap, keeps the configured number of old files, and every file is
// 0600 in a 0700 directory.
func TestLogFileRotatesPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs") // missing: created 0700
	path := filepath.Join(dir, "operator.log")
	w, err := operator.OpenLogFile(path, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := append(bytes.Repeat([]byte("x"), 300<<10), '\n')
	for i := 0; i < 20; i++ { // 6 MB through a 1 MB cap: several rotations
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// lumberjack deletes old backups in the background: poll for the count.
	var files []os.DirEntry
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ = os.ReadDir(dir)
		if len(files) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(files) != 3 {
		t.Fatalf("want operator.log and 2 backups, got %d files", len(files))
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("log dir mode %v", fi.Mode().Perm())
	}
	for _, f := range files {
		fi, err := f.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || fi.Size() > 1<<20 || !strings.HasPrefix(f.Name(), "operator") {
			t.Errorf("%s: mode %v size %d", f.Name(), fi.Mode().Perm(), fi.Size())
		}
	}
}

func TestLogFileRefusesSharedDirsAndLinks(t *testing.T) {
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := operator.OpenLogFile(filepath.Join(shared, "op.log"), 20, 5); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("shared dir: %v", err)
	}
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(private, "op.log")); err != nil {
		t.Fatal(err)
	}
	if _, err := operator.OpenLogFile(filepath.Join(private, "op.log"), 20, 5); err == nil {
		t.Fatal("a symlink was accepted as the log file")
	}
	// An existing, too-open log file is made private before lumberjack copies its mode.
	loose := filepath.Join(private, "loose.log")
	if err := os.WriteFile(loose, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := operator.OpenLogFile(loose, 20, 5)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o600 {
		t.Fatalf("existing log left at %v", fi.Mode().Perm())
	}
}
