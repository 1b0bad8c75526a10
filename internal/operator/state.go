package operator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
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

// stateFiles reads and writes the operator's JSON state under one private directory.
type stateFiles struct{ dir string }

func (s stateFiles) path(name string) string { return filepath.Join(s.dir, name) }

func (s stateFiles) read(name string, v any) (bool, error) {
	data, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", s.path(name), err)
	}
	return true, nil
}

func (s stateFiles) write(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(s.path(name), append(data, '\n'))
}

// loadOrCreateCluster returns the persisted cluster record, creating it from cfg on first start.
// A configured id, creator or account that disagrees with the record is an error: a cluster's
// identity never changes under it.
func loadOrCreateCluster(st stateFiles, cfg *Config) (ClusterRecord, error) {
	var rec ClusterRecord
	ok, err := st.read("cluster.json", &rec)
	if err != nil {
		return rec, err
	}
	if ok {
		switch {
		case cfg.ClusterID != "" && cfg.ClusterID != rec.ID:
			return rec, fmt.Errorf("cluster_id: %s already belongs to cluster %s", cfg.StateDir, rec.ID)
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
			return rec, st.write("cluster.json", rec)
		}
		return rec, nil
	}
	rec = ClusterRecord{ID: cfg.ClusterID, Name: cfg.ClusterName, Provider: cfg.Provider, AccountID: cfg.AccountID,
		Region: cfg.Region, CreatorARN: cfg.CreatorARN, CreatedAt: time.Now().UTC()}
	if rec.ID == "" {
		rec.ID = NewClusterID()
	}
	return rec, st.write("cluster.json", rec)
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
