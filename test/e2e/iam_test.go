package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// `cluster up --auth iam`: no local credential; callers prove who they are with identity tokens
// (verified against moto's STS here) and any identity of the account may deploy.
func TestLocalClusterWithIAMAuth(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	c := newCluster(t,
		"AWS_ACCESS_KEY_ID="+alice.Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+alice.Creds.SecretAccessKey,
		"AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_SESSION_TOKEN=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	c.must("cluster", "up", "--auth", "iam", "--account-id", "123456789012", "--sts-test-endpoint", moto.URL)
	if _, err := os.Stat(filepath.Join(c.configDir, "local", "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("an IAM cluster has a local admin credential: %v", err)
	}
	cfg, err := os.ReadFile(filepath.Join(c.configDir, "cli.yaml"))
	if err != nil || !strings.Contains(string(cfg), "auth: aws") || strings.Contains(string(cfg), "local_token_file") {
		t.Fatalf("cli.yaml: %v\n%s", err, cfg)
	}
	dir := project(t, "echo", "handler.py")
	yaml := filepath.Join(dir, "cortex.yaml")
	writeFile(t, yaml, fmt.Sprintf(echoYAML, 1))
	c.must("deploy", yaml)
	if st := c.get("echo"); st.Status != "live" {
		t.Fatalf("status %+v", st)
	}
	// Up again without flags keeps IAM (no silent switch to local auth).
	if _, errOut, code := c.run("cluster", "up"); code != 0 {
		t.Fatalf("second up: %s", errOut)
	}
	if _, errOut, code := c.run("cluster", "up", "--auth", "local"); code == 0 || !strings.Contains(errOut, "--auth iam") {
		t.Fatalf("switching auth on a running cluster: %d %s", code, errOut)
	}
	// Someone whose credentials STS rejects gets nothing.
	stranger := newClusterEnv(c, "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7NOTREAL", "AWS_SECRET_ACCESS_KEY=wrong")
	if _, errOut, code := stranger.run("get"); code == 0 || !strings.Contains(errOut, "401") {
		t.Fatalf("unknown credentials: %d %s", code, errOut)
	}
}

// newClusterEnv is c with some environment variables replaced (same config dir, no cleanup).
func newClusterEnv(c *cluster, kv ...string) *cluster {
	env := append([]string(nil), c.env...)
	env = append(env, kv...)
	return &cluster{t: c.t, configDir: c.configDir, env: env}
}
