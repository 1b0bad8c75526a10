package root

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/cli/call"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// One API per auth type, called by the CLI as an IAM identity, with an API key and without
// credentials; keys created, listed and revoked through the CLI; against a real operator, real
// replicas (examples/echo/server.py) and moto's STS with IAM auth on.
func TestAPIAuthWithTheCLIAgainstMoto(t *testing.T) {
	isolateAWS(t)
	t.Setenv(call.APIKeyEnv, "")
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	bob := awstest.CreateUser(t, admin, "bob")
	op := opserver.Start(t, operator.Config{STSTestEndpoint: moto.URL, AccountID: "123456789012",
		CreatorARN: alice.ARN, AuthMode: "rules", Provider: "local"})
	c := &cliRun{t: t, configDir: filepath.Join(t.TempDir(), "cortex"), outputs: &bytes.Buffer{}}
	if _, err := c.as(alice.Creds, "env", "configure", "test", "--operator-endpoint", op.URL, "--ca-file", op.CAFile); err != nil {
		t.Fatalf("env configure: %v", err)
	}

	proj := t.TempDir()
	server, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "echo", "server.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFileT(t, filepath.Join(proj, "server.py"), string(server))
	api := func(name, auth string) string {
		s := "- name: " + name + "\n  kind: RealtimeAPI\n  handler:\n    type: command\n    command: [python3, server.py]\n"
		if auth != "" {
			s += "  auth: " + auth + "\n"
		}
		return s
	}
	writeFileT(t, filepath.Join(proj, "cortex.yaml"), api("open", "{type: none}")+api("keyed", "{type: api_key}")+api("members", ""))
	if out, err := c.as(alice.Creds, "deploy", filepath.Join(proj, "cortex.yaml")); err != nil {
		t.Fatalf("deploy: %v %s", err, out)
	}

	callAs := func(creds aws.Credentials, args ...string) (string, error) {
		return c.as(creds, append([]string{"call"}, args...)...)
	}
	// none: no credentials needed. iam (the default): the creator, by token bound to the gateway.
	if out, err := callAs(alice.Creds, "open", `{"x":1}`); err != nil || !strings.Contains(out, `"bytes": 7`) {
		t.Fatalf("call open: %v %s", err, out)
	}
	if out, err := callAs(alice.Creds, "members", `{"x":1}`); err != nil || !strings.Contains(out, `"bytes": 7`) {
		t.Fatalf("call members as alice: %v %s", err, out)
	}
	assertMode(t, client.TokenCacheFile(c.configDir, "test.gateway"), 0o600)
	// bob is in the account but has no role on this cluster (rules mode).
	os.Remove(client.TokenCacheFile(c.configDir, "test.gateway"))
	if _, err := callAs(bob.Creds, "members", `{}`); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("call members as bob: %v, want a 403", err)
	}
	os.Remove(client.TokenCacheFile(c.configDir, "test.gateway"))

	// api_key: no key is refused before the call; keys from the CLI work by flag, file and variable.
	if _, err := callAs(alice.Creds, "keyed", `{}`); err == nil || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("call keyed without a key: %v", err)
	}
	key, err := c.as(alice.Creds, "api-key", "create", "ci", "--api", "keyed", "--expires", "30d")
	key = strings.TrimSpace(key)
	if err != nil || !strings.HasPrefix(key, "cxk_") {
		t.Fatalf("api-key create: %v %q", err, key)
	}
	keyFile := filepath.Join(t.TempDir(), "partner.key")
	if _, err := c.as(alice.Creds, "api-key", "create", "partner", "--api", "keyed", "--key-file", keyFile); err != nil {
		t.Fatalf("api-key create --key-file: %v", err)
	}
	assertMode(t, keyFile, 0o600)
	if out, err := callAs(alice.Creds, "keyed", "--api-key", key, `{}`); err != nil || !strings.Contains(out, `"bytes": 2`) {
		t.Fatalf("call keyed --api-key: %v %s", err, out)
	}
	if out, err := callAs(alice.Creds, "keyed", "--api-key", "@"+keyFile, `{}`); err != nil || !strings.Contains(out, `"bytes": 2`) {
		t.Fatalf("call keyed --api-key @file: %v %s", err, out)
	}
	t.Setenv(call.APIKeyEnv, key)
	if out, err := callAs(alice.Creds, "keyed", `{}`); err != nil || !strings.Contains(out, `"bytes": 2`) {
		t.Fatalf("call keyed with CORTEX_API_KEY: %v %s", err, out)
	}

	// list: names, scopes, creator, never a key.
	out, err := c.as(alice.Creds, "api-key", "list", "-o", "json")
	if err != nil || strings.Contains(out, key) || !strings.Contains(out, `"created_by": "`+alice.ARN+`"`) || !strings.Contains(out, `"partner"`) {
		t.Fatalf("api-key list: %v %s", err, out)
	}
	if out, err := c.as(alice.Creds, "api-key", "list"); err != nil || !strings.Contains(out, "LAST USED") || strings.Contains(out, key) {
		t.Fatalf("api-key list table: %v %s", err, out)
	}
	// get shows the auth and how to call.
	if out, err := c.as(alice.Creds, "get", "keyed"); err != nil || !strings.Contains(out, "auth: api_key") || !strings.Contains(out, "CORTEX_API_KEY") {
		t.Fatalf("get keyed: %v %s", err, out)
	}

	// revoke: the next call is refused.
	if _, err := c.as(alice.Creds, "api-key", "revoke", "ci"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := callAs(alice.Creds, "keyed", `{}`); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("call with a revoked key: %v, want a 401", err)
	}
	t.Setenv(call.APIKeyEnv, "")

	// cortex token: what curl sends to an iam API.
	tok, err := c.as(alice.Creds, "token", "members")
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	var st struct{ Endpoint string }
	out, _ = c.as(alice.Creds, "get", "members", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(op.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct {
		url, tok string
		status   int
	}{{st.Endpoint, strings.TrimSpace(tok), 200}, {op.URL + "/v1/info", strings.TrimSpace(tok), 401}} {
		req, _ := http.NewRequest("GET", tc.url, nil)
		req.Header.Set("Authorization", "Bearer "+tc.tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s with the token of cortex token: %d, want %d", tc.url, resp.StatusCode, tc.status)
		}
	}
	if _, err := c.as(alice.Creds, "token", "keyed"); err == nil {
		t.Error("cortex token for an api_key API did not fail")
	}
}

func writeFileT(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
