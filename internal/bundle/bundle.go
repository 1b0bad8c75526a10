// Package bundle snapshots what an API ships (its project directory: the handler and the files
// next to it) into a content-addressed, private copy. The copy is what every replica of one
// version runs, so a replica restarted later runs the code that was deployed, not whatever the
// project directory holds by then; and the content hash tells a deploy whether the code changed.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// Limits of one project directory.
const (
	MaxFiles = 10000
	MaxBytes = 256 << 20
)

// skipDirs are never shipped: version control, caches and virtual environments (an API's
// dependencies belong to the cluster's Python, not to its bundle).
var skipDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, "__pycache__": true, ".mypy_cache": true,
	".pytest_cache": true, ".ruff_cache": true, ".venv": true, "venv": true, "node_modules": true,
}

func skipFile(name string) bool {
	return strings.HasSuffix(name, ".pyc") || name == ".DS_Store"
}

// Hash format: 64 lowercase hex digits (sha256).
var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidHash reports whether h can name a bundle.
func ValidHash(h string) bool { return hashRE.MatchString(h) }

type file struct {
	rel  string
	abs  string
	exec bool
}

// list walks src and returns its files in a stable order. Symbolic links to files are followed
// (their content is shipped); symbolic links to directories are not. The bundle root itself is
// skipped when it lies inside src (a project in the home directory must not ship the bundles).
func list(src, root string) ([]file, error) {
	var files []file
	var total int64
	// A project directory that is itself a symbolic link (~/proj -> /data/proj) is walked where it
	// points: WalkDir follows no link, not even its root, and would find no files. The bundle root,
	// when it lies inside, is named the same way.
	if fi, err := os.Lstat(src); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return nil, err
		}
		if root != "" && strings.HasPrefix(root, src+string(filepath.Separator)) {
			root = real + root[len(src):]
		}
		src = real
	}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == src {
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if skipDirs[name] || path == root {
				return filepath.SkipDir
			}
			return nil
		}
		if skipFile(name) {
			return nil
		}
		fi, err := os.Stat(path) // follows a symbolic link
		if err != nil {
			if d.Type()&fs.ModeSymlink != 0 {
				return nil // a dangling link ships nothing
			}
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		files = append(files, file{rel: filepath.ToSlash(rel), abs: path, exec: fi.Mode()&0o111 != 0})
		total += fi.Size()
		if len(files) > MaxFiles {
			return fmt.Errorf("%s has more than %d files; an API ships its whole project directory (the directory of cortex.yaml): keep data and dependencies elsewhere", src, MaxFiles)
		}
		if total > MaxBytes {
			return fmt.Errorf("%s holds more than %d MiB; an API ships its whole project directory (the directory of cortex.yaml): keep models and data elsewhere (e.g. S3) and load them in the handler", src, MaxBytes>>20)
		}
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, err
}

// Bundle is one snapshot.
type Bundle struct {
	Hash string // sha256 of the file names, exec bits and contents
	Dir  string // the snapshot's directory
}

// Snapshot copies src into root/<hash> (0700 directories, 0600 files, 0700 executables) and
// returns it. The hash covers exactly the bytes copied (each file is hashed while it is copied),
// so a file edited during the copy cannot make the hash and the snapshot disagree. Snapshotting an
// unchanged directory again returns the existing bundle.
func Snapshot(src, root string) (Bundle, error) {
	files, err := list(filepath.Clean(src), filepath.Clean(root))
	if err != nil {
		return Bundle{}, err
	}
	if err := fsutil.EnsurePrivateDir(root); err != nil {
		return Bundle{}, err
	}
	tmp, err := os.MkdirTemp(root, ".tmp-")
	if err != nil {
		return Bundle{}, err
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	h := sha256.New()
	for _, f := range files {
		dst := filepath.Join(tmp, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return Bundle{}, err
		}
		sum, err := copyFile(f.abs, dst, f.exec)
		if err != nil {
			return Bundle{}, err
		}
		mode := "f"
		if f.exec {
			mode = "x"
		}
		fmt.Fprintf(h, "%s %s %q\n", mode, sum, f.rel)
	}
	hash := hex.EncodeToString(h.Sum(nil))
	dir := filepath.Join(root, hash)
	if _, err := os.Stat(dir); err == nil {
		return Bundle{Hash: hash, Dir: dir}, nil
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil { // made at the same time by another deploy
			return Bundle{Hash: hash, Dir: dir}, nil
		}
		return Bundle{}, err
	}
	return Bundle{Hash: hash, Dir: dir}, nil
}

func copyFile(src, dst string, exec bool) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	mode := os.FileMode(0o600)
	if exec {
		mode = 0o700
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, MaxBytes+1)); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Path is the directory of the bundle hash under root, or an error when it does not exist.
func Path(root, hash string) (string, error) {
	if !ValidHash(hash) {
		return "", fmt.Errorf("invalid bundle hash %q", hash)
	}
	dir := filepath.Join(root, hash)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("the deployed code (bundle %s) is missing from %s; deploy the API again", hash[:12], root)
	}
	return dir, nil
}

// Prune removes every bundle under root that keep does not name (and leftovers of interrupted
// snapshots). It returns how many it removed.
func Prune(root string, keep map[string]bool) (int, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if keep[name] || !(ValidHash(name) || strings.HasPrefix(name, ".tmp-")) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
