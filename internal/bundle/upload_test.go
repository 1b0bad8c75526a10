package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Read ships what Snapshot ships and hashes it the same way.
func TestReadMatchesSnapshot(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "handler.py"), "class Handler: pass\n", 0o600)
	write(t, filepath.Join(src, "lib", "util.py"), "u", 0o600)
	write(t, filepath.Join(src, "run.sh"), "#!/bin/sh", 0o700)
	write(t, filepath.Join(src, "__pycache__", "x.pyc"), "cache", 0o600)
	write(t, filepath.Join(src, ".venv", "lib", "big.py"), "venv", 0o600)
	u, err := Read(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Snapshot(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if u.Hash != b.Hash {
		t.Errorf("Read hash %s, Snapshot hash %s", u.Hash, b.Hash)
	}
	var paths []string
	for _, f := range u.Files {
		paths = append(paths, f.Path)
	}
	if strings.Join(paths, ",") != "handler.py,lib/util.py,run.sh" || !u.Files[2].Exec || u.Files[0].Exec {
		t.Errorf("files %+v", u.Files)
	}
	if err := Verify(u); err != nil {
		t.Errorf("Verify of what Read made: %v", err)
	}
}

func TestReadRefusesOversizeProjects(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "handler.py"), "x", 0o600)
	write(t, filepath.Join(src, "model.bin"), strings.Repeat("m", MaxUploadBytes), 0o600)
	_, err := Read(src)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(err.Error(), "ConfigMap") || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("oversize project: %v", err)
	}
}

// upload builds an Upload with a correct hash (so each case tests one rule).
func upload(files ...File) Upload {
	h := sha256.New()
	for _, f := range files {
		writeEntry(h, f.Path, f.Exec, f.Data)
	}
	return Upload{Hash: hex.EncodeToString(h.Sum(nil)), Files: files}
}

func TestVerifyRefusesHostileUploads(t *testing.T) {
	ok := File{Path: "handler.py", Data: []byte("x")}
	good := upload(ok)
	if err := Verify(good); err != nil {
		t.Fatal(err)
	}
	wrongHash := good
	wrongHash.Hash = strings.Repeat("0", 64)
	tamperedData := upload(ok)
	tamperedData.Files = []File{{Path: "handler.py", Data: []byte("y")}}
	tamperedExec := upload(ok)
	tamperedExec.Files = []File{{Path: "handler.py", Data: []byte("x"), Exec: true}}
	many := make([]File, MaxUploadFiles+1)
	for i := range many {
		many[i] = File{Path: fmt.Sprintf("f%04d", i)}
	}
	for _, c := range []struct {
		name string
		u    Upload
		want string
	}{
		{"dotdot", upload(File{Path: "../x"}), `starting with ".."`},
		{"dotdot inside", upload(File{Path: "a/../../x"}), "not clean"},
		{"absolute", upload(File{Path: "/etc/passwd"}), "absolute"},
		{"dot", upload(File{Path: "."}), "not clean"},
		{"dot element", upload(File{Path: "./x"}), "not clean"},
		{"trailing slash", upload(File{Path: "a/"}), "not clean"},
		{"double slash", upload(File{Path: "a//b"}), "not clean"},
		{"backslash", upload(File{Path: `..\x`}), "backslash"},
		{"kubernetes internals", upload(File{Path: "..data/x"}), `".."`},
		{"NUL", upload(File{Path: "a\x00b"}), "control character"},
		{"newline", upload(File{Path: "a\nb"}), "control character"},
		{"not UTF-8", upload(File{Path: "a\xffb"}), "UTF-8"},
		{"empty path", upload(File{Path: ""}), "empty path"},
		{"long path", upload(File{Path: strings.Repeat("a", MaxUploadPathLen+1)}), "longer than"},
		{"duplicate", upload(ok, ok), "sent twice"},
		{"file and directory", upload(File{Path: "a"}, File{Path: "a/b"}), "also sent as a file"},
		{"out of order", upload(File{Path: "b"}, File{Path: "a"}), "path order"},
		{"oversize", upload(File{Path: "a", Data: make([]byte, MaxUploadBytes)}, File{Path: "b", Data: []byte("x")}), "ConfigMap"},
		{"too many files", upload(many...), "at most"},
		{"paths too long together", upload(longNames()...), "paths take more than"},
		{"no files", upload(), "no files"},
		{"bad hash", Upload{Hash: "abc", Files: good.Files}, "invalid content hash"},
		{"wrong hash", wrongHash, "hash mismatch"},
		{"tampered content", tamperedData, "hash mismatch"},
		{"tampered exec bit", tamperedExec, "hash mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.u)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func longNames() []File {
	var fs []File
	for i := 0; i < 70; i++ {
		fs = append(fs, File{Path: fmt.Sprintf("%03d", i) + strings.Repeat("n", 1000)})
	}
	return fs
}

// Read applies the operator's rules first: a name the cluster would refuse fails on the client.
func TestReadRefusesWhatVerifyRefuses(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, `a\b.py`), "x", 0o600)
	if _, err := Read(src); err == nil || !strings.Contains(err.Error(), "backslash") {
		t.Errorf("backslash name: %v", err)
	}
}
