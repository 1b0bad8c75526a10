package credentials

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

func shared(key string) func(context.Context, string) (*Creds, error) {
	return func(_ context.Context, profile string) (*Creds, error) {
		if key == "" {
			return nil, errors.New("no profile")
		}
		if profile == "" {
			profile = "default"
		}
		return &Creds{AccessKeyID: key, SecretAccessKey: "shared-secret", Profile: profile, Source: SourceSharedConfig, Detail: "profile " + profile}, nil
	}
}

func prompt(answers ...string) func(string, bool) (string, error) {
	return func(string, bool) (string, error) {
		a := answers[0]
		answers = answers[1:]
		return a, nil
	}
}

// resolverWithAll has every level configured; tests remove levels from the top.
func resolverWithAll(t *testing.T) *Resolver {
	cache := NewCache(t.TempDir())
	if err := cache.Remember("c1", "us-west-2", &Creds{AccessKeyID: "AKIACACHE0001", SecretAccessKey: "cache-secret", Source: SourceFlags}, nil); err != nil {
		t.Fatal(err)
	}
	return &Resolver{
		Flags:        Flags{AWSKey: "AKIAFLAGS0002", AWSSecret: "flag-secret"},
		Cache:        cache,
		ClusterName:  "c1",
		Region:       "us-west-2",
		Getenv:       env{"AWS_ACCESS_KEY_ID": "AKIAENV00003", "AWS_SECRET_ACCESS_KEY": "env-secret"}.get,
		SharedConfig: shared("AKIASHARED04"),
		Prompt:       prompt("AKIAPROMPT05", "prompt-secret"),
		IsTerminal:   true,
	}
}

func TestPrecedence(t *testing.T) {
	ctx := context.Background()
	steps := []struct {
		name, key, source string
		drop              func(r *Resolver)
	}{
		{"flags", "AKIAFLAGS0002", SourceFlags, func(r *Resolver) {}},
		{"cache", "AKIACACHE0001", SourceCache, func(r *Resolver) { r.Flags = Flags{} }},
		{"environment", "AKIAENV00003", SourceEnvironment, func(r *Resolver) { r.Cache = nil }},
		{"shared config", "AKIASHARED04", SourceSharedConfig, func(r *Resolver) { r.Getenv = env{}.get }},
		{"prompt", "AKIAPROMPT05", SourcePrompt, func(r *Resolver) { r.SharedConfig = shared("") }},
	}
	r := resolverWithAll(t)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.drop(r) // every level above this one is gone; every level below is still configured
			up, cl, err := r.Resolve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if up.AccessKeyID != s.key || up.Source != s.source {
				t.Fatalf("got %s from %s, want %s from %s", up.AccessKeyID, up.Source, s.key, s.source)
			}
			d := up.Describe()
			if !strings.HasPrefix(d, s.source) || !strings.Contains(d, "****"+s.key[len(s.key)-4:]) || strings.Contains(d, up.SecretAccessKey) || strings.Contains(d, s.key[:8]) {
				t.Fatalf("description %q must name the source and only the last 4 chars of the key", d)
			}
			if cl.AccessKeyID != up.AccessKeyID || cl.Source != SourceSpinUp {
				t.Fatalf("cluster credentials should default to the spin-up ones, got %s from %s", cl.AccessKeyID, cl.Source)
			}
		})
	}
}

func TestDeprecatedEnvNames(t *testing.T) {
	var warned string
	r := &Resolver{Getenv: env{"CORTEX_AWS_ACCESS_KEY_ID": "AKIAOLDNAME1", "CORTEX_AWS_SECRET_ACCESS_KEY": "s"}.get, Warn: func(s string) { warned = s }}
	up, _, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if up.AccessKeyID != "AKIAOLDNAME1" || !strings.Contains(warned, "deprecated") {
		t.Fatalf("got %+v, warning %q", up, warned)
	}
	// The current names win over the old ones.
	r.Getenv = env{"CORTEX_AWS_ACCESS_KEY_ID": "AKIAOLDNAME1", "CORTEX_AWS_SECRET_ACCESS_KEY": "s", "AWS_ACCESS_KEY_ID": "AKIANEWNAME2", "AWS_SECRET_ACCESS_KEY": "s"}.get
	up, _, err = r.Resolve(context.Background())
	if err != nil || up.AccessKeyID != "AKIANEWNAME2" {
		t.Fatalf("%v %+v", err, up)
	}
}

func TestClusterCredentials(t *testing.T) {
	ctx := context.Background()
	r := &Resolver{
		Flags:  Flags{AWSKey: "AKIAFLAGS0002", AWSSecret: "s", ClusterAWSKey: "AKIACLFLAG06", ClusterAWSSecret: "s"},
		Getenv: env{"CLUSTER_AWS_ACCESS_KEY_ID": "AKIACLENV007", "CLUSTER_AWS_SECRET_ACCESS_KEY": "s"}.get,
	}
	_, cl, err := r.Resolve(ctx)
	if err != nil || cl.AccessKeyID != "AKIACLFLAG06" || cl.Source != SourceFlags {
		t.Fatalf("%v %+v", err, cl)
	}
	r.Flags.ClusterAWSKey, r.Flags.ClusterAWSSecret = "", ""
	_, cl, err = r.Resolve(ctx)
	if err != nil || cl.AccessKeyID != "AKIACLENV007" || cl.Source != SourceEnvironment {
		t.Fatalf("%v %+v", err, cl)
	}
	r.Getenv = env{"CORTEX_CLUSTER_AWS_ACCESS_KEY_ID": "AKIACLOLD008", "CORTEX_CLUSTER_AWS_SECRET_ACCESS_KEY": "s"}.get
	_, cl, err = r.Resolve(ctx)
	if err != nil || cl.AccessKeyID != "AKIACLOLD008" {
		t.Fatalf("%v %+v", err, cl)
	}
}

func TestHalfPairIsAnError(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		r    Resolver
		want string
	}{
		{"key flag only", Resolver{Flags: Flags{AWSKey: "AKIA"}}, "--aws-key is set but --aws-secret is not"},
		{"secret flag only", Resolver{Flags: Flags{AWSSecret: "s"}}, "--aws-secret is set but --aws-key is not"},
		{"cluster key flag only", Resolver{Flags: Flags{AWSKey: "AKIA", AWSSecret: "s", ClusterAWSKey: "AKIA"}}, "--cluster-aws-key is set but --cluster-aws-secret is not"},
		{"env key only", Resolver{Getenv: env{"AWS_ACCESS_KEY_ID": "AKIA"}.get}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"},
		{"old env secret only", Resolver{Getenv: env{"CORTEX_AWS_SECRET_ACCESS_KEY": "s"}.get}, "CORTEX_AWS_SECRET_ACCESS_KEY is set but CORTEX_AWS_ACCESS_KEY_ID is not"},
		{"cluster env key only", Resolver{Flags: Flags{AWSKey: "AKIA", AWSSecret: "s"}, Getenv: env{"CLUSTER_AWS_ACCESS_KEY_ID": "AKIA"}.get}, "CLUSTER_AWS_ACCESS_KEY_ID is set but CLUSTER_AWS_SECRET_ACCESS_KEY is not"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := c.r.Resolve(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
		})
	}
}

func TestPromptRefusedWithoutTerminal(t *testing.T) {
	called := false
	r := &Resolver{Prompt: func(string, bool) (string, error) { called = true; return "", nil }, IsTerminal: false, SharedConfig: shared("")}
	_, _, err := r.Resolve(context.Background())
	if !errors.Is(err, ErrNoTerminal) || called {
		t.Fatalf("want ErrNoTerminal without prompting, got %v (prompted: %v)", err, called)
	}
}

func TestPromptHidesSecret(t *testing.T) {
	var hidden []bool
	r := &Resolver{IsTerminal: true, Prompt: func(label string, secret bool) (string, error) {
		hidden = append(hidden, secret)
		if secret {
			return "s", nil
		}
		return "AKIAPROMPT05", nil
	}}
	if _, _, err := r.Resolve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(hidden) != 2 || hidden[0] || !hidden[1] {
		t.Fatalf("the secret must be read hidden, the key id may be visible: %v", hidden)
	}
}

func TestCacheStoresProfileNotSecret(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(dir)
	if err := c.Remember("c2", "eu-west-1", &Creds{AccessKeyID: "AKIASHARED04", SecretAccessKey: "shared-secret", Profile: "ml", Source: SourceSharedConfig}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "clusters", "c2-eu-west-1.credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "shared-secret") || !strings.Contains(string(data), `"profile": "ml"`) {
		t.Fatalf("cache entry: %s", data)
	}
	// Keys from flags go to a 0600 file in a 0700 directory.
	if err := c.Remember("c3", "eu-west-1", &Creds{AccessKeyID: "AKIAFLAGS0002", SecretAccessKey: "flag-secret", Source: SourceFlags}, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "clusters", "c3-eu-west-1.spin-up.secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	di, _ := os.Stat(filepath.Join(dir, "clusters"))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode %o", di.Mode().Perm())
	}
	// A secret file others can read is refused.
	os.Chmod(filepath.Join(dir, "clusters", "c3-eu-west-1.spin-up.secret"), 0o644)
	r := &Resolver{Cache: c, ClusterName: "c3", Region: "eu-west-1"}
	if _, _, err := r.Resolve(context.Background()); err == nil || !strings.Contains(err.Error(), "readable by other users") {
		t.Fatalf("want refusal, got %v", err)
	}
	if err := c.Forget("c3", "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get("c3", "eu-west-1"); e != nil {
		t.Fatal("forget left the entry")
	}
}

func TestLoadSharedConfigProfile(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "credentials")
	os.WriteFile(credsFile, []byte("[ml]\naws_access_key_id = AKIAPROFILE9\naws_secret_access_key = p-secret\n"), 0o600)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	c, err := LoadSharedConfig(context.Background(), "ml")
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "AKIAPROFILE9" || c.Profile != "ml" || c.Source != SourceSharedConfig {
		t.Fatalf("%+v", c)
	}
	if _, err := LoadSharedConfig(context.Background(), "nope"); err == nil {
		t.Fatal("a missing profile must fail")
	}
}

// Secrets taken from the environment stay there: the cache records the variable's name, never a
// copy of the secret, and the next run reads the environment again (same precedence as before).
func TestCacheRecordsEnvironmentNotSecret(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(dir)
	e := env{"AWS_ACCESS_KEY_ID": "AKIAENV00003", "AWS_SECRET_ACCESS_KEY": "env-secret",
		"CLUSTER_AWS_ACCESS_KEY_ID": "AKIACLUSTER6", "CLUSTER_AWS_SECRET_ACCESS_KEY": "cluster-env-secret"}
	r := &Resolver{Cache: c, ClusterName: "c4", Region: "us-east-1", Getenv: e.get}
	spinUp, cluster, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Remember("c4", "us-east-1", spinUp, cluster); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), "env-secret") {
			t.Errorf("%s holds a secret taken from the environment", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entry, err := c.Get("c4", "us-east-1")
	if err != nil || entry == nil || entry.SpinUp == nil || entry.SpinUp.Environment != "AWS_ACCESS_KEY_ID" || entry.Cluster == nil || entry.Cluster.Environment != "CLUSTER_AWS_ACCESS_KEY_ID" {
		t.Fatalf("entry %+v %v: want where the credentials came from", entry, err)
	}
	// Next run: the environment again.
	spinUp, cluster, err = (&Resolver{Cache: c, ClusterName: "c4", Region: "us-east-1", Getenv: e.get}).Resolve(context.Background())
	if err != nil || spinUp.Source != SourceEnvironment || spinUp.SecretAccessKey != "env-secret" || cluster.AccessKeyID != "AKIACLUSTER6" {
		t.Fatalf("second run: %+v %+v %v", spinUp, cluster, err)
	}
	// Without the variables, the next sources follow (here: none, and no terminal).
	if _, _, err := (&Resolver{Cache: c, ClusterName: "c4", Region: "us-east-1"}).Resolve(context.Background()); !errors.Is(err, ErrNoTerminal) {
		t.Fatalf("without the environment: %v", err)
	}
}

// cortex cluster credentials forget: every cached credential of a cluster, in one or all regions.
func TestForgetCluster(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(dir)
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		if err := c.Remember("c5", region, &Creds{AccessKeyID: "AKIAFLAGS0002", SecretAccessKey: "flag-secret", Source: SourceFlags}, &Creds{AccessKeyID: "AKIAFLAGS0003", SecretAccessKey: "flag-secret2", Source: SourceFlags}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Remember("c55", "us-east-1", &Creds{AccessKeyID: "AKIAFLAGS0002", SecretAccessKey: "flag-secret", Source: SourceFlags}, nil); err != nil {
		t.Fatal(err)
	}
	removed, err := c.ForgetCluster("c5", "us-east-1")
	if err != nil || len(removed) != 1 || removed[0] != "us-east-1" {
		t.Fatalf("forget one region: %v %v", removed, err)
	}
	removed, err = c.ForgetCluster("c5", "")
	if err != nil || len(removed) != 1 || removed[0] != "eu-west-1" {
		t.Fatalf("forget all regions: %v %v", removed, err)
	}
	if _, err := c.ForgetCluster("c5", ""); !errors.Is(err, ErrNotCached) {
		t.Fatalf("forget again: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "clusters", "c5-*"))
	if len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
	if e, _ := c.Get("c55", "us-east-1"); e == nil {
		t.Fatal("forget of c5 removed c55")
	}
}
