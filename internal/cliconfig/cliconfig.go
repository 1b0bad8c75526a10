// Package cliconfig reads and writes the CLI's configuration, ~/.cortex/cli.yaml: the environments
// (operator endpoint, pinned CA, cluster binding) shared by the Go CLI and the Python client.
package cliconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// DirEnv overrides the configuration directory (default ~/.cortex).
const DirEnv = "CORTEX_CLI_CONFIG_DIR"

// Auth kinds an environment can use to prove who the caller is.
const (
	AuthAWS   = "aws"   // identity token signed with the caller's AWS credentials (DESIGN §2)
	AuthLocal = "local" // the local provider's admin secret, read from a 0600 file
)

// Environment is one operator the CLI can talk to.
type Environment struct {
	Name             string `json:"name"`
	Provider         string `json:"provider,omitempty"` // local | aws | (empty: configured by hand)
	OperatorEndpoint string `json:"operator_endpoint"`
	// CACert is the PEM of the CA the operator's certificate must chain to. Empty means the
	// system roots (a certificate from a public CA or ACM).
	CACert string `json:"ca_cert,omitempty"`
	// ClusterID is the random id the identity token is bound to (x-cortex-cluster-id).
	ClusterID string `json:"cluster_id,omitempty"`
	// STSHost and STSRegion say which STS endpoint the token is signed for.
	STSHost   string `json:"sts_host,omitempty"`
	STSRegion string `json:"sts_region,omitempty"`
	// STSScheme is "https" except for an operator in STS test-endpoint mode.
	STSScheme string `json:"sts_scheme,omitempty"`
	Auth      string `json:"auth,omitempty"`
	// LocalTokenFile is the 0600 file holding the local admin secret (Auth == "local").
	LocalTokenFile string `json:"local_token_file,omitempty"`
	// AWSProfile, when set, selects the shared-config profile used for this environment.
	AWSProfile string `json:"aws_profile,omitempty"`
	// AWSCredentialsForAPIs controls whether a local cluster passes AWS credentials to its APIs.
	AWSCredentialsForAPIs bool `json:"aws_credentials_for_apis,omitempty"`
	// AWS-provider bookkeeping, so `cluster down` can find the environments of a cluster.
	ClusterName string `json:"cluster_name,omitempty"`
	Region      string `json:"region,omitempty"`
}

// Config is the whole cli.yaml.
type Config struct {
	DefaultEnvironment string        `json:"default_environment,omitempty"`
	Environments       []Environment `json:"environments,omitempty"`

	dir string
}

var envNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateEnvName checks that name is usable as an environment name (and as a file name).
func ValidateEnvName(name string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("invalid environment name %q: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// Dir returns the configuration directory: $CORTEX_CLI_CONFIG_DIR, else ~/.cortex.
func Dir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return filepath.Abs(d)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the home directory (set %s): %w", DirEnv, err)
	}
	return filepath.Join(home, ".cortex"), nil
}

// Path is the location of cli.yaml inside dir.
func Path(dir string) string { return filepath.Join(dir, "cli.yaml") }

// Load reads cli.yaml from dir; a missing file is an empty configuration.
func Load(dir string) (*Config, error) {
	c := &Config{dir: dir}
	data, err := os.ReadFile(Path(dir))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", Path(dir), err)
	}
	seen := map[string]bool{}
	for _, e := range c.Environments {
		if err := ValidateEnvName(e.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", Path(dir), err)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("%s: environment %q appears twice", Path(dir), e.Name)
		}
		seen[e.Name] = true
	}
	return c, nil
}

// Dir returns the directory the configuration was loaded from.
func (c *Config) Dir() string { return c.dir }

// Save writes cli.yaml atomically with mode 0600 in a 0700 directory.
func (c *Config) Save() error {
	sort.Slice(c.Environments, func(i, j int) bool { return c.Environments[i].Name < c.Environments[j].Name })
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(Path(c.dir), data)
}

// ErrNoDefault: no environment was named and there is no default (cluster down of the default
// environment, or env delete of it, leaves none). The CLI never guesses another one.
var ErrNoDefault = errors.New("no default environment")

// ErrNoEnvironments: nothing is configured yet.
var ErrNoEnvironments = errors.New("no environment is configured")

// Get returns the named environment, or the default one when name is empty. Without a default it
// fails (wrapping ErrNoDefault or ErrNoEnvironments), even when only one environment is left:
// using it silently would talk to a cluster the user did not choose.
func (c *Config) Get(name string) (*Environment, error) {
	if name == "" {
		name = c.DefaultEnvironment
	}
	if name == "" {
		if len(c.Environments) == 0 {
			return nil, fmt.Errorf("%w: run `cortex cluster up` for a local cluster, or `cortex env configure NAME --operator-endpoint URL` for an existing one", ErrNoEnvironments)
		}
		return nil, fmt.Errorf("%w (environments: %s): pass -e NAME, or run `cortex env default NAME`", ErrNoDefault, strings.Join(c.Names(), ", "))
	}
	for i := range c.Environments {
		if c.Environments[i].Name == name {
			return &c.Environments[i], nil
		}
	}
	if len(c.Environments) == 0 {
		return nil, fmt.Errorf("environment %q is not configured (none is): run `cortex cluster up` for a local cluster, or `cortex env configure %s --operator-endpoint URL`", name, name)
	}
	return nil, fmt.Errorf("environment %q is not configured (environments: %s; see `cortex env list`)", name, strings.Join(c.Names(), ", "))
}

// Names returns the environments' names in order.
func (c *Config) Names() []string {
	names := make([]string, len(c.Environments))
	for i, e := range c.Environments {
		names[i] = e.Name
	}
	sort.Strings(names)
	return names
}

// Put adds or replaces an environment. The first environment becomes the default.
func (c *Config) Put(e Environment) {
	for i := range c.Environments {
		if c.Environments[i].Name == e.Name {
			c.Environments[i] = e
			return
		}
	}
	c.Environments = append(c.Environments, e)
	if c.DefaultEnvironment == "" {
		c.DefaultEnvironment = e.Name
	}
}

// Delete removes an environment; it reports whether it existed.
func (c *Config) Delete(name string) bool {
	for i := range c.Environments {
		if c.Environments[i].Name == name {
			c.Environments = append(c.Environments[:i], c.Environments[i+1:]...)
			if c.DefaultEnvironment == name {
				c.DefaultEnvironment = ""
			}
			return true
		}
	}
	return false
}
