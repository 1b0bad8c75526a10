package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// eksEnv is an AWS environment whose operator is real (in-process, signed in with the local admin
// credential, so no STS is needed) and whose EKS cluster is the fake of the access-entry
// operations, reached through the Factory's AWS seam.
type eksEnv struct {
	t         *testing.T
	configDir string
	fake      *eksfake.Server
	eks       *eks.Client
}

const eksCluster = "ml"

func testAWSConfig(url string) aws.Config {
	return aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
}

func newEKSEnv(t *testing.T, mode string) *eksEnv {
	t.Helper()
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster(eksCluster, mode)
	state := t.TempDir()
	tokenFile := filepath.Join(state, "admin.token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(state, "state"), Provider: "local", LocalTokenFile: tokenFile,
		STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012"})
	e := &eksEnv{t: t, configDir: filepath.Join(t.TempDir(), "cortex"), fake: fake, eks: eks.NewFromConfig(testAWSConfig(fake.URL))}
	cfg, err := cliconfig.Load(e.configDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Put(cliconfig.Environment{Name: "ml", Provider: "aws", OperatorEndpoint: op.URL, CACert: string(op.CAPEM()),
		Auth: cliconfig.AuthLocal, LocalTokenFile: tokenFile, ClusterID: op.Cluster().ID, ClusterName: eksCluster, Region: "us-west-2"})
	cfg.DefaultEnvironment = "ml"
	if err := cfg.Save(); err != nil {
		t.Fatal(err)
	}
	return e
}

type run struct {
	out, errOut string
	err         error
}

func (e *eksEnv) run(args ...string) run {
	e.t.Helper()
	f, out, errOut := cmdutil.TestFactory(e.configDir, "", false)
	f.AWSConfig = func(context.Context, *cliconfig.Environment) (aws.Config, error) {
		return testAWSConfig(e.fake.URL), nil
	}
	err := cmdutil.ExecuteTest(NewCmdAccess(f), args...)
	return run{out.String(), errOut.String(), err}
}

func (e *eksEnv) must(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.err != nil {
		e.t.Fatalf("access %v: %v\n%s%s", args, r.err, r.out, r.errOut)
	}
	return r.out
}

// list is `access list -o json`.
func (e *eksEnv) list() accessView {
	e.t.Helper()
	var v accessView
	if err := json.Unmarshal([]byte(e.must("list", "-o", "json")), &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// entry is the access entry of principal straight from EKS (nil: none).
func (e *eksEnv) entry(principal string) *kubeaccess.Grant {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.eks.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(principal)})
	var nf *ekstypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	g := &kubeaccess.Grant{Principal: principal, Username: aws.ToString(d.AccessEntry.Username), Groups: d.AccessEntry.KubernetesGroups, Type: aws.ToString(d.AccessEntry.Type)}
	p, err := e.eks.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(principal)})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range p.AssociatedAccessPolicies {
		g.Policies = append(g.Policies, kubeaccess.Policy{ARN: aws.ToString(a.PolicyArn), Scope: string(a.AccessScope.Type), Namespaces: a.AccessScope.Namespaces})
	}
	return g
}

// rule is the operator's rule of principal ("" when none).
func (v accessView) rule(principal string) string {
	for _, r := range v.Rules {
		if r.Principal == principal {
			return r.Role
		}
	}
	return ""
}

// Each role's grant makes the operator rule and exactly the access entry of that role; a change of
// role replaces the entry's groups and policy (never leaving the old policy), revoke removes both.
func TestAccessGrantRevokeEKS(t *testing.T) {
	e := newEKSEnv(t, eksfake.ModeAPIAndConfigMap)
	const bob = "arn:aws:iam::111122223333:user/bob"
	ns := []string{"cortex-apis"}
	for _, tc := range []struct {
		role   access.Role
		policy kubeaccess.Policy
	}{
		{access.RoleRead, kubeaccess.Policy{ARN: kubeaccess.ViewPolicy, Scope: "namespace", Namespaces: ns}},
		{access.RoleDeploy, kubeaccess.Policy{ARN: kubeaccess.ViewPolicy, Scope: "namespace", Namespaces: ns}},
		{access.RoleAdmin, kubeaccess.Policy{ARN: kubeaccess.ClusterAdminPolicy, Scope: "cluster"}},
		{access.RoleRead, kubeaccess.Policy{ARN: kubeaccess.ViewPolicy, Scope: "namespace", Namespaces: ns}}, // down again
	} {
		out := e.must("grant", bob, "--role", string(tc.role))
		if !strings.Contains(out, "EKS access entry ("+strings.TrimPrefix(tc.policy.ARN, kubeaccess.PolicyPrefix)) {
			t.Errorf("grant %s printed:\n%s", tc.role, out)
		}
		g := e.entry(bob)
		if g == nil || g.Type != "STANDARD" || g.Username != bob || !slices.Equal(g.Groups, rbac.Groups(tc.role)) ||
			len(g.Policies) != 1 || g.Policies[0].ARN != tc.policy.ARN || g.Policies[0].Scope != tc.policy.Scope || !slices.Equal(g.Policies[0].Namespaces, tc.policy.Namespaces) {
			t.Fatalf("after grant %s the entry is %+v", tc.role, g)
		}
		v := e.list()
		if v.rule(bob) != string(tc.role) || len(v.Drift) != 0 || v.KubernetesStore != "EKS access entry" {
			t.Fatalf("after grant %s: rule %q drift %+v", tc.role, v.rule(bob), v.Drift)
		}
	}
	// The creator's bootstrap entry (EKS's username, no groups, cluster admin) is left as it is by
	// a grant of admin: replacing it could only cost the creator its access.
	const alice = "arn:aws:iam::111122223333:role/alice"
	ctx := context.Background()
	if _, err := e.eks.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(alice)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eks.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(alice),
		PolicyArn: aws.String(kubeaccess.ClusterAdminPolicy), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster}}); err != nil {
		t.Fatal(err)
	}
	before := e.entry(alice)
	e.must("grant", alice, "--role", "admin")
	if after := e.entry(alice); after.Username != before.Username || len(after.Groups) != 0 || len(after.Policies) != 1 {
		t.Fatalf("bootstrap entry changed: %+v -> %+v", before, after)
	}
	// An account rule has no Kubernetes side: the rule is made, a note says why no entry is.
	r := e.run("grant", "111122223333", "--role", "read")
	if r.err != nil || !strings.Contains(r.errOut, "IAM users and roles only") {
		t.Fatalf("account grant: %v\n%s%s", r.err, r.out, r.errOut)
	}
	e.must("revoke", bob)
	if g := e.entry(bob); g != nil {
		t.Fatalf("after revoke the entry is %+v", g)
	}
	if v := e.list(); v.rule(bob) != "" {
		t.Fatalf("after revoke the rule is %q", v.rule(bob))
	}
	// Nothing left on either side: revoke says so and fails.
	if r := e.run("revoke", bob); r.err == nil || !strings.Contains(r.err.Error(), "neither") {
		t.Fatalf("revoke of nothing: %v\n%s", r.err, r.out)
	}
}

// When the access entry cannot be made, the grant fails, the rule stays (it was first) and the entry
// is removed, so the identity never keeps Kubernetes access other than the role's; the output
// says what to run.
func TestAccessGrantSecondStepFails(t *testing.T) {
	e := newEKSEnv(t, eksfake.ModeAPIAndConfigMap)
	const carol = "arn:aws:iam::111122223333:role/carol"
	e.must("grant", carol, "--role", "deploy")

	// Down to read, and the new policy cannot be associated: the old Edit policy must not stay.
	e.fake.FailNext("AssociateAccessPolicy", 1)
	r := e.run("grant", carol, "--role", "read")
	if r.err == nil || !strings.Contains(r.errOut, "cortex cluster access grant "+carol+" --role read") ||
		!strings.Contains(r.errOut, "cortex cluster access revoke "+carol) || !strings.Contains(r.errOut, "no Kubernetes access now") {
		t.Fatalf("failed grant: %v\n%s%s", r.err, r.out, r.errOut)
	}
	var ee *cmdutil.ExitError
	if !errors.As(r.err, &ee) || ee.Code != 1 {
		t.Fatalf("exit error: %#v", r.err)
	}
	if g := e.entry(carol); g != nil {
		t.Fatalf("after the failed grant the entry is %+v (want none)", g)
	}
	v := e.list()
	if v.rule(carol) != "read" || len(v.Drift) != 1 || !strings.Contains(v.Drift[0].Problem, "without an EKS access entry") {
		t.Fatalf("after the failed grant: rule %q drift %+v", v.rule(carol), v.Drift)
	}
	// EKS fails every deletion (the replacement of the old entry and the clean-up): the old entry
	// may stay, and the command says so.
	e.must("grant", carol, "--role", "deploy")
	e.fake.FailNext("DeleteAccessEntry", 2)
	r = e.run("grant", carol, "--role", "read")
	if r.err == nil || !strings.Contains(r.errOut, "may keep Kubernetes access other than read") {
		t.Fatalf("double failure: %v\n%s", r.err, r.errOut)
	}
	// Running it again, as told, converges.
	e.must("grant", carol, "--role", "read")
	if g := e.entry(carol); g == nil || len(g.Policies) != 1 || g.Policies[0].ARN != kubeaccess.ViewPolicy {
		t.Fatalf("after the retry: %+v", g)
	}
	// A revoke whose entry deletion fails says so and fails.
	e.fake.FailNext("DeleteAccessEntry", 1)
	if r := e.run("revoke", carol); r.err == nil || !strings.Contains(r.errOut, "keeps its Kubernetes access") {
		t.Fatalf("failed revoke: %v\n%s", r.err, r.errOut)
	}
	e.must("revoke", carol) // the rule is gone already; the entry goes now
	if g := e.entry(carol); g != nil {
		t.Fatalf("entry after the second revoke: %+v", g)
	}
}

// list flags every kind of drift, in JSON and in the table, each with its fix; running the fixes
// leaves none.
func TestAccessListDrift(t *testing.T) {
	e := newEKSEnv(t, eksfake.ModeAPIAndConfigMap)
	ctx := context.Background()
	const (
		noEntry  = "arn:aws:iam::111122223333:user/no-entry"
		noRule   = "arn:aws:iam::111122223333:role/no-rule"
		otherPol = "arn:aws:iam::111122223333:user/other-policy"
		fine     = "arn:aws:iam::111122223333:user/fine"
	)
	e.must("grant", fine, "--role", "deploy")
	e.must("grant", otherPol, "--role", "read")
	// Changed behind cortex's back, with the EKS API itself.
	if _, err := e.eks.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(otherPol),
		PolicyArn: aws.String(kubeaccess.ClusterAdminPolicy), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eks.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(noRule)}); err != nil {
		t.Fatal(err)
	}
	e.must("grant", noEntry, "--role", "read")
	if _, err := e.eks.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: aws.String(eksCluster), PrincipalArn: aws.String(noEntry)}); err != nil {
		t.Fatal(err)
	}
	// A node's entry is not a person's access: never drift.
	if _, err := e.eks.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String(eksCluster),
		PrincipalArn: aws.String("arn:aws:iam::111122223333:role/nodes"), Type: aws.String("EC2_LINUX")}); err != nil {
		t.Fatal(err)
	}

	v := e.list()
	got := map[string]string{}
	for _, d := range v.Drift {
		got[d.Principal] = d.Problem + " | " + d.Fix
	}
	want := map[string][]string{
		noEntry:  {"rule read without an EKS access entry", "grant " + noEntry + " --role read"},
		noRule:   {"without an operator rule", "revoke " + noRule},
		otherPol: {"AmazonEKSClusterAdminPolicy", "the rule says read", "grant " + otherPol + " --role read"},
	}
	if len(got) != len(want) {
		t.Errorf("drift: %+v", v.Drift)
	}
	for p, subs := range want {
		for _, s := range subs {
			if !strings.Contains(got[p], s) {
				t.Errorf("drift of %s = %q, want it to contain %q", p, got[p], s)
			}
		}
	}
	table := e.must("list")
	for _, s := range []string{"KUBERNETES (EKS ACCESS ENTRY)", "3 difference(s)", noRule, "fix: cortex cluster access revoke " + noRule} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	// The printed fixes end the drift.
	for _, d := range v.Drift {
		e.must(strings.Fields(strings.TrimPrefix(d.Fix, "cortex cluster access "))...)
	}
	if v := e.list(); len(v.Drift) != 0 {
		t.Fatalf("drift after the fixes: %+v", v.Drift)
	}
}

// In CONFIG_MAP mode EKS refuses access entries: grant and revoke fail before anything changes,
// naming --aws-auth and the switch to access entries.
func TestAccessGrantConfigMapModeWithoutAWSAuth(t *testing.T) {
	e := newEKSEnv(t, eksfake.ModeConfigMap)
	const dan = "arn:aws:iam::111122223333:user/dan"
	for _, args := range [][]string{{"grant", dan, "--role", "read"}, {"revoke", dan}, {"list"}} {
		r := e.run(args...)
		if r.err == nil || !strings.Contains(r.err.Error(), "CONFIG_MAP") || !strings.Contains(r.err.Error(), "--aws-auth") {
			t.Fatalf("%v in CONFIG_MAP mode: %v\n%s%s", args, r.err, r.out, r.errOut)
		}
	}
	// Nothing changed in the operator either.
	f, _, _ := cmdutil.TestFactory(e.configDir, "", false)
	cl, _, err := f.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	list, err := cl.AccessList(context.Background())
	if err != nil || len(list.Rules) != 0 {
		t.Fatalf("rules after refused grants: %+v %v", list, err)
	}
}
