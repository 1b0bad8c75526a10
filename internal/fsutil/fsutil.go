// Package fsutil writes files the way secrets and state need: private modes and atomic replacement.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

const (
	// PrivateDir is the mode of every directory cortex creates for its own state.
	PrivateDir os.FileMode = 0o700
	// PrivateFile is the mode of every file cortex writes (config, tokens, keys, state).
	PrivateFile os.FileMode = 0o600
)

// EnsurePrivateDir creates dir (and parents) with mode 0700 and tightens an existing dir to 0700.
func EnsurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, PrivateDir); err != nil {
		return err
	}
	return os.Chmod(dir, PrivateDir)
}

// WriteFileAtomic writes data to path with mode 0600 through a temporary file in the same
// directory and a rename, so readers see either the old or the new content, never a torn one.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := EnsurePrivateDir(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(PrivateFile); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
