package cmdutil

import (
	"fmt"
	"os"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Factory gives commands their dependencies; tests build one with buffers and a temp config dir.
type Factory struct {
	IO *IOStreams
	// ConfigDir returns the CLI's configuration directory (~/.cortex or $CORTEX_CLI_CONFIG_DIR).
	ConfigDir func() (string, error)
	// Now is the clock used for tokens and caches.
	Now func() time.Time
	// EnvName is the value of the global --env flag ("" means the default environment).
	EnvName string
}

// New returns the factory of a real process.
func New() *Factory {
	return &Factory{IO: System(), ConfigDir: cliconfig.Dir, Now: time.Now}
}

// Config loads cli.yaml.
func (f *Factory) Config() (*cliconfig.Config, error) {
	dir, err := f.ConfigDir()
	if err != nil {
		return nil, err
	}
	return cliconfig.Load(dir)
}

// EnvVar names the environment to use when --env is not given.
const EnvVar = "CORTEX_ENV"

// Environment returns the loaded configuration and the environment selected by --env,
// $CORTEX_ENV or the default.
func (f *Factory) Environment() (*cliconfig.Config, *cliconfig.Environment, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	name := f.EnvName
	if name == "" {
		name = os.Getenv(EnvVar)
	}
	env, err := cfg.Get(name)
	if err != nil {
		return nil, nil, err
	}
	return cfg, env, nil
}

// Client returns an operator client for the selected environment.
func (f *Factory) Client() (*client.Client, *cliconfig.Environment, error) {
	cfg, env, err := f.Environment()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.ForEnvironment(cfg.Dir(), env, f.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("environment %s: %w", env.Name, err)
	}
	return c, env, nil
}
