// Package statestore is where the operator keeps its state: a few named JSON documents (the
// cluster record, the access rules, the API key hashes, the deployed APIs), each written whole
// with optimistic concurrency. Files keeps them in a private directory (the local provider, and
// an operator on one machine); internal/kube/statestore keeps them in Kubernetes Secrets (an
// operator inside a cluster, whose pod may be rescheduled anywhere).
//
// A write names the version it replaces, so that a writer that has not seen the latest version
// (a second operator running at the same time, a document changed behind the operator's back)
// gets ErrConflict instead of overwriting it: a conflict is an error, never a lost write.
package statestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// The operator's documents. They are listed in one place so that the Kubernetes install can
// grant access to exactly these (internal/kube/install).
const (
	DocCluster = "cluster.json"  // the cluster record (id, creator and its unique-id binding)
	DocAccess  = "access.json"   // the access rules and their unique-id bindings
	DocAPIKeys = "api-keys.json" // API keys: SHA-256 hashes, scopes, expiry, last use
	DocAPIs    = "apis.json"     // the deployed API specs and versions
)

// Documents are all of the operator's documents.
var Documents = []string{DocCluster, DocAccess, DocAPIKeys, DocAPIs}

// Errors of Store.
var (
	// ErrConflict: the document's current version is not the one the write replaces.
	ErrConflict = errors.New("the state document was changed by another writer since it was read")
	// ErrTooLarge: the document is larger than the store can hold.
	ErrTooLarge = errors.New("the state document is too large")
)

// Store keeps named documents. Implementations are safe for concurrent use.
type Store interface {
	// Read returns a document and its version; ok is false (and the version "") when it does
	// not exist.
	Read(ctx context.Context, name string) (data []byte, version string, ok bool, err error)
	// Write replaces the document whose current version is version ("": it must not exist) and
	// returns the new version. A different current version is ErrConflict (nothing is written).
	Write(ctx context.Context, name string, data []byte, version string) (string, error)
	// Describe names where a document lives, for messages ("/var/lib/cortex/cluster.json",
	// "Secret cortex/cortex-state-cluster").
	Describe(name string) string
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?\.json$`)

// ValidateName checks a document name: lowercase letters, digits and '-', ending in .json.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("state document name %q: use lowercase letters, digits and '-', ending in .json", name)
	}
	return nil
}

// Doc is one document of a Store and the version this process last read or wrote: a Save over
// a version it has not seen fails with ErrConflict, and this process must read the document
// again (restart) before it can write it.
type Doc struct {
	store Store
	name  string

	mu      sync.Mutex
	version string
}

// NewDoc returns the document name of store (not read yet: Load it first, or Save creates it).
func NewDoc(store Store, name string) *Doc { return &Doc{store: store, name: name} }

// Name is the document's name.
func (d *Doc) Name() string { return d.name }

// Describe names where the document lives.
func (d *Doc) Describe() string { return d.store.Describe(d.name) }

// Load reads the document and remembers its version; ok is false when it does not exist.
func (d *Doc) Load(ctx context.Context) (data []byte, ok bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	data, v, ok, err := d.store.Read(ctx, d.name)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", d.store.Describe(d.name), err)
	}
	d.version = v
	return data, ok, nil
}

// Save writes data over the version last loaded or saved.
func (d *Doc) Save(ctx context.Context, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.store.Write(ctx, d.name, data, d.version)
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("write %s: %w (is another operator running? restart this one to read the current state)", d.store.Describe(d.name), err)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", d.store.Describe(d.name), err)
	}
	d.version = v
	return nil
}

// Files keeps each document as a file of a private directory (0600, atomic writes). The version
// of a file is the SHA-256 of its content; the check before a write catches a stale writer, but
// two processes writing the same directory at once are not serialized: one process owns a state
// directory (the local provider holds a lock on it).
type Files struct {
	Dir string

	mu sync.Mutex // serializes the check-and-write of this process
}

// NewFiles returns the file store of dir (which must exist).
func NewFiles(dir string) *Files { return &Files{Dir: dir} }

// Path is the file of a document.
func (f *Files) Path(name string) string { return filepath.Join(f.Dir, name) }

// Describe implements Store.
func (f *Files) Describe(name string) string { return f.Path(name) }

// Read implements Store.
func (f *Files) Read(_ context.Context, name string) ([]byte, string, bool, error) {
	if err := ValidateName(name); err != nil {
		return nil, "", false, err
	}
	data, err := os.ReadFile(f.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	return data, fileVersion(data), true, nil
}

// Write implements Store.
func (f *Files) Write(ctx context.Context, name string, data []byte, version string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, current, _, err := f.Read(ctx, name)
	if err != nil {
		return "", err
	}
	if current != version {
		return "", ErrConflict
	}
	if err := fsutil.WriteFileAtomic(f.Path(name), data); err != nil {
		return "", err
	}
	return fileVersion(data), nil
}

func fileVersion(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
