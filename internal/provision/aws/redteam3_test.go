package aws

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
)

// Red team: configure drops an ARN from api_iam while a deploy identity deploys an API with it.
// The in-use check runs before the operator's Deployment changes, and the old operator keeps
// serving (and binding) until its replacement rolls out: an API bound in between would keep the
// removed ARN, the situation the in-use check exists to refuse. The hook stands for that deploy:
// when configure starts waiting for the operator's rollout, an API appears bound to the removed
// policy (as the old operator binds it: a role under cortex's path with the policy attached, and
// its pod identity association). configure must not report success, and must say which API.
func TestConfigureAPIIAMDeployDuringRollout(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "conf-race"
	dir := t.TempDir()
	first := apiidentity.Allowed{PolicyARNs: []string{s3Read}}
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, apiIAMConfig(t, name, first))
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)

	rolePath := apiidentity.RolePath(clusterconfig.RolePrefix(name, testRegion))
	var once sync.Once
	var assoc string
	deployDuringRollout := func(e Event) {
		if e.Step != "configure" || e.Phase != PhaseWaiting || !strings.Contains(e.Detail, "rollout") {
			return
		}
		once.Do(func() {
			_, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("bert-role"), Path: aws.String(rolePath), AssumeRolePolicyDocument: aws.String(trustPolicy("pods.eks.amazonaws.com"))})
			if err != nil {
				t.Errorf("create the API's role: %v", err)
				return
			}
			if _, err := p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("bert-role"), PolicyArn: aws.String(s3Read)}); err != nil {
				t.Errorf("attach: %v", err)
			}
			role, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("bert-role")})
			if err != nil {
				t.Errorf("get role: %v", err)
				return
			}
			a, err := p.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(name), Namespace: aws.String("cortex-apis"),
				ServiceAccount: aws.String("bert"), RoleArn: role.Role.Arn})
			if err != nil {
				t.Errorf("associate: %v", err)
				return
			}
			assoc = aws.ToString(a.Association.AssociationId)
		})
	}
	conf, err := New(Options{AWS: awsConfig(h.url, h.rec), StateDir: dir, PollInterval: 20 * time.Millisecond, WaitTimeout: time.Minute,
		Progress: deployDuringRollout, NewKubeClient: h.newKubeClient})
	must(t, err)
	next := apiidentity.Allowed{PolicyARNs: []string{dynamoRead}}
	_, err = conf.Configure(ctx, apiIAMConfig(t, name, next))
	if assoc == "" {
		t.Fatal("the hook did not run: configure never waited for the operator's rollout")
	}
	if err == nil || !strings.Contains(err.Error(), s3Read+" is still used by the API(s) with ServiceAccount cortex-apis/bert") {
		t.Errorf("configure removed %s from api_iam while an API bound during its rollout still has it, and said: %v", s3Read, err)
	}

	_, err = p.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(name), AssociationId: aws.String(assoc)})
	must(t, err)
	_, err = p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("bert-role"), PolicyArn: aws.String(s3Read)})
	must(t, err)
	_, err = p.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("bert-role")})
	must(t, err)
	// With the API gone, configure finishes.
	if _, err := h.provisioner(t, dir, "").Configure(ctx, apiIAMConfig(t, name, next)); err != nil {
		t.Fatal(err)
	}
	if doc := operatorRolePolicy(t, p, name); strings.Contains(doc, s3Read) || !strings.Contains(doc, dynamoRead) {
		t.Errorf("operator role policy after configure: %s", doc)
	}
	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}

// Red team: cluster.yaml's access converges an identity's EKS access entry only where it differs
// from the rule, and an entry "matched" when its groups and policy were the role's, whatever its
// Kubernetes username. The username is an identity of its own in Kubernetes (a ClusterRoleBinding
// to it gives it more than the role: EKS lets an admin set any name that is not system:, eks:,
// aws:, amazon: or iam:), so an entry of carl's edited to another username is wider than carl's
// rule; a later up or configure must make it the rule's again (cortex's own entries have username
// = the principal's ARN).
func TestApplyAccessEntryWithAnotherUsername(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "access-user"
	dir := t.TempDir()
	rules := testOperatorRules(t)
	cfg := mustConfig(t, "cluster_name: "+name+"\n"+installConfig+"access:\n- {principal: "+carl+", role: read}\n")
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)
	if _, err := p.ApplyAccess(ctx, cfg, rules); err != nil {
		t.Fatal(err)
	}
	// carl's entry, made again outside cortex with the same groups and policy but another username.
	_, err = p.eks.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: aws.String(name), PrincipalArn: aws.String(carl)})
	must(t, err)
	_, err = p.eks.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String(name), PrincipalArn: aws.String(carl),
		Type: aws.String("STANDARD"), Username: aws.String("ops-superuser"), KubernetesGroups: []string{"cortex:read"}})
	must(t, err)
	_, err = p.eks.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String(name), PrincipalArn: aws.String(carl),
		PolicyArn:   aws.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"),
		AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: []string{"cortex-apis"}}})
	must(t, err)

	if _, err := h.provisioner(t, dir, "").ApplyAccess(ctx, cfg, rules); err != nil {
		t.Fatal(err)
	}
	d, err := p.eks.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String(name), PrincipalArn: aws.String(carl)})
	must(t, err)
	if u := aws.ToString(d.AccessEntry.Username); u != carl {
		t.Errorf("after up's access, carl's entry has Kubernetes username %q (want %q): left as if it were the rule's", u, carl)
	}

	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}

// Red team: a configure that adds an ARN to api_iam puts it in the operator role's policy first,
// then in the operator's arguments; when the second step fails, the state still records the old
// api_iam. Going back to the old cluster.yaml then finds "no api_iam change" and leaves the added
// ARN in the role's policy for good (for a role ARN: iam:PassRole on it, which the admin meant to
// withdraw), and an API the operator bound with it meanwhile is not looked for.
func TestConfigureAPIIAMRevertAfterPartialAdd(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "conf-revert"
	dir := t.TempDir()
	first := apiidentity.Allowed{PolicyARNs: []string{s3Read}}
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, apiIAMConfig(t, name, first))
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)

	wider := apiidentity.Allowed{PolicyARNs: []string{s3Read}, RoleARNs: []string{teamRole}}
	h.failKube.Store("PUT deployments")
	_, err = h.provisioner(t, dir, "").Configure(ctx, apiIAMConfig(t, name, wider))
	h.failKube.Store("")
	if err == nil || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("configure adding a role with a fault in the operator's update: %v", err)
	}
	if !strings.Contains(operatorRolePolicy(t, p, name), teamRole) {
		t.Fatal("the role's policy did not get the added ARN first")
	}
	// The admin goes back to the cluster.yaml that was applied.
	if _, err := h.provisioner(t, dir, "").Configure(ctx, apiIAMConfig(t, name, first)); err != nil {
		t.Fatal(err)
	}
	if doc := operatorRolePolicy(t, p, name); strings.Contains(doc, teamRole) {
		t.Errorf("after configure back to the applied api_iam, the operator role's policy still allows %s: %s", teamRole, doc)
	}
	if got := operatorAllowlist(t, h); len(got.RoleARNs) != 0 {
		t.Errorf("operator allowlist: %+v", got)
	}

	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}

// Red team: cluster.yaml's access revokes what it applied only when a principal's canonical form
// leaves cluster.yaml, but EKS access entries are keyed by the ARN as written (a role with its
// path). A rule rewritten to the same role without its path (or with another) keeps the old
// entry: cluster.yaml says read, the operator says read, and Kubernetes still gives deploy through
// the entry of the path-ful ARN; the record of that entry is replaced, so dropping the rule later
// leaves it for good.
func TestApplyAccessRulePathRewritten(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "access-path"
	dir := t.TempDir()
	rules := testOperatorRules(t)
	withAccess := func(rules string) *clusterconfig.Config {
		return mustConfig(t, "cluster_name: "+name+"\n"+installConfig+"access:\n"+rules)
	}
	cfg1 := withAccess("- {principal: " + ml + ", role: deploy}\n")
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)
	if _, err := p.ApplyAccess(ctx, cfg1, rules); err != nil {
		t.Fatal(err)
	}
	// The same role, written without its path, lowered to read.
	cfg2 := withAccess("- {principal: " + mlC + ", role: read}\n")
	if _, err := h.provisioner(t, dir, "").Configure(ctx, cfg2); err != nil {
		t.Fatal(err)
	}
	if _, err := h.provisioner(t, dir, "").ApplyAccess(ctx, cfg2, rules); err != nil {
		t.Fatal(err)
	}
	for _, v := range accessView(t, p, rules, name) {
		if v == ml+"=/deploy" {
			t.Errorf("cluster.yaml says %s is read, and the entry of %s still gives deploy: %v", mlC, ml, accessView(t, p, rules, name))
		}
	}
	// cluster.yaml drops the rule: nothing of it is left.
	cfg3 := mustConfig(t, "cluster_name: "+name+"\n"+installConfig+"access: []\n")
	if _, err := h.provisioner(t, dir, "").Configure(ctx, cfg3); err != nil {
		t.Fatal(err)
	}
	if _, err := h.provisioner(t, dir, "").ApplyAccess(ctx, cfg3, rules); err != nil {
		t.Fatal(err)
	}
	if got := accessView(t, p, rules, name); len(got) != 0 {
		t.Errorf("after cluster.yaml dropped every rule: %v", got)
	}

	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}
