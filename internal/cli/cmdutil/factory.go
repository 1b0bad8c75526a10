package cmdutil

import (
	"time"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
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
