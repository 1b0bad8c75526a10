package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Limits of a project sent with a deploy request (Read, Verify). A cluster stores it in one
// Kubernetes ConfigMap, whose keys and values together must stay under 1 MiB: the content may use
// 1 MiB less 16 KiB, which leaves room for the keys (at most 8 bytes for each of MaxUploadFiles).
const (
	MaxUploadBytes   = 1<<20 - 16<<10
	MaxUploadFiles   = 1000
	MaxUploadPathLen = 1024
	// MaxUploadPathBytes bounds the paths together: each is in the pod template (a volume item),
	// which every ReplicaSet and pod copies.
	MaxUploadPathBytes = 64 << 10
)

// File is one file of a project sent over the wire: its slash-separated path relative to the
// project directory, whether it is executable, and its content (base64 in JSON). There is no
// symbolic link, directory or other kind of entry.
type File struct {
	Path string `json:"path"`
	Exec bool   `json:"exec,omitempty"`
	Data []byte `json:"data"`
}

// Upload is a project directory sent with a deploy request: its files in path order and their
// content hash (the same hash Snapshot gives the same directory).
type Upload struct {
	Hash  string `json:"hash"`
	Files []File `json:"files"`
}

// TooLargeError says a project does not fit an upload.
type TooLargeError struct{ Msg string }

func (e *TooLargeError) Error() string { return e.Msg }

// Read reads what a project directory ships (the rules of Snapshot: skipped directories and files,
// symbolic links to files followed, but only within src: insideProject) into an Upload, refusing one
// over the upload limits.
func Read(src string) (Upload, error) {
	src = filepath.Clean(src)
	files, err := list(src, "")
	if err != nil {
		return Upload{}, err
	}
	if len(files) > MaxUploadFiles {
		return Upload{}, &TooLargeError{fmt.Sprintf("%s has %d files; a deploy to a cluster carries at most %d (the code is stored in a Kubernetes ConfigMap): keep data and dependencies out of the project directory", src, len(files), MaxUploadFiles)}
	}
	if err := insideProject(src, files); err != nil {
		return Upload{}, err
	}
	u := Upload{Files: make([]File, 0, len(files))}
	h := sha256.New()
	var total int64
	for _, f := range files {
		data, err := readLimited(f.abs, MaxUploadBytes-total)
		if err != nil {
			if tl, ok := err.(*TooLargeError); ok {
				tl.Msg = fmt.Sprintf("%s holds more than %d bytes (%s: %s); a deploy to a cluster carries at most 1 MiB of code, because it is stored in a Kubernetes ConfigMap (limit 1 MiB): keep models and data elsewhere (e.g. S3) and load them in the handler", src, MaxUploadBytes, f.rel, tl.Msg)
			}
			return Upload{}, err
		}
		total += int64(len(data))
		u.Files = append(u.Files, File{Path: f.rel, Exec: f.exec, Data: data})
		writeEntry(h, f.rel, f.exec, data)
	}
	u.Hash = hex.EncodeToString(h.Sum(nil))
	// The operator's rules, here first: a file name the cluster would refuse fails now.
	if err := Verify(u); err != nil {
		return Upload{}, fmt.Errorf("%s: %w", src, err)
	}
	return u, nil
}

// insideProject refuses a file that is a symbolic link to (or through) a place outside src: an
// upload leaves this machine for the cluster, where the API's code reads it, so a link in a
// project someone else wrote (`settings.ini -> ~/.aws/credentials`) must not ship the deployer's
// files. Links within the project are followed as Snapshot follows them.
func insideProject(src string, files []file) error {
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f.abs)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return fmt.Errorf("%s: %s is a symbolic link to %s, outside the project directory; a deploy to a cluster ships only the project's own files (copy the file in, or remove the link)", src, f.rel, real)
		}
	}
	return nil
}

func readLimited(p string, left int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, left+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > left {
		return nil, &TooLargeError{"the limit is reached at this file"}
	}
	return data, nil
}

// writeEntry adds one file to a content hash, in Snapshot's format.
func writeEntry(h hash.Hash, rel string, exec bool, data []byte) {
	mode := "f"
	if exec {
		mode = "x"
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(h, "%s %s %q\n", mode, hex.EncodeToString(sum[:]), rel)
}

// Verify checks an Upload received from a client before anything uses it: at least one file and
// at most MaxUploadFiles, at most MaxUploadBytes, every path relative, clean, slash-separated and
// printable UTF-8 with no "..", no element starting with ".." (Kubernetes' volume internals) and
// no backslash, each path once and none a directory of another, in path order, and the hash
// matching the content.
func Verify(u Upload) error {
	if !ValidHash(u.Hash) {
		return fmt.Errorf("invalid content hash %q", u.Hash)
	}
	if len(u.Files) == 0 {
		return fmt.Errorf("no files")
	}
	if len(u.Files) > MaxUploadFiles {
		return &TooLargeError{fmt.Sprintf("%d files, at most %d", len(u.Files), MaxUploadFiles)}
	}
	var total, paths int64
	seen := make(map[string]bool, len(u.Files))
	h := sha256.New()
	for i, f := range u.Files {
		if err := checkPath(f.Path); err != nil {
			return fmt.Errorf("file %d: %w", i+1, err)
		}
		if seen[f.Path] {
			return fmt.Errorf("file %q: sent twice", f.Path)
		}
		seen[f.Path] = true
		if paths += int64(len(f.Path)); paths > MaxUploadPathBytes {
			return &TooLargeError{fmt.Sprintf("the file paths take more than %d bytes together", MaxUploadPathBytes)}
		}
		if i > 0 && f.Path < u.Files[i-1].Path {
			return fmt.Errorf("file %q: files must be in path order", f.Path)
		}
		total += int64(len(f.Data))
		if total > MaxUploadBytes {
			return &TooLargeError{fmt.Sprintf("more than %d bytes of code; a cluster stores it in a Kubernetes ConfigMap (limit 1 MiB)", MaxUploadBytes)}
		}
		writeEntry(h, f.Path, f.Exec, f.Data)
	}
	for p := range seen {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("file %q: %q is also sent as a file", p, d)
			}
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != u.Hash {
		return fmt.Errorf("content hash mismatch: the files hash to %s, not %s", got[:12], u.Hash)
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case len(p) > MaxUploadPathLen:
		return fmt.Errorf("path longer than %d bytes", MaxUploadPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not UTF-8", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case strings.Contains(p, `\`):
		return fmt.Errorf("path %q contains a backslash", p)
	case path.Clean(p) != p || p == ".":
		return fmt.Errorf("path %q is not clean", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, "..") {
			return fmt.Errorf("path %q has an element starting with \"..\"", p)
		}
	}
	return nil
}

// Has reports whether the upload holds the file p.
func (u Upload) Has(p string) bool {
	for _, f := range u.Files {
		if f.Path == p {
			return true
		}
	}
	return false
}
