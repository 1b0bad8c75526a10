package root

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// cliRun runs the cortex CLI in-process with creds in the environment, like a user's shell.
type cliRun struct {
	t         *testing.T
	configDir string
	outputs   *bytes.Buffer // everything any command printed, for the secret scan
}

func (c *cliRun) as(creds aws.Credentials, args ...string) (string, error) {
	c.t.Helper()
	c.t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	c.t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	c.t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
	var out, errOut bytes.Buffer
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		ConfigDir: func() (string, error) { return c.configDir, nil }, Now: time.Now}
	cmd := NewCmd(f)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	c.outputs.WriteString(out.String() + errOut.String())
	if err != nil {
		c.outputs.WriteString(err.Error())
	}
	return out.String(), err
}

func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("CORTEX_ENV", "")
}

func whoamiJSON(t *testing.T, c *cliRun, creds aws.Credentials) map[string]string {
	t.Helper()
	out, err := c.as(creds, "whoami", "-o", "json")
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("whoami output %q: %v", out, err)
	}
	return m
}

func TestIdentityEndToEndAgainstMoto(t *testing.T) {
	isolateAWS(t)
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	bob := awstest.CreateUser(t, admin, "bob")
	carol := awstest.CreateUser(t, admin, "carol")
	stateDir := t.TempDir()
	opCfg := operator.Config{StateDir: stateDir, STSTestEndpoint: moto.URL, AccountID: "123456789012",
		CreatorARN: alice.ARN, AuthMode: "rules", Provider: "local"}
	op := opserver.Start(t, opCfg)
	c := &cliRun{t: t, configDir: filepath.Join(t.TempDir(), "cortex"), outputs: &bytes.Buffer{}}

	// Configure the environment, pinning the CA from its file.
	if _, err := c.as(alice.Creds, "env", "configure", "test", "--operator-endpoint", op.URL, "--ca-file", op.CAFile); err != nil {
		t.Fatalf("env configure: %v", err)
	}
	assertMode(t, cliconfig.Path(c.configDir), 0o600)
	assertMode(t, c.configDir, 0o700)

	t.Run("creator is admin and whoami shows the verified ARN", func(t *testing.T) {
		m := whoamiJSON(t, c, alice.Creds)
		if m["arn"] != alice.ARN || m["role"] != "admin" || m["access_key_id_last4"] != alice.Creds.AccessKeyID[len(alice.Creds.AccessKeyID)-4:] {
			t.Fatalf("whoami = %v", m)
		}
		if !strings.Contains(m["credential_source"], "environment variables") {
			t.Fatalf("credential source %q does not name the environment variables", m["credential_source"])
		}
		assertMode(t, client.TokenCacheFile(c.configDir, "test"), 0o600)
	})

	t.Run("cached token is reused across commands", func(t *testing.T) {
		before := op.STSCalls()
		whoamiJSON(t, c, alice.Creds)
		whoamiJSON(t, c, alice.Creds)
		if op.STSCalls() != before {
			t.Fatalf("STS calls grew from %d to %d: the CLI should reuse its token and the operator its verification", before, op.STSCalls())
		}
	})

	t.Run("token for another cluster id is 401", func(t *testing.T) {
		cfg, _ := cliconfig.Load(c.configDir)
		env, _ := cfg.Get("test")
		wrong := *env
		wrong.ClusterID = "another-cluster"
		cl, err := client.New(client.Options{Endpoint: wrong.OperatorEndpoint, CAPEM: []byte(wrong.CACert), Tokens: &client.AWSTokens{Env: &wrong, Audience: wrong.OperatorEndpoint}})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_ACCESS_KEY_ID", alice.Creds.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", alice.Creds.SecretAccessKey)
		_, err = cl.Info(context.Background())
		assertStatus(t, err, http.StatusUnauthorized)
	})

	t.Run("no rule is 403; grant read; read cannot deploy; revoke at once", func(t *testing.T) {
		bobCLI := &cliRun{t: t, configDir: c.configDir, outputs: c.outputs}
		os.Remove(client.TokenCacheFile(c.configDir, "test")) // bob mints his own
		_, err := bobCLI.as(bob.Creds, "whoami")
		assertStatus(t, err, http.StatusForbidden)
		if _, err := c.as(alice.Creds, "cluster", "access", "grant", bob.ARN, "--role", "read"); err != nil {
			t.Fatalf("grant: %v", err)
		}
		if m := whoamiJSON(t, bobCLI, bob.Creds); m["role"] != "read" {
			t.Fatalf("bob's role = %q", m["role"])
		}
		cl := clientFor(t, c.configDir, bob.Creds)
		err = cl.Do(context.Background(), http.MethodPost, "/v1/apis", map[string]any{"apis": []any{}}, nil)
		assertStatus(t, err, http.StatusForbidden)
		_, err = bobCLI.as(bob.Creds, "cluster", "access", "list")
		assertStatus(t, err, http.StatusForbidden)
		if _, err := c.as(alice.Creds, "cluster", "access", "revoke", bob.ARN); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		// Bob's token is still cached by both sides; the role is decided on every request.
		_, err = bobCLI.as(bob.Creds, "whoami")
		assertStatus(t, err, http.StatusForbidden)
	})

	t.Run("deleted access key is 401", func(t *testing.T) {
		if _, err := c.as(alice.Creds, "cluster", "access", "grant", carol.ARN, "--role", "read"); err != nil {
			t.Fatal(err)
		}
		awstest.DeleteAccessKey(t, admin, carol)
		cl := clientFor(t, c.configDir, carol.Creds)
		_, err := cl.Info(context.Background())
		assertStatus(t, err, http.StatusUnauthorized)
	})

	t.Run("assumed role: canonical role ARN, rule on the role", func(t *testing.T) {
		roleARN, creds := awstest.AssumeRole(t, admin, "deployer", "ci-job-42")
		if _, err := c.as(alice.Creds, "cluster", "access", "grant", roleARN, "--role", "deploy"); err != nil {
			t.Fatal(err)
		}
		os.Remove(client.TokenCacheFile(c.configDir, "test"))
		m := whoamiJSON(t, c, creds)
		if m["canonical_arn"] != roleARN || m["role"] != "deploy" || m["session_name"] != "ci-job-42" {
			t.Fatalf("whoami = %v", m)
		}
	})

	t.Run("shared credentials file and an assume-role profile through the SDK chain", func(t *testing.T) {
		roleARN, _ := awstest.AssumeRole(t, admin, "profile-role", "unused")
		erin := awstest.CreateUser(t, admin, "erin")
		for _, p := range []string{roleARN, erin.ARN} {
			if _, err := c.as(alice.Creds, "cluster", "access", "grant", p, "--role", "read"); err != nil {
				t.Fatal(err)
			}
		}
		adminCreds, err := admin.Credentials.Retrieve(context.Background()) // may call sts:AssumeRole
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		credsFile, configFile := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
		os.WriteFile(credsFile, []byte("[default]\naws_access_key_id = "+erin.Creds.AccessKeyID+"\naws_secret_access_key = "+erin.Creds.SecretAccessKey+
			"\n[base]\naws_access_key_id = "+adminCreds.AccessKeyID+"\naws_secret_access_key = "+adminCreds.SecretAccessKey+"\n"), 0o600)
		os.WriteFile(configFile, []byte("[default]\nregion = us-east-1\n[profile deployer]\nrole_arn = "+roleARN+"\nsource_profile = base\nrole_session_name = from-profile\nregion = us-east-1\n"), 0o600)
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
		t.Setenv("AWS_CONFIG_FILE", configFile)
		t.Setenv("AWS_ENDPOINT_URL_STS", moto.URL) // where the SDK sends AssumeRole
		os.Remove(client.TokenCacheFile(c.configDir, "test"))

		// The default profile of the shared credentials file (no environment variables).
		m := whoamiJSON(t, c, aws.Credentials{})
		if m["arn"] != erin.ARN || !strings.Contains(m["credential_source"], "shared credentials file") {
			t.Fatalf("default profile: whoami = %v", m)
		}
		// AWS_PROFILE naming an assume-role profile.
		t.Setenv("AWS_PROFILE", "deployer")
		os.Remove(client.TokenCacheFile(c.configDir, "test"))
		m = whoamiJSON(t, c, aws.Credentials{})
		if m["canonical_arn"] != roleARN || m["session_name"] != "from-profile" || !strings.Contains(m["credential_source"], "assumed role") ||
			!strings.Contains(m["credential_source"], "AWS_PROFILE=deployer") {
			t.Fatalf("assume-role profile: whoami = %v", m)
		}
		t.Setenv("AWS_PROFILE", "")
		os.Remove(client.TokenCacheFile(c.configDir, "test"))
	})

	t.Run("identity of another account is 403", func(t *testing.T) {
		_, creds := assumeForeignRole(t, admin)
		cl := clientFor(t, c.configDir, creds)
		info, err := cl.Info(context.Background())
		assertStatus(t, err, http.StatusForbidden)
		_ = info
	})

	t.Run("100 concurrent requests with one new token make exactly one STS call", func(t *testing.T) {
		// A user whose token the operator has never seen.
		dave := awstest.CreateUser(t, admin, "dave")
		cfg, _ := cliconfig.Load(c.configDir)
		env, _ := cfg.Get("test")
		tok, err := identity.Mint(context.Background(), dave.Creds, identity.MintInput{
			Endpoint: identity.STSEndpoint{Scheme: env.STSScheme, Host: env.STSHost, Region: env.STSRegion}, ClusterID: env.ClusterID, Audience: env.OperatorEndpoint, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := client.New(client.Options{Endpoint: env.OperatorEndpoint, CAPEM: []byte(env.CACert), Tokens: staticToken(tok)})
		if err != nil {
			t.Fatal(err)
		}
		before := op.STSCalls()
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Dave has no rule: each request is verified (or joins the one verification), then denied.
				_, err := cl.Info(context.Background())
				var apiErr *client.APIError
				if !asAPIError(err, &apiErr) || apiErr.Status != http.StatusForbidden {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("want 403 for every request, got %v", err)
		}
		if got := op.STSCalls() - before; got != 1 {
			t.Fatalf("STS calls = %d, want 1", got)
		}
	})

	t.Run("restart keeps access rules and cluster id", func(t *testing.T) {
		if _, err := c.as(alice.Creds, "cluster", "access", "grant", bob.ARN, "--role", "deploy"); err != nil {
			t.Fatal(err)
		}
		id := op.Cluster().ID
		op.Stop()
		op2 := opserver.Start(t, opCfg)
		if op2.Cluster().ID != id {
			t.Fatalf("cluster id changed across restart: %s -> %s", id, op2.Cluster().ID)
		}
		if _, err := c.as(alice.Creds, "env", "configure", "test", "--operator-endpoint", op2.URL, "--ca-file", op2.CAFile); err != nil {
			t.Fatal(err)
		}
		out, err := c.as(alice.Creds, "cluster", "access", "list", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var list operator.AccessList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range list.Rules {
			found = found || (r.Principal == bob.ARN && r.Role == "deploy")
		}
		if !found {
			t.Fatalf("bob's rule lost across restart: %+v", list.Rules)
		}
		// The creator's binding to its IAM unique id survives the restart and is listed.
		table, err := c.as(alice.Creds, "cluster", "access", "list")
		if err != nil {
			t.Fatal(err)
		}
		if uid := list.CreatorUniqueID; uid == "" || !strings.Contains(table, "UNIQUE ID") || !strings.Contains(table, uid) {
			t.Fatalf("creator's unique id not listed: %+v\n%s", list, table)
		}
		assertMode(t, filepath.Join(stateDir, "access.json"), 0o600)
		op = op2
	})

	t.Run("no secret or raw token in logs or CLI output", func(t *testing.T) {
		data, _ := os.ReadFile(client.TokenCacheFile(c.configDir, "test"))
		var cached struct{ Token string }
		_ = json.Unmarshal(data, &cached)
		haystack := op.Log.String() + c.outputs.String()
		needles := map[string]string{"alice's secret": alice.Creds.SecretAccessKey, "bob's secret": bob.Creds.SecretAccessKey,
			"token payload": strings.TrimPrefix(cached.Token, identity.TokenPrefix)}
		for name, n := range needles {
			if len(n) < 16 {
				t.Fatalf("%s is too short to search for (%q)", name, n)
			}
			if strings.Contains(haystack, n) || strings.Contains(haystack, n[:16]) {
				t.Fatalf("%s appears in the operator log or CLI output", name)
			}
		}
		if !strings.Contains(op.Log.String(), `"decision":"allow"`) || !strings.Contains(op.Log.String(), alice.ARN) {
			t.Fatal("the audit log lacks the allow decisions with the verified ARN")
		}
	})
}

func TestEnvConfigureRefusesUntrustedAndPlainHTTP(t *testing.T) {
	isolateAWS(t)
	op := opserver.Start(t, operator.Config{STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012"})
	c := &cliRun{t: t, configDir: filepath.Join(t.TempDir(), "cortex"), outputs: &bytes.Buffer{}}
	none := aws.Credentials{}
	if _, err := c.as(none, "env", "configure", "x", "--operator-endpoint", op.URL); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("untrusted CA without --yes on a non-terminal: err = %v", err)
	}
	if _, err := c.as(none, "env", "configure", "x", "--operator-endpoint", op.URL, "--ca-fingerprint", "SHA256:"+strings.Repeat("00:", 31)+"00"); err == nil {
		t.Fatal("wrong fingerprint accepted")
	}
	if _, err := os.Stat(cliconfig.Path(c.configDir)); !os.IsNotExist(err) {
		t.Fatal("a refused configure wrote the config")
	}
	for _, u := range []string{strings.Replace(op.URL, "https", "http", 1), "http://10.0.0.1:8888", "ftp://x"} {
		if _, err := c.as(none, "env", "configure", "x", "--operator-endpoint", u); err == nil {
			t.Fatalf("%s accepted", u)
		}
	}
	if _, err := c.as(none, "env", "configure", "x", "--operator-endpoint", "http://10.0.0.1:8888", "--insecure-http"); err == nil {
		t.Fatal("--insecure-http accepted for a non-loopback address")
	}
	// The fingerprint printed with --yes is the one --ca-fingerprint then accepts.
	out, err := c.as(none, "env", "configure", "x", "--operator-endpoint", op.URL, "--yes")
	if err != nil {
		t.Fatal(err)
	}
	_ = out
	cfg, _ := cliconfig.Load(c.configDir)
	env, _ := cfg.Get("x")
	if env.ClusterID != op.Cluster().ID || !strings.Contains(env.CACert, "BEGIN CERTIFICATE") {
		t.Fatalf("env = %+v", env)
	}
	pinned, _ := os.ReadFile(op.CAFile)
	if strings.TrimSpace(env.CACert) != strings.TrimSpace(string(pinned)) {
		t.Fatal("pinned CA differs from the operator's CA")
	}
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate()                             {}

func clientFor(t *testing.T, configDir string, creds aws.Credentials) *client.Client {
	t.Helper()
	cfg, err := cliconfig.Load(configDir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cfg.Get("test")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.Mint(context.Background(), creds, identity.MintInput{
		Endpoint: identity.STSEndpoint{Scheme: env.STSScheme, Host: env.STSHost, Region: env.STSRegion}, ClusterID: env.ClusterID, Audience: env.OperatorEndpoint, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Options{Endpoint: env.OperatorEndpoint, CAPEM: []byte(env.CACert), Tokens: staticToken(tok)})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func assertStatus(t *testing.T, err error, status int) {
	t.Helper()
	var apiErr *client.APIError
	if !asAPIError(err, &apiErr) || apiErr.Status != status {
		t.Fatalf("err = %v, want HTTP %d", err, status)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}
