package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/cortexlabs-go/cortex/internal/awssdk"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Factory gives commands their dependencies. A command copies what it needs into its options
// struct when it is built (the streams, the prompter, the clock, and these methods as funcs), so
// that a test can replace any of them; tests build a Factory with buffers, a temp config dir and,
// where needed, a transport wrapper.
type Factory struct {
	IO *IOStreams
	// Prompter asks every question of the CLI (nil: one on IO).
	Prompter Prompter
	// ConfigDir returns the CLI's configuration directory (~/.cortex or $CORTEX_CLI_CONFIG_DIR).
	ConfigDir func() (string, error)
	// Now is the clock used for tokens, caches and ages.
	Now func() time.Time
	// Getenv reads the process environment (nil: os.Getenv).
	Getenv func(string) string
	// Transport, when set, wraps the operator client's transport: the HTTP seam of tests (inject
	// connection errors, count requests). Nil: the default transport.
	Transport func(http.RoundTripper) http.RoundTripper
	// EnvName is the value of the global --env flag ("" means the default environment).
	EnvName string
	// AWSConfig, when set, replaces the AWS SDK configuration of the CLI's own AWS calls for an
	// environment (the EKS access entries of `cluster access`): the seam where tests point them at
	// a fake. Nil: AWSConfigFor's default.
	AWSConfig func(ctx context.Context, env *cliconfig.Environment) (aws.Config, error)
}

// AWSConfigFor returns the AWS SDK configuration for env: its region and AWS profile with the
// default credential chain (the caller's own identity, as for identity tokens), SDK logging off.
func (f *Factory) AWSConfigFor(ctx context.Context, env *cliconfig.Environment) (aws.Config, error) {
	if f.AWSConfig != nil {
		return f.AWSConfig(ctx, env)
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(env.Region)}
	if env.AWSProfile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(env.AWSProfile))
	}
	cfg, err := awssdk.LoadConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("environment %s: AWS configuration: %w", env.Name, err)
	}
	return cfg, nil
}

// New returns the factory of a real process.
func New() *Factory {
	ios := System()
	return &Factory{IO: ios, Prompter: NewPrompter(ios), ConfigDir: cliconfig.Dir, Now: time.Now, Getenv: os.Getenv}
}

// Prompt returns the factory's prompter.
func (f *Factory) Prompt() Prompter {
	if f.Prompter == nil {
		f.Prompter = NewPrompter(f.IO)
	}
	return f.Prompter
}

func (f *Factory) getenv(k string) string {
	if f.Getenv == nil {
		return os.Getenv(k)
	}
	return f.Getenv(k)
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
// $CORTEX_ENV or the default. Without a default it never guesses: on a terminal it asks which
// environment to use; otherwise it fails, naming the ways to choose.
func (f *Factory) Environment(ctx context.Context) (*cliconfig.Config, *cliconfig.Environment, error) {
	return f.environment(ctx, true)
}

// EnvironmentNoPrompt is Environment without the question: for commands that must not wait.
func (f *Factory) EnvironmentNoPrompt(ctx context.Context) (*cliconfig.Config, *cliconfig.Environment, error) {
	return f.environment(ctx, false)
}

func (f *Factory) environment(ctx context.Context, prompt bool) (*cliconfig.Config, *cliconfig.Environment, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	name := f.EnvName
	if name == "" {
		name = f.getenv(EnvVar)
	}
	env, err := cfg.Get(name)
	if prompt && errors.Is(err, cliconfig.ErrNoDefault) && f.IO.CanPrompt() {
		names := cfg.Names()
		fmt.Fprintf(f.IO.ErrOut, "there is no default environment (`cortex env default NAME` sets one; -e NAME picks one per command)\n")
		choice, perr := f.Prompt().Select(ctx, "environment to use", names)
		if perr != nil {
			return nil, nil, perr
		}
		env, err = cfg.Get(choice)
	}
	if err != nil {
		return nil, nil, err
	}
	return cfg, env, nil
}

// Client returns an operator client for the selected environment.
func (f *Factory) Client(ctx context.Context) (*client.Client, *cliconfig.Environment, error) {
	cfg, env, err := f.Environment(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := f.ClientFor(cfg.Dir(), env)
	if err != nil {
		return nil, nil, err
	}
	return c, env, nil
}

// ClientFor returns an operator client for env (its tokens cached under configDir).
func (f *Factory) ClientFor(configDir string, env *cliconfig.Environment) (*client.Client, error) {
	var rt http.RoundTripper
	if f.Transport != nil {
		base, err := client.NewTransport([]byte(env.CACert))
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", env.Name, err)
		}
		rt = f.Transport(base)
	}
	c, err := client.ForEnvironment(configDir, env, f.Now, rt)
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", env.Name, err)
	}
	return c, nil
}

// NewClient returns a client of an operator that is not (yet) an environment, through the
// factory's transport seam (env configure, before it pins anything).
func (f *Factory) NewClient(o client.Options) (*client.Client, error) {
	if f.Transport != nil {
		base, err := client.NewTransport(o.CAPEM)
		if err != nil {
			return nil, err
		}
		o.Transport = f.Transport(base)
	}
	return client.New(o)
}
