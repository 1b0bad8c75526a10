package bundle

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotHashesWhatItCopies(t *testing.T) {
	src, root := t.TempDir(), filepath.Join(t.TempDir(), "bundles")
	write(t, filepath.Join(src, "handler.py"), "v1", 0o600)
	write(t, filepath.Join(src, "lib", "util.py"), "u", 0o600)
	write(t, filepath.Join(src, "run.sh"), "#!/bin/sh", 0o700)
	write(t, filepath.Join(src, "__pycache__", "x.pyc"), "cache", 0o600)
	write(t, filepath.Join(src, ".git", "HEAD"), "ref", 0o600)
	b1, err := Snapshot(src, root)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidHash(b1.Hash) {
		t.Fatalf("hash %q", b1.Hash)
	}
	if data, err := os.ReadFile(filepath.Join(b1.Dir, "lib", "util.py")); err != nil || string(data) != "u" {
		t.Fatalf("lib/util.py: %q %v", data, err)
	}
	if fi, err := os.Stat(filepath.Join(b1.Dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("run.sh lost its exec bit: %v %v", fi, err)
	}
	for _, skipped := range []string{"__pycache__", ".git"} {
		if _, err := os.Stat(filepath.Join(b1.Dir, skipped)); !os.IsNotExist(err) {
			t.Errorf("%s was shipped", skipped)
		}
	}
	// Unchanged: same bundle. A cache file changing does not matter.
	write(t, filepath.Join(src, "__pycache__", "x.pyc"), "other", 0o600)
	if b, err := Snapshot(src, root); err != nil || b != b1 {
		t.Fatalf("unchanged project: %+v %v, want %+v", b, err, b1)
	}
	// Edited: a new bundle; the old one is intact (old replicas may still run it).
	write(t, filepath.Join(src, "handler.py"), "v2", 0o600)
	b2, err := Snapshot(src, root)
	if err != nil || b2.Hash == b1.Hash {
		t.Fatalf("edited project: %+v %v", b2, err)
	}
	if data, _ := os.ReadFile(filepath.Join(b1.Dir, "handler.py")); string(data) != "v1" {
		t.Fatalf("the old bundle changed: %q", data)
	}
	// Renaming a file changes the hash; so does the exec bit.
	if err := os.Chmod(filepath.Join(src, "handler.py"), 0o700); err != nil {
		t.Fatal(err)
	}
	if b3, _ := Snapshot(src, root); b3.Hash == b2.Hash {
		t.Error("the exec bit is not part of the hash")
	}
	n, err := Prune(root, map[string]bool{b2.Hash: true})
	if err != nil || n != 2 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if _, err := Path(root, b1.Hash); err == nil {
		t.Error("pruned bundle still found")
	}
	if _, err := Path(root, b2.Hash); err != nil {
		t.Error(err)
	}
	if _, err := Path(root, "../etc"); err == nil {
		t.Error("invalid hash accepted")
	}
}

// A project that contains the bundle directory (a cortex.yaml in the home directory) does not
// ship its own bundles.
func TestSnapshotSkipsItsOwnRoot(t *testing.T) {
	src := t.TempDir()
	root := filepath.Join(src, ".cortex", "bundles")
	write(t, filepath.Join(src, "handler.py"), "v1", 0o600)
	b1, err := Snapshot(src, root)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Snapshot(src, root)
	if err != nil || b2.Hash != b1.Hash {
		t.Fatalf("the second snapshot shipped the first: %+v %v", b2, err)
	}
}

// A project directory reached through a symbolic link (~/proj -> /data/proj, a linked checkout)
// ships the files where it points: WalkDir follows no link, not even its root, so without care
// the project would be empty ("no files" for a cluster, a handler missing on the local provider).
func TestProjectDirThroughALink(t *testing.T) {
	base := t.TempDir()
	real, link := filepath.Join(base, "real"), filepath.Join(base, "link")
	write(t, filepath.Join(real, "handler.py"), "h", 0o600)
	write(t, filepath.Join(real, "lib", "util.py"), "u", 0o600)
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	viaLink, err := Read(link)
	if err != nil {
		t.Fatalf("Read through a link: %v", err)
	}
	direct, err := Read(real)
	if err != nil {
		t.Fatal(err)
	}
	if viaLink.Hash != direct.Hash || len(viaLink.Files) != 2 {
		t.Fatalf("through the link: %d files, hash %s; want the project's (%s)", len(viaLink.Files), viaLink.Hash, direct.Hash)
	}
	b, err := Snapshot(link, filepath.Join(base, "bundles"))
	if err != nil || b.Hash != direct.Hash {
		t.Fatalf("Snapshot through a link: %+v %v, want hash %s", b, err, direct.Hash)
	}
	// The bundle root inside a linked project is still skipped.
	write(t, filepath.Join(real, "bundles", "x"), "x", 0o600)
	b, err = Snapshot(link, filepath.Join(link, "bundles"))
	if err != nil || b.Hash != direct.Hash {
		t.Fatalf("Snapshot with its root inside the linked project: %+v %v, want hash %s", b, err, direct.Hash)
	}
}
