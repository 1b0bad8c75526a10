package awscluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

type harness struct {
	t       *testing.T
	dir     string
	out     *bytes.Buffer
	errOut  *bytes.Buffer
	factory *cmdutil.Factory
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir(), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	h.factory = &cmdutil.Factory{
		IO:        &cmdutil.IOStreams{In: strings.NewReader(""), Out: h.out, ErrOut: h.errOut},
		ConfigDir: func() (string, error) { return h.dir, nil },
		Now:       time.Now,
	}
	// No shared config and no instance metadata: only what a test sets.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(h.dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(h.dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "CORTEX_AWS_ACCESS_KEY_ID", "CORTEX_AWS_SECRET_ACCESS_KEY", "CLUSTER_AWS_ACCESS_KEY_ID", "CLUSTER_AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	return h
}

func (h *harness) run(cmd *cobra.Command, args ...string) error {
	h.out.Reset()
	h.errOut.Reset()
	cmd.SetArgs(args)
	cmd.SetIn(h.factory.IO.In)
	cmd.SetOut(h.out)
	cmd.SetErr(h.errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

func (h *harness) writeConfig(body string) string {
	p := filepath.Join(h.dir, "cluster.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestExampleConfigAndPolicy(t *testing.T) {
	h := newHarness(t)
	if err := h.run(NewCmdExampleConfig(h.factory, nil)); err != nil || !strings.Contains(h.out.String(), "cluster_name: cortex") {
		t.Fatalf("%v %s", err, h.out)
	}
	cfg := h.writeConfig("cluster_name: pol\nregion: eu-west-1\n")
	for _, kind := range []string{"management", "operator", "default"} {
		if err := h.run(NewCmdPolicy(h.factory, nil), "--type", kind, "-c", cfg, "--account-id", "210987654321"); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(h.out.Bytes(), &doc); err != nil {
			t.Fatalf("%s policy is not JSON: %v", kind, err)
		}
		if !strings.Contains(h.out.String(), "210987654321") && kind != "default" || !strings.Contains(h.out.String(), "pol-") {
			t.Errorf("%s policy not filled in: %s", kind, h.out)
		}
	}
	if err := h.run(NewCmdPolicy(h.factory, nil), "--type", "root", cfg, "--account-id", "210987654321"); err == nil || !strings.Contains(err.Error(), "management, operator, default") {
		t.Fatalf("bad --type: %v", err)
	}
	if err := h.run(NewCmdPolicy(h.factory, nil), "--type", "default", cfg, "--account-id", "12"); err == nil || !strings.Contains(err.Error(), "--account-id") {
		t.Fatalf("bad --account-id: %v", err)
	}
}

func TestCredentialErrors(t *testing.T) {
	h := newHarness(t)
	cfg := h.writeConfig("cluster_name: creds\nregion: us-west-2\n")
	err := h.run(NewCmdUp(h.factory, nil), cfg, "--aws-key", "AKIAONLYKEY1")
	if err == nil || !strings.Contains(err.Error(), "--aws-secret is not") {
		t.Fatalf("half a pair: %v", err)
	}
	// Half a pair of cluster credentials, by flag or by environment: refused, naming both halves.
	err = h.run(NewCmdUp(h.factory, nil), cfg, "--aws-key", "AKIASPINUP01", "--aws-secret", "s", "--cluster-aws-secret", "hidden-secret")
	if err == nil || !strings.Contains(err.Error(), "--cluster-aws-secret is set but --cluster-aws-key is not") || strings.Contains(err.Error(), "hidden-secret") {
		t.Fatalf("half a cluster pair: %v", err)
	}
	t.Setenv("CLUSTER_AWS_ACCESS_KEY_ID", "AKIACLUSTER01")
	err = h.run(NewCmdUp(h.factory, nil), cfg, "--aws-key", "AKIASPINUP01", "--aws-secret", "s")
	if err == nil || !strings.Contains(err.Error(), "CLUSTER_AWS_ACCESS_KEY_ID is set but CLUSTER_AWS_SECRET_ACCESS_KEY is not") {
		t.Fatalf("half a cluster pair in the environment: %v", err)
	}
	t.Setenv("CLUSTER_AWS_ACCESS_KEY_ID", "")
	// No credentials anywhere and stdin is not a terminal: refused, nothing prompted.
	err = h.run(NewCmdUp(h.factory, nil), cfg)
	if err == nil || !strings.Contains(err.Error(), "not a terminal") {
		t.Fatalf("no terminal: %v", err)
	}
	// An invalid config is refused before credentials are even looked at.
	bad := h.writeConfig("cluster_name: X\n")
	if err := h.run(NewCmdUp(h.factory, nil), bad, "--aws-key", "AKIA", "--aws-secret", "s"); err == nil || !strings.Contains(err.Error(), "cluster_name") {
		t.Fatalf("invalid config: %v", err)
	}
}

func TestUpInfoDownAgainstMoto(t *testing.T) {
	t.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	srv := motoserver.Start(t, motoserver.Options{})
	// moto answers pod identity associations (which down removes) and add-ons with 404: the EKS
	// fake fronts it (the Pod Identity Agent add-on, the operator's association).
	fake := eksfake.Start(t, eksfake.Options{Upstream: srv.URL})
	h := newHarness(t)
	t.Setenv("AWS_ENDPOINT_URL", fake.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	cfg := h.writeConfig("cluster_name: cli-one\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n")

	// No terminal and no --yes: the plan and its cost are shown, and nothing is created.
	if err := h.run(NewCmdUp(h.factory, nil), cfg, "--poll-interval", "10ms"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("up without --yes: %v", err)
	}
	for _, want := range []string{"cluster up will create", "EKS cluster", "node group ng-cpu", "m5.large", "load balancer", "$0.10/h", "estimate", "on-demand us-east-1 prices as of", "https://aws.amazon.com/pricing/"} {
		if !strings.Contains(h.errOut.String(), want) {
			t.Errorf("the plan lacks %q:\n%s", want, h.errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(h.dir, "clusters", "cli-one-us-west-2.state.json")); !os.IsNotExist(err) {
		t.Fatalf("up without --yes started creating the cluster: %v", err)
	}
	if !strings.Contains(h.errOut.String(), "not an administrator") {
		t.Errorf("no administrator warning: %s", h.errOut)
	}
	err := h.run(NewCmdUp(h.factory, nil), "-c", cfg, "--yes", "--configure-env", "--poll-interval", "10ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
	stderr := h.errOut.String()
	if !strings.Contains(stderr, "using AWS credentials from environment (AWS_ACCESS_KEY_ID), access key id ****MPLE") || strings.Contains(stderr, "EXAMPLEKEY") || strings.Contains(stderr, "AKIAIOSF") {
		t.Errorf("credential source line: %s", stderr)
	}
	if !strings.Contains(stderr, "✓ load-balancers") {
		t.Errorf("no progress: %s", stderr)
	}
	if !strings.Contains(h.out.String(), "operator endpoint: https://") {
		t.Errorf("up output: %s", h.out)
	}
	// No cluster credentials: the operator has its own role, and the spin-up key may go.
	for _, want := range []string{"the operator uses its own IAM role arn:aws:iam::123456789012:role/cortex-cli-one-", "you may revoke them now", "✓ operator-role", "✓ pod-identity-agent"} {
		if !strings.Contains(h.out.String()+stderr, want) {
			t.Errorf("up output lacks %q: %s", want, h.out)
		}
	}
	cc, err := cliconfig.Load(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cc.Get("cli-one")
	if err != nil || env.ClusterID == "" || env.Provider != "aws" || env.ClusterName != "cli-one" {
		t.Fatalf("environment: %+v %v", env, err)
	}
	// The cache now holds how to find the credentials again, in 0600 files.
	ents, _ := os.ReadDir(filepath.Join(h.dir, "clusters"))
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o", e.Name(), fi.Mode().Perm())
		}
	}
	// Credentials from the environment were not copied into the cache: it names the variable.
	entry, err := os.ReadFile(filepath.Join(h.dir, "clusters", "cli-one-us-west-2.credentials.json"))
	if err != nil || !strings.Contains(string(entry), `"environment": "AWS_ACCESS_KEY_ID"`) {
		t.Fatalf("cache entry: %s %v", entry, err)
	}
	if secrets, _ := filepath.Glob(filepath.Join(h.dir, "clusters", "*.secret")); len(secrets) != 0 {
		t.Fatalf("secrets from the environment were written to disk: %v", secrets)
	}
	// Without them, nothing else is found (no profile, no terminal).
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if err := h.run(NewCmdInfo(h.factory, nil), "--name", "cli-one", "--region", "us-west-2"); err == nil || !strings.Contains(err.Error(), "no AWS credentials found") {
		t.Fatalf("info without credentials: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	// --region defaults to $AWS_REGION.
	t.Setenv("AWS_REGION", "us-west-2")
	if err := h.run(NewCmdInfo(h.factory, nil), "--name", "cli-one", "-o", "json"); err != nil {
		t.Fatalf("%v %s", err, h.errOut)
	}
	var info map[string]any
	if err := json.Unmarshal(h.out.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info["eks_status"] != "ACTIVE" || info["creator_arn"] == "" {
		t.Errorf("info: %s", h.out)
	}
	if err := h.run(NewCmdInfo(h.factory, nil), cfg); err != nil || !strings.Contains(h.out.String(), "operator endpoint") {
		t.Fatalf("info table: %v %s", err, h.out)
	}
	if !strings.Contains(h.out.String(), "operator aws") || !strings.Contains(h.out.String(), "-operator (EKS Pod Identity, association a-") {
		t.Errorf("info lacks the operator's role: %s", h.out)
	}
	// configure: the diff, --dry-run changes nothing, no terminal needs --yes.
	bigger := h.writeConfig("cluster_name: cli-one\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nnode_groups: [{name: ng-cpu, instance_type: m5.large, min_instances: 1, max_instances: 7}]\n")
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--dry-run"); err != nil {
		t.Fatalf("configure --dry-run: %v %s", err, h.errOut)
	}
	if !strings.Contains(h.out.String(), "node_groups[ng-cpu].max_instances: 5 -> 7") || !strings.Contains(h.out.String(), "dry run") {
		t.Errorf("configure --dry-run output: %s", h.out)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("configure without --yes and terminal: %v", err)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--dry-run"); err != nil || !strings.Contains(h.out.String(), "5 -> 7") {
		t.Fatalf("the refused configure changed the cluster: %v %s", err, h.out)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--yes"); err != nil {
		t.Fatalf("configure --yes: %v %s", err, h.errOut)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--dry-run"); err != nil || !strings.Contains(h.out.String(), "nothing to change") {
		t.Fatalf("after configure: %v %s", err, h.out)
	}
	if err := h.run(NewCmdCredentials(h.factory), "forget", "cli-one"); err != nil || !strings.Contains(h.out.String(), "forgot the credentials of cluster cli-one in us-west-2") {
		t.Fatalf("credentials forget: %v %s", err, h.out)
	}
	if e, _ := os.ReadFile(filepath.Join(h.dir, "clusters", "cli-one-us-west-2.credentials.json")); e != nil {
		t.Fatalf("forget left %s", e)
	}
	if err := h.run(NewCmdDown(h.factory, nil), bigger); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("down without --yes and terminal: %v", err)
	}
	if err := h.run(NewCmdDown(h.factory, nil), bigger, "--yes", "--poll-interval", "10ms"); err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
	if !strings.Contains(h.out.String(), "removed environment cli-one") {
		t.Errorf("down output: %s", h.out)
	}
	cc, _ = cliconfig.Load(h.dir)
	if _, err := cc.Get("cli-one"); err == nil {
		t.Error("environment survived down")
	}
	if ents, _ := os.ReadDir(filepath.Join(h.dir, "clusters")); len(ents) != 0 {
		t.Errorf("cluster cache survived down: %v", ents)
	}
	// Again: there is no such cluster any more, and down says so.
	if err := h.run(NewCmdDown(h.factory, nil), bigger, "--yes", "--poll-interval", "10ms"); err == nil || !strings.Contains(err.Error(), "there is no cluster cli-one in us-west-2") {
		t.Fatalf("down of a deleted cluster: %v\n%s", err, h.out)
	}
}

// On a terminal, `cluster down` asks before anything is looked up, through the prompter: "n"
// aborts with exit code 1, the end of input is no answer. Without a terminal it needs --yes.
func TestDownConfirmationOnATerminalAndNot(t *testing.T) {
	for _, tc := range []struct {
		tty  bool
		in   string
		err  string
		code int
	}{
		{false, "", "pass --yes to go ahead", 0},
		{true, "n\n", "aborted", 1},
		{true, "", "no answer", 0},
	} {
		h := newHarness(t)
		h.factory, h.out, h.errOut = cmdutil.TestFactory(h.dir, tc.in, tc.tty)
		err := h.run(NewCmdDown(h.factory, nil), "--name", "gone", "--region", "us-west-2")
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("tty %v, %q: err %v, want %q", tc.tty, tc.in, err, tc.err)
		}
		var ee *cmdutil.ExitError
		if tc.code != 0 && (!errors.As(err, &ee) || ee.Code != tc.code) {
			t.Errorf("tty %v: exit %v, want %d", tc.tty, err, tc.code)
		}
		if tc.tty && !strings.Contains(h.errOut.String(), "delete cluster gone in us-west-2 and every AWS resource") {
			t.Errorf("tty %v: question not asked: %q", tc.tty, h.errOut)
		}
		if strings.Contains(h.errOut.String(), "using AWS credentials") {
			t.Errorf("credentials were looked up before the answer: %q", h.errOut)
		}
	}
}
