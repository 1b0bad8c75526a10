package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/awssdk"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// TokenSource produces the bearer token of each request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	// Invalidate forgets a cached token (after the operator refused it).
	Invalidate()
}

// reuseMargin: a cached token is reused while it has more than this left.
const reuseMargin = time.Minute

// AWSTokens mints identity tokens from the standard AWS credential chain (env vars, AWS_PROFILE
// or the environment's profile, ~/.aws files, SSO, assume-role) and caches them 0600 on disk.
type AWSTokens struct {
	Env *cliconfig.Environment
	// Audience is the endpoint the client dials (the operator's, or a gateway's): tokens are bound
	// to it, so a server other than this one cannot replay them.
	Audience  string
	CacheFile string // "" disables the disk cache
	Now       func() time.Time
	// Provider, when set, holds the credentials tokens are signed with (cluster up and configure:
	// their session's); otherwise the environment's profile or the SDK's default chain.
	Provider aws.CredentialsProvider

	mu    sync.Mutex
	creds aws.CredentialsProvider
}

// cachedToken is a token and the cluster it was minted for. A cached token is reused only while
// everything it is bound to is what would be signed for now: the cluster id, the STS host and
// region, the audience and the access key (so re-pointing an environment never reuses a token).
type cachedToken struct {
	Token     string    `json:"token"`
	ClusterID string    `json:"cluster_id"`
	Expires   time.Time `json:"expires"`
}

// Credentials resolves the caller's AWS credentials (never printed; Source says where they came from).
func (a *AWSTokens) Credentials(ctx context.Context) (aws.Credentials, error) {
	a.mu.Lock()
	if a.creds == nil && a.Provider != nil {
		a.creds = a.Provider
	}
	if a.creds == nil {
		var opts []func(*awsconfig.LoadOptions) error
		if a.Env.AWSProfile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(a.Env.AWSProfile))
		}
		cfg, err := awssdk.LoadConfig(ctx, opts...)
		if err != nil {
			a.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("load AWS configuration: %w", err)
		}
		if cfg.Credentials == nil {
			a.mu.Unlock()
			return aws.Credentials{}, errNoCredentials
		}
		a.creds = cfg.Credentials
	}
	p := a.creds
	a.mu.Unlock()
	creds, err := p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("could not get AWS credentials: %w (%s)", err, credentialsHint)
	}
	return creds, nil
}

const credentialsHint = "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws configure`, or `aws sso login`"

var errNoCredentials = errors.New("no AWS credentials found: " + credentialsHint)

// Token returns a cached token with the same bindings and more than a minute left, or mints one.
func (a *AWSTokens) Token(ctx context.Context) (string, error) {
	if a.Env.ClusterID == "" || a.Env.STSHost == "" {
		return "", fmt.Errorf("environment %q lacks the cluster binding: run `cortex env configure %s --operator-endpoint %s` again", a.Env.Name, a.Env.Name, a.Env.OperatorEndpoint)
	}
	creds, err := a.Credentials(ctx)
	if err != nil {
		return "", err
	}
	audience, err := identity.NormalizeAudience(a.Audience)
	if err != nil {
		return "", fmt.Errorf("environment %q: %w", a.Env.Name, err)
	}
	now := a.now()
	want := identity.Binding{Host: a.Env.STSHost, Region: a.Env.STSRegion, Audience: audience, AccessKeyID: creds.AccessKeyID}
	if c, ok := a.readCache(); ok && c.ClusterID == a.Env.ClusterID && now.Add(reuseMargin).Before(c.Expires) {
		if b, err := identity.TokenBinding(c.Token); err == nil && b == want {
			return c.Token, nil
		}
	}
	tok, err := identity.Mint(ctx, creds, identity.MintInput{
		Endpoint:  identity.STSEndpoint{Scheme: a.Env.STSScheme, Host: a.Env.STSHost, Region: a.Env.STSRegion},
		ClusterID: a.Env.ClusterID, Audience: audience, Now: now})
	if err != nil {
		return "", err
	}
	if exp, err := identity.TokenExpiry(tok); err == nil {
		a.writeCache(cachedToken{Token: tok, ClusterID: a.Env.ClusterID, Expires: exp})
	}
	return tok, nil
}

// Invalidate removes the cached token.
func (a *AWSTokens) Invalidate() {
	if a.CacheFile != "" {
		_ = os.Remove(a.CacheFile)
	}
}

func (a *AWSTokens) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *AWSTokens) readCache() (cachedToken, bool) {
	if a.CacheFile == "" {
		return cachedToken{}, false
	}
	data, err := os.ReadFile(a.CacheFile)
	if err != nil {
		return cachedToken{}, false
	}
	var c cachedToken
	if json.Unmarshal(data, &c) != nil || !strings.HasPrefix(c.Token, identity.TokenPrefix) {
		return cachedToken{}, false
	}
	return c, true
}

func (a *AWSTokens) writeCache(c cachedToken) {
	if a.CacheFile == "" {
		return
	}
	data, _ := json.Marshal(c)
	// Best effort: a failed cache write costs a mint next time, nothing else.
	_ = fsutil.WriteFileAtomic(a.CacheFile, data)
}

// TokenCacheFile is where the CLI caches the token of an environment.
func TokenCacheFile(configDir, env string) string {
	return filepath.Join(configDir, "tokens", env+".json")
}

// LocalTokens reads the local provider's admin credential from its 0600 file.
type LocalTokens struct{ File string }

// Token returns the local admin bearer token.
func (l LocalTokens) Token(context.Context) (string, error) {
	fi, err := os.Stat(l.File)
	if err != nil {
		return "", fmt.Errorf("read the local admin credential: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %v): run chmod 600 %s", l.File, fi.Mode().Perm(), l.File)
	}
	data, err := os.ReadFile(l.File)
	if err != nil {
		return "", fmt.Errorf("read the local admin credential: %w", err)
	}
	return apitypes.LocalTokenPrefix + strings.TrimSpace(string(data)), nil
}

// Invalidate does nothing: the file is the source of truth.
func (LocalTokens) Invalidate() {}
