package client

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// A cached token is reused only for exactly what it was minted for: re-pointing an environment
// (another cluster id, STS host or region, operator endpoint) or other credentials mint anew.
func TestAWSTokensCacheIsBoundToEverythingSigned(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE00000000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-for-tests-only")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cache := filepath.Join(t.TempDir(), "tokens", "prod.json")
	base := cliconfig.Environment{Name: "prod", OperatorEndpoint: "https://operator.example.com", ClusterID: "cluster-a",
		STSHost: "sts.us-east-1.amazonaws.com", STSRegion: "us-east-1"}
	mint := func(env cliconfig.Environment) string {
		t.Helper()
		ts := &AWSTokens{Env: &env, Audience: env.OperatorEndpoint, CacheFile: cache, Now: func() time.Time { return now }}
		tok, err := ts.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := mint(base)
	if b, err := identity.TokenBinding(first); err != nil || b.Audience != "https://operator.example.com:443" {
		t.Fatalf("binding %+v, %v: the audience must be the dialed endpoint, normalized", b, err)
	}
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token cache: %v, mode %v", err, fi.Mode().Perm())
	}
	now = now.Add(time.Second) // a re-mint would carry a new date: equal tokens mean a cache hit
	if mint(base) != first {
		t.Fatal("the same environment did not reuse its cached token")
	}
	for name, change := range map[string]func(*cliconfig.Environment){
		"cluster id":        func(e *cliconfig.Environment) { e.ClusterID = "cluster-b" },
		"operator endpoint": func(e *cliconfig.Environment) { e.OperatorEndpoint = "https://other.example.com" },
		"STS host":          func(e *cliconfig.Environment) { e.STSHost = "sts.us-west-2.amazonaws.com"; e.STSRegion = "us-west-2" },
	} {
		t.Run(name, func(t *testing.T) {
			env := base
			change(&env)
			if mint(env) == first {
				t.Fatalf("re-pointed environment (%s) reused a token minted for the old one", name)
			}
			mint(base) // the cache now holds the base environment's token again
		})
	}
	t.Run("access key", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE11111111")
		if mint(base) == first {
			t.Fatal("other credentials reused the cached token")
		}
	})
}
