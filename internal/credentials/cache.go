package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// Ref says where a cluster's credentials can be found again: a shared-config profile or an
// environment variable (no secret is stored: the next run reads them there again), or, for keys
// given by flags or at the prompt, a 0600 file in the cache's 0700 directory.
type Ref struct {
	Profile    string `json:"profile,omitempty"`
	SecretFile string `json:"secret_file,omitempty"` // base name inside the cache directory
	// Environment names the variable the access key id came from (e.g. AWS_ACCESS_KEY_ID).
	Environment string `json:"environment,omitempty"`
	KeyIDLast4  string `json:"access_key_id_last4,omitempty"`
}

// Entry is the cache's record of one cluster.
type Entry struct {
	ClusterName string `json:"cluster_name"`
	Region      string `json:"region"`
	SpinUp      *Ref   `json:"spin_up,omitempty"`
	Cluster     *Ref   `json:"cluster,omitempty"`
}

// Cache is <config dir>/clusters/.
type Cache struct{ Dir string }

// NewCache returns the cache under configDir.
func NewCache(configDir string) *Cache { return &Cache{Dir: filepath.Join(configDir, "clusters")} }

var safeName = regexp.MustCompile(`^[a-z0-9-]+$`)

func (c *Cache) path(name, region, suffix string) (string, error) {
	if !safeName.MatchString(name) || !safeName.MatchString(region) {
		return "", fmt.Errorf("invalid cluster name %q or region %q", name, region)
	}
	return filepath.Join(c.Dir, name+"-"+region+suffix), nil
}

// Get returns the entry of a cluster (nil when absent).
func (c *Cache) Get(name, region string) (*Entry, error) {
	p, err := c.path(name, region, ".credentials.json")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := &Entry{}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return e, nil
}

// Remember records how to find the spin-up and cluster credentials again: the profile name when
// they came from a profile, else the key pair in a 0600 file.
func (c *Cache) Remember(name, region string, spinUp, cluster *Creds) error {
	e := &Entry{ClusterName: name, Region: region}
	var err error
	if e.SpinUp, err = c.ref(name, region, "spin-up", spinUp); err != nil {
		return err
	}
	if cluster != nil && cluster.Source != SourceSpinUp {
		if e.Cluster, err = c.ref(name, region, "cluster", cluster); err != nil {
			return err
		}
	}
	data, _ := json.MarshalIndent(e, "", "  ")
	p, err := c.path(name, region, ".credentials.json")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(p, data)
}

func (c *Cache) ref(name, region, kind string, cr *Creds) (*Ref, error) {
	base := name + "-" + region + "." + kind + ".secret"
	if cr.Profile != "" || cr.EnvVar != "" || cr.SessionToken != "" {
		// No secret file for these: remove one a previous run may have written.
		if err := os.Remove(filepath.Join(c.Dir, base)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if cr.Profile != "" {
		return &Ref{Profile: cr.Profile, KeyIDLast4: last4(cr.AccessKeyID)}, nil
	}
	if cr.EnvVar != "" {
		// The secret stays in the environment: record where it came from, never copy it.
		return &Ref{Environment: cr.EnvVar, KeyIDLast4: last4(cr.AccessKeyID)}, nil
	}
	if cr.SessionToken != "" {
		// Temporary credentials expire; remembering them would only produce confusing failures.
		return nil, nil
	}
	data, _ := json.Marshal(map[string]string{"aws_access_key_id": cr.AccessKeyID, "aws_secret_access_key": cr.SecretAccessKey})
	if err := fsutil.WriteFileAtomic(filepath.Join(c.Dir, base), data); err != nil {
		return nil, err
	}
	return &Ref{SecretFile: base, KeyIDLast4: last4(cr.AccessKeyID)}, nil
}

// ReadSecret reads a 0600 secret file of the cache, refusing one that others can read.
func (c *Cache) ReadSecret(base string) (key, secret string, err error) {
	if base == "" || strings.ContainsAny(base, `/\`) {
		return "", "", fmt.Errorf("invalid secret file name %q in the cluster cache", base)
	}
	p := filepath.Join(c.Dir, base)
	fi, err := os.Stat(p)
	if err != nil {
		return "", "", fmt.Errorf("cluster cache: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("%s is readable by other users (mode %o); refusing to use it: chmod 600 it or delete it", p, fi.Mode().Perm())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", "", err
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return "", "", fmt.Errorf("%s: %w", p, err)
	}
	return m["aws_access_key_id"], m["aws_secret_access_key"], nil
}

// Forget removes everything the cache holds for a cluster.
func (c *Cache) Forget(name, region string) error {
	var errs []error
	for _, suffix := range []string{".credentials.json", ".spin-up.secret", ".cluster.secret"} {
		p, err := c.path(name, region, suffix)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ErrNotCached is returned by ForgetCluster when the cache holds nothing for the cluster.
var ErrNotCached = errors.New("no cached credentials")

// ForgetCluster removes the cached credentials of cluster name in region, or in every region
// when region is "", and returns the regions it removed. The cluster's state copy is kept (it is
// not a credential; `cortex cluster down` removes it).
func (c *Cache) ForgetCluster(name, region string) ([]string, error) {
	if !safeName.MatchString(name) || (region != "" && !safeName.MatchString(region)) {
		return nil, fmt.Errorf("invalid cluster name %q or region %q", name, region)
	}
	var regions []string
	if region != "" {
		if e, err := c.Get(name, region); err != nil {
			return nil, err
		} else if e != nil {
			regions = append(regions, region)
		}
	} else {
		// Names may contain '-': read each entry rather than trusting the file name.
		paths, _ := filepath.Glob(filepath.Join(c.Dir, name+"-*.credentials.json"))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var e Entry
			if json.Unmarshal(data, &e) == nil && e.ClusterName == name && safeName.MatchString(e.Region) &&
				filepath.Base(p) == name+"-"+e.Region+".credentials.json" {
				regions = append(regions, e.Region)
			}
		}
	}
	if len(regions) == 0 {
		where := "any region"
		if region != "" {
			where = region
		}
		return nil, fmt.Errorf("%w of cluster %s in %s", ErrNotCached, name, where)
	}
	var errs []error
	for _, r := range regions {
		errs = append(errs, c.Forget(name, r))
	}
	return regions, errors.Join(errs...)
}
