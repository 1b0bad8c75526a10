package operator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// ClusterRecord is what a cluster is: made once, at its first start (or by `cluster up`).
type ClusterRecord struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Provider   string `json:"provider"`
	AccountID  string `json:"account_id,omitempty"`
	Region     string `json:"region,omitempty"`
	CreatorARN string `json:"creator_arn,omitempty"`
	// CreatorUniqueID is the IAM unique id of the creator, recorded when it first authenticates:
	// a creator deleted and re-created under the same name is refused (docs/security.md).
	CreatorUniqueID string    `json:"creator_unique_id,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// stateDocs reads and writes the operator's JSON state documents (package statestore: files of
// the state dir, or Kubernetes Secrets), each remembering the version it last read or wrote.
type stateDocs struct {
	store statestore.Store

	mu   sync.Mutex
	docs map[string]*statestore.Doc
}

func newStateDocs(store statestore.Store) *stateDocs {
	return &stateDocs{store: store, docs: map[string]*statestore.Doc{}}
}

func (s *stateDocs) doc(name string) *statestore.Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		d = statestore.NewDoc(s.store, name)
		s.docs[name] = d
	}
	return d
}

func (s *stateDocs) read(name string, v any) (bool, error) {
	d := s.doc(name)
	data, ok, err := d.Load(context.Background())
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", d.Describe(), err)
	}
	return true, nil
}

func (s *stateDocs) write(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.doc(name).Save(context.Background(), append(data, '\n'))
}

// loadOrCreateCluster returns the persisted cluster record, creating it from cfg on first start.
// A configured id, creator or account that disagrees with the record is an error: a cluster's
// identity never changes under it.
func loadOrCreateCluster(st *stateDocs, cfg *Config) (ClusterRecord, error) {
	var rec ClusterRecord
	ok, err := st.read(statestore.DocCluster, &rec)
	if err != nil {
		return rec, err
	}
	if ok {
		switch {
		case cfg.ClusterID != "" && cfg.ClusterID != rec.ID:
			return rec, fmt.Errorf("cluster_id: %s already belongs to cluster %s", st.doc(statestore.DocCluster).Describe(), rec.ID)
		case cfg.CreatorARN != "" && rec.CreatorARN != "" && cfg.CreatorARN != rec.CreatorARN:
			return rec, fmt.Errorf("creator_arn: the cluster was created by %s", rec.CreatorARN)
		case cfg.AccountID != "" && rec.AccountID != "" && cfg.AccountID != rec.AccountID:
			return rec, fmt.Errorf("account_id: the cluster belongs to account %s", rec.AccountID)
		}
		changed := false
		if rec.CreatorARN == "" && cfg.CreatorARN != "" {
			rec.CreatorARN, changed = cfg.CreatorARN, true
		}
		if rec.AccountID == "" && cfg.AccountID != "" {
			rec.AccountID, changed = cfg.AccountID, true
		}
		if changed {
			return rec, st.write(statestore.DocCluster, rec)
		}
		return rec, nil
	}
	rec = ClusterRecord{ID: cfg.ClusterID, Name: cfg.ClusterName, Provider: cfg.Provider, AccountID: cfg.AccountID,
		Region: cfg.Region, CreatorARN: cfg.CreatorARN, CreatedAt: time.Now().UTC()}
	if rec.ID == "" {
		rec.ID = NewClusterID()
	}
	return rec, st.write(statestore.DocCluster, rec)
}

// NewClusterID returns a random cluster id (128 bits, hex).
func NewClusterID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

type accessFile struct {
	Rules []access.Rule `json:"rules"`
}
