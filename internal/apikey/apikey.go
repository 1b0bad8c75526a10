// Package apikey is the cluster's API keys: long random secrets with a recognizable prefix, scoped
// to named APIs, optionally expiring, stored only as SHA-256 hashes in one state document
// (statestore.DocAPIKeys: a private file, or a Kubernetes Secret).
//
// A key reads cxk_<id>_<secret>: "cxk_", 16 hex digits of id (public: it names the key in lists,
// logs and revocations), "_", and 43 base64url characters of secret (256 random bits). The whole
// key matches
//
//	cxk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}
//
// which is what a secret scanner looks for.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// Prefix starts every API key.
const Prefix = "cxk_"

const (
	idHexLen     = 16 // 64 random bits: unique, not secret
	secretBytes  = 32 // 256 random bits
	secretB64Len = 43 // base64url of 32 bytes, unpadded
	// KeyLen is the length of a whole key.
	KeyLen = len(Prefix) + idHexLen + 1 + secretB64Len
	// MaxKeys bounds the keys of a cluster.
	MaxKeys = 10000
	// MaxAPIsPerKey bounds the scope of one key.
	MaxAPIsPerKey = 256
	// MaxLifetime bounds --expires.
	MaxLifetime = 10 * 365 * 24 * time.Hour
	// LastUsedResolution is how precisely last-used times are kept: a key used many times a
	// second costs one in-memory update a minute, and Flush writes the file only when some
	// key's last use moved.
	LastUsedResolution = time.Minute
)

var (
	idRE   = regexp.MustCompile(`^[0-9a-f]{16}$`)
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
)

// Errors of Check; their text is safe to show to the caller (it never contains the key).
var (
	ErrMalformed = errors.New("malformed API key")
	ErrUnknown   = errors.New("unknown or revoked API key")
	ErrExpired   = errors.New("API key has expired")
	ErrNotForAPI = errors.New("API key is not valid for this API")
)

// Reason is the short code of a Check error for the access log.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMalformed):
		return "malformed_key"
	case errors.Is(err, ErrUnknown):
		return "unknown_key"
	case errors.Is(err, ErrExpired):
		return "key_expired"
	case errors.Is(err, ErrNotForAPI):
		return "key_not_for_api"
	}
	return "key_error"
}

// Info is a key as lists show it: everything but the secret and its hash (the wire type).
type Info = apitypes.APIKey

// record is a key as stored: Info and the hex SHA-256 of the whole key.
type record struct {
	Info
	Hash string `json:"sha256"`
}

type entry struct {
	rec      record
	hash     [32]byte
	apis     map[string]bool
	lastUsed atomic.Int64 // unix seconds, truncated to LastUsedResolution; 0: never
}

type stateFile struct {
	Version int      `json:"version"`
	Keys    []record `json:"keys"`
}

// Store holds the keys of a cluster. It is safe for concurrent use.
type Store struct {
	doc *statestore.Doc
	now func() time.Time

	mu    sync.RWMutex
	byID  map[string]*entry
	dirty atomic.Bool // a last-used time moved since the last write
}

// Open loads the keys from their document of state (statestore.DocAPIKeys; missing: empty).
// now may be nil.
func Open(state statestore.Store, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{doc: statestore.NewDoc(state, statestore.DocAPIKeys), now: now, byID: map[string]*entry{}}
	data, ok, err := s.doc.Load(context.Background())
	if err != nil || !ok {
		return s, err
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%s: %w", s.doc.Describe(), err)
	}
	for _, r := range sf.Keys {
		e, err := newEntry(r)
		if err != nil {
			return nil, fmt.Errorf("%s: key %s: %w", s.doc.Describe(), r.ID, err)
		}
		s.byID[r.ID] = e
	}
	return s, nil
}

func newEntry(r record) (*entry, error) {
	h, err := hex.DecodeString(r.Hash)
	if err != nil || len(h) != 32 || !idRE.MatchString(r.ID) {
		return nil, errors.New("invalid record")
	}
	e := &entry{rec: r, apis: map[string]bool{}}
	copy(e.hash[:], h)
	for _, a := range r.APIs {
		e.apis[a] = true
	}
	if r.LastUsed != nil {
		e.lastUsed.Store(r.LastUsed.Unix())
	}
	return e, nil
}

// CreateInput says what key to make.
type CreateInput struct {
	Name      string
	APIs      []string
	CreatedBy string        // the verified ARN of the creator
	ExpiresIn time.Duration // 0: never
}

// ValidateName checks a key name: 1-63 lowercase letters, digits, '.', '_' or '-', not an id.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid key name %q: use 1-63 lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit", name)
	}
	if idRE.MatchString(name) {
		return fmt.Errorf("invalid key name %q: 16 hex digits would read as a key id", name)
	}
	return nil
}

// Create makes a key, persists its hash and returns the key (the only time it exists in clear)
// and its Info. The caller checks that the APIs exist.
func (s *Store) Create(in CreateInput) (string, Info, error) {
	if err := ValidateName(in.Name); err != nil {
		return "", Info{}, err
	}
	if len(in.APIs) == 0 || len(in.APIs) > MaxAPIsPerKey {
		return "", Info{}, fmt.Errorf("a key needs 1 to %d APIs", MaxAPIsPerKey)
	}
	apis := slices.Clone(in.APIs)
	sort.Strings(apis)
	apis = slices.Compact(apis)
	if in.ExpiresIn < 0 || in.ExpiresIn > MaxLifetime {
		return "", Info{}, fmt.Errorf("expiry must be between 1s and %d days", int(MaxLifetime/(24*time.Hour)))
	}
	var idb [idHexLen / 2]byte
	var secret [secretBytes]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", Info{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Info{}, err
	}
	id := hex.EncodeToString(idb[:])
	key := Prefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(key))
	now := s.now().UTC().Truncate(time.Second)
	r := record{Info: Info{ID: id, Name: in.Name, APIs: apis, CreatedBy: in.CreatedBy, CreatedAt: now}, Hash: hex.EncodeToString(sum[:])}
	if in.ExpiresIn > 0 {
		exp := now.Add(in.ExpiresIn)
		r.ExpiresAt = &exp
	}
	e, err := newEntry(r)
	if err != nil {
		return "", Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= MaxKeys {
		return "", Info{}, fmt.Errorf("this cluster has %d API keys already; revoke some", len(s.byID))
	}
	for _, o := range s.byID {
		if o.rec.Name == in.Name {
			return "", Info{}, &ConflictError{Name: in.Name}
		}
	}
	if _, dup := s.byID[id]; dup { // 64 random bits: never, but never silently either
		return "", Info{}, errors.New("key id collision; try again")
	}
	next := s.cloneLocked()
	next[id] = e
	if err := s.saveLocked(next); err != nil {
		return "", Info{}, err
	}
	s.byID = next
	return key, e.info(), nil
}

// ConflictError: a key with this name exists.
type ConflictError struct{ Name string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("an API key named %q exists (revoke it first, or pick another name)", e.Name)
}

// ErrNotFound: no key has this name or id.
var ErrNotFound = errors.New("no such API key")

// Revoke deletes the key named or identified by nameOrID, persists the change and returns it.
// The next Check of that key fails.
func (s *Store) Revoke(nameOrID string) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var victim *entry
	if e, ok := s.byID[nameOrID]; ok {
		victim = e
	} else {
		for _, e := range s.byID {
			if e.rec.Name == nameOrID {
				victim = e
			}
		}
	}
	if victim == nil {
		return Info{}, ErrNotFound
	}
	next := s.cloneLocked()
	delete(next, victim.rec.ID)
	if err := s.saveLocked(next); err != nil {
		return Info{}, err
	}
	s.byID = next
	return victim.info(), nil
}

// DropAPI removes api from the scope of every key (the API was deleted: its keys must not open
// an API deployed later under the same name). Keys left with no API stay listed, and open
// nothing, until revoked. It returns the ids of the keys it changed.
func (s *Store) DropAPI(api string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []string
	next := s.cloneLocked()
	for id, e := range s.byID {
		if !e.apis[api] {
			continue
		}
		r := e.rec
		r.APIs = slices.DeleteFunc(slices.Clone(r.APIs), func(a string) bool { return a == api })
		if r.APIs == nil {
			r.APIs = []string{}
		}
		ne, err := newEntry(r)
		if err != nil {
			return nil, err
		}
		ne.lastUsed.Store(e.lastUsed.Load())
		next[id] = ne
		changed = append(changed, id)
	}
	if len(changed) == 0 {
		return nil, nil
	}
	if err := s.saveLocked(next); err != nil {
		return nil, err
	}
	s.byID = next
	sort.Strings(changed)
	return changed, nil
}

// Check verifies key for api at the current time and returns the key's id (for the access log;
// also set when the key is valid but refused, so that the refusal names it). Errors are the
// Err* values above.
func (s *Store) Check(key, api string) (string, error) {
	id, ok := parseKey(key)
	if !ok {
		return "", ErrMalformed
	}
	s.mu.RLock()
	e, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok {
		return "", ErrUnknown
	}
	sum := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(sum[:], e.hash[:]) != 1 {
		return "", ErrUnknown // the id is public: a wrong secret says no more than an unknown id
	}
	now := s.now()
	if e.rec.ExpiresAt != nil && !now.Before(*e.rec.ExpiresAt) {
		return id, ErrExpired
	}
	if !e.apis[api] {
		return id, ErrNotForAPI
	}
	used := now.Truncate(LastUsedResolution).Unix()
	if prev := e.lastUsed.Load(); prev < used && e.lastUsed.CompareAndSwap(prev, used) {
		s.dirty.Store(true)
	}
	return id, nil
}

// parseKey checks the format of key (keyRE, without a regexp on the hot path) and returns its id.
func parseKey(key string) (string, bool) {
	if len(key) != KeyLen || key[:len(Prefix)] != Prefix || key[len(Prefix)+idHexLen] != '_' {
		return "", false
	}
	id := key[len(Prefix) : len(Prefix)+idHexLen]
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	for _, c := range []byte(key[len(Prefix)+idHexLen+1:]) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return id, true
}

// List returns every key, sorted by name, without secrets; last-used times are the in-memory ones.
func (s *Store) List() []Info {
	s.mu.RLock()
	out := make([]Info, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e.info())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Flush writes the last-used times when some moved since the last write (the operator calls it
// every minute and at shutdown), so that using a key is never a disk write.
func (s *Store) Flush() error {
	if !s.dirty.Swap(false) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.saveLocked(s.byID); err != nil {
		s.dirty.Store(true)
		return err
	}
	return nil
}

func (e *entry) info() Info {
	i := e.rec.Info
	i.APIs = slices.Clone(i.APIs)
	if u := e.lastUsed.Load(); u > 0 {
		t := time.Unix(u, 0).UTC()
		i.LastUsed = &t
	}
	return i
}

func (s *Store) cloneLocked() map[string]*entry {
	next := make(map[string]*entry, len(s.byID)+1)
	for k, v := range s.byID {
		next[k] = v
	}
	return next
}

// saveLocked writes keys (a file: 0600, atomically) with their current last-used times.
func (s *Store) saveLocked(keys map[string]*entry) error {
	sf := stateFile{Version: 1, Keys: make([]record, 0, len(keys))}
	for _, e := range keys {
		r := e.rec
		r.Info = e.info()
		sf.Keys = append(sf.Keys, r)
	}
	sort.Slice(sf.Keys, func(i, j int) bool { return sf.Keys[i].ID < sf.Keys[j].ID })
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	return s.doc.Save(context.Background(), append(data, '\n'))
}
