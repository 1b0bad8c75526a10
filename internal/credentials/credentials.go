// Package credentials resolves the AWS credentials of `cortex cluster` commands in the seeds'
// precedence (flags, the CLI's cluster cache, environment, shared config/SSO, interactive prompt),
// and keeps the cluster cache under <config dir>/clusters/ without clear-text secrets in any
// world-readable place.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Sources, highest precedence first.
const (
	SourceFlags        = "flags"
	SourceCache        = "cluster cache"
	SourceEnvironment  = "environment"
	SourceSharedConfig = "shared config"
	SourcePrompt       = "prompt"
	SourceSpinUp       = "spin-up credentials"
)

// Creds are resolved credentials and where they came from.
type Creds struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Profile is set when the credentials came from the shared config (then the key fields may
	// be empty and Provider resolves them, e.g. SSO).
	Profile string
	Source  string
	Detail  string // e.g. the environment variable names or profile
	// EnvVar is the variable the access key id was read from (Source environment).
	EnvVar   string
	Provider aws.CredentialsProvider
}

// CredentialsProvider returns an SDK provider for c.
func (c *Creds) CredentialsProvider() aws.CredentialsProvider {
	if c.Provider != nil {
		return c.Provider
	}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "cortex " + c.Source}, nil
	})
}

// Describe says where the credentials came from and shows only the last 4 characters of the
// access key id, never the secret.
func (c *Creds) Describe() string {
	src := c.Source
	if c.Detail != "" {
		src += " (" + c.Detail + ")"
	}
	return fmt.Sprintf("%s, access key id ****%s", src, last4(c.AccessKeyID))
}

func last4(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}

// Flags are the command-line credentials.
type Flags struct {
	AWSKey, AWSSecret               string
	ClusterAWSKey, ClusterAWSSecret string
}

// Resolver finds the spin-up and cluster credentials.
type Resolver struct {
	Flags Flags
	// Cache is the CLI's cluster cache (may be nil); ClusterName and Region select the entry.
	Cache       *Cache
	ClusterName string
	Region      string
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// SharedConfig loads the shared credentials/config (profiles, SSO) for profile ("" = default);
	// it returns an error when none are configured.
	SharedConfig func(ctx context.Context, profile string) (*Creds, error)
	// Prompt reads a value from the terminal (hidden when secret); nil or IsTerminal false means
	// there is no terminal.
	Prompt     func(label string, secret bool) (string, error)
	IsTerminal bool
	// Warn prints a warning (deprecations).
	Warn func(string)
}

// ErrNoTerminal is returned when credentials must be prompted for but stdin is not a terminal.
var ErrNoTerminal = errors.New("no AWS credentials found (flags, cluster cache, environment, shared config) and stdin is not a terminal to prompt for them: pass --aws-key/--aws-secret, set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or configure a profile")

func pair(key, secret, keyName, secretName string) (bool, error) {
	switch {
	case key == "" && secret == "":
		return false, nil
	case key == "" || secret == "":
		set, missing := keyName, secretName
		if key == "" {
			set, missing = secretName, keyName
		}
		return false, fmt.Errorf("%s is set but %s is not: set both or neither", set, missing)
	}
	return true, nil
}

// Resolve returns the spin-up credentials and the cluster's credentials.
func (r *Resolver) Resolve(ctx context.Context) (spinUp, cluster *Creds, err error) {
	if r.Getenv == nil {
		r.Getenv = func(string) string { return "" }
	}
	if r.Warn == nil {
		r.Warn = func(string) {}
	}
	spinUp, err = r.spinUp(ctx)
	if err != nil {
		return nil, nil, err
	}
	cluster, err = r.cluster(spinUp)
	if err != nil {
		return nil, nil, err
	}
	return spinUp, cluster, nil
}

func (r *Resolver) spinUp(ctx context.Context) (*Creds, error) {
	// 1. flags
	ok, err := pair(r.Flags.AWSKey, r.Flags.AWSSecret, "--aws-key", "--aws-secret")
	if err != nil {
		return nil, err
	}
	if ok {
		return &Creds{AccessKeyID: r.Flags.AWSKey, SecretAccessKey: r.Flags.AWSSecret, Source: SourceFlags, Detail: "--aws-key/--aws-secret"}, nil
	}
	// 2. the cluster cache
	if r.Cache != nil && r.ClusterName != "" {
		e, err := r.Cache.Get(r.ClusterName, r.Region)
		if err != nil {
			return nil, err
		}
		if e != nil {
			c, err := r.fromCache(ctx, e, false)
			if err != nil {
				return nil, err
			}
			if c != nil {
				return c, nil
			}
		}
	}
	// 3. environment
	if c, err := r.env("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "CORTEX_AWS_ACCESS_KEY_ID", "CORTEX_AWS_SECRET_ACCESS_KEY"); err != nil || c != nil {
		return c, err
	}
	// 4. shared config / SSO
	if r.SharedConfig != nil {
		c, err := r.SharedConfig(ctx, r.Getenv("AWS_PROFILE"))
		if err == nil && c != nil {
			return c, nil
		}
	}
	// 5. prompt
	if !r.IsTerminal || r.Prompt == nil {
		return nil, ErrNoTerminal
	}
	key, err := r.Prompt("AWS access key id", false)
	if err != nil {
		return nil, err
	}
	secret, err := r.Prompt("AWS secret access key", true)
	if err != nil {
		return nil, err
	}
	key, secret = strings.TrimSpace(key), strings.TrimSpace(secret)
	if key == "" || secret == "" {
		return nil, errors.New("both the AWS access key id and the secret access key are required")
	}
	return &Creds{AccessKeyID: key, SecretAccessKey: secret, Source: SourcePrompt}, nil
}

func (r *Resolver) env(keyVar, secretVar, tokenVar, oldKey, oldSecret string) (*Creds, error) {
	key, secret := r.Getenv(keyVar), r.Getenv(secretVar)
	ok, err := pair(key, secret, keyVar, secretVar)
	if err != nil {
		return nil, err
	}
	if ok {
		return &Creds{AccessKeyID: key, SecretAccessKey: secret, SessionToken: r.Getenv(tokenVar), Source: SourceEnvironment, Detail: keyVar, EnvVar: keyVar}, nil
	}
	key, secret = r.Getenv(oldKey), r.Getenv(oldSecret)
	ok, err = pair(key, secret, oldKey, oldSecret)
	if err != nil {
		return nil, err
	}
	if ok {
		r.Warn(fmt.Sprintf("%s/%s are deprecated; use %s/%s", oldKey, oldSecret, keyVar, secretVar))
		return &Creds{AccessKeyID: key, SecretAccessKey: secret, Source: SourceEnvironment, Detail: oldKey + ", deprecated", EnvVar: oldKey}, nil
	}
	return nil, nil
}

func (r *Resolver) cluster(spinUp *Creds) (*Creds, error) {
	ok, err := pair(r.Flags.ClusterAWSKey, r.Flags.ClusterAWSSecret, "--cluster-aws-key", "--cluster-aws-secret")
	if err != nil {
		return nil, err
	}
	if ok {
		return &Creds{AccessKeyID: r.Flags.ClusterAWSKey, SecretAccessKey: r.Flags.ClusterAWSSecret, Source: SourceFlags, Detail: "--cluster-aws-key/--cluster-aws-secret"}, nil
	}
	if r.Cache != nil && r.ClusterName != "" {
		e, err := r.Cache.Get(r.ClusterName, r.Region)
		if err != nil {
			return nil, err
		}
		if e != nil && e.Cluster != nil {
			c, err := r.fromCache(context.Background(), e, true)
			if err != nil {
				return nil, err
			}
			if c != nil {
				return c, nil
			}
		}
	}
	c, err := r.env("CLUSTER_AWS_ACCESS_KEY_ID", "CLUSTER_AWS_SECRET_ACCESS_KEY", "CLUSTER_AWS_SESSION_TOKEN", "CORTEX_CLUSTER_AWS_ACCESS_KEY_ID", "CORTEX_CLUSTER_AWS_SECRET_ACCESS_KEY")
	if err != nil || c != nil {
		return c, err
	}
	d := *spinUp
	d.Detail = "same as the spin-up credentials: " + spinUp.Source
	d.Source = SourceSpinUp
	return &d, nil
}

func (r *Resolver) fromCache(ctx context.Context, e *Entry, cluster bool) (*Creds, error) {
	ref := e.SpinUp
	if cluster {
		ref = e.Cluster
	}
	if ref == nil {
		return nil, nil
	}
	if ref.Environment != "" {
		// Recorded, not stored: the environment, next in precedence, is read again.
		return nil, nil
	}
	if ref.Profile != "" {
		if r.SharedConfig == nil {
			return nil, nil
		}
		c, err := r.SharedConfig(ctx, ref.Profile)
		if err != nil {
			return nil, fmt.Errorf("the cluster cache says to use AWS profile %q, which failed: %w", ref.Profile, err)
		}
		c.Source, c.Detail = SourceCache, "profile "+ref.Profile
		return c, nil
	}
	key, secret, err := r.Cache.ReadSecret(ref.SecretFile)
	if err != nil {
		return nil, err
	}
	return &Creds{AccessKeyID: key, SecretAccessKey: secret, Source: SourceCache, Detail: ref.SecretFile}, nil
}
