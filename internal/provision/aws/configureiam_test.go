package aws

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

const (
	s3Read     = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
	dynamoRead = "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess"
	teamRole   = "arn:aws:iam::123456789012:role/team"
)

// operatorAllowlist is the operator's api_iam as its Deployment's arguments say.
func operatorAllowlist(t *testing.T, h *eksHarness) apiidentity.Allowed {
	t.Helper()
	dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(context.Background(), install.OperatorName, metav1.GetOptions{})
	must(t, err)
	var a apiidentity.Allowed
	for _, arg := range dep.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(arg, "--api-allowed-policy-arn="); ok {
			a.PolicyARNs = append(a.PolicyARNs, v)
		}
		if v, ok := strings.CutPrefix(arg, "--api-allowed-role-arn="); ok {
			a.RoleARNs = append(a.RoleARNs, v)
		}
	}
	return a
}

// operatorRolePolicy is the operator role's inline policy as IAM holds it.
func operatorRolePolicy(t *testing.T, p *Provisioner, cluster string) string {
	t.Helper()
	got, err := p.iam.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String(OperatorRoleName(cluster, testRegion)), PolicyName: aws.String(operatorPolicyName)})
	must(t, err)
	doc, err := decodePolicyDocument(aws.ToString(got.PolicyDocument))
	must(t, err)
	return doc
}

func apiIAMConfig(t *testing.T, name string, a apiidentity.Allowed) *clusterconfig.Config {
	t.Helper()
	q := func(l []string) string { return "[" + strings.Join(l, ", ") + "]" }
	return mustConfig(t, "cluster_name: "+name+"\n"+installConfig+"api_iam: {allowed_policy_arns: "+q(a.PolicyARNs)+", allowed_role_arns: "+q(a.RoleARNs)+"}\n")
}

// configure changes api_iam on a running cluster: the operator's arguments (and its rollout) and
// its role's inline policy both follow; removing an ARN a deployed API uses is refused, naming the
// APIs, with nothing changed; a fault in either place converges on the next configure.
func TestConfigureAPIIAM(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "conf-iam"
	dir := t.TempDir()
	first := apiidentity.Allowed{PolicyARNs: []string{s3Read}, RoleARNs: []string{teamRole}}
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, apiIAMConfig(t, name, first))
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)
	if got := operatorAllowlist(t, h); !slices.Equal(got.PolicyARNs, first.PolicyARNs) || !slices.Equal(got.RoleARNs, first.RoleARNs) {
		t.Fatalf("operator allowlist after up: %+v", got)
	}

	// Two deployed APIs: iris runs as the allowed role, bert as the role cortex made for it with
	// the allowed policy attached (as the operator binds them).
	rolePath := apiidentity.RolePath(clusterconfig.RolePrefix(name, testRegion))
	bert, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("bert-role"), Path: aws.String(rolePath), AssumeRolePolicyDocument: aws.String(trustPolicy("pods.eks.amazonaws.com"))})
	must(t, err)
	_, err = p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("bert-role"), PolicyArn: aws.String(s3Read)})
	must(t, err)
	var assocs []string
	for sa, role := range map[string]string{"iris": teamRole, "bert": aws.ToString(bert.Role.Arn)} {
		a, err := p.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(name), Namespace: aws.String("cortex-apis"),
			ServiceAccount: aws.String(sa), RoleArn: aws.String(role)})
		must(t, err)
		assocs = append(assocs, aws.ToString(a.Association.AssociationId))
	}

	next := apiidentity.Allowed{PolicyARNs: []string{dynamoRead}}
	nextCfg := apiIAMConfig(t, name, next)
	_, err = p.PlanConfigure(ctx, nextCfg)
	for _, want := range []string{"nothing was changed", s3Read + " is still used by the API(s) with ServiceAccount cortex-apis/bert", teamRole + " is still used by the API(s) with ServiceAccount cortex-apis/iris"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configure dropping ARNs in use: want %q, got %v", want, err)
		}
	}
	if _, err := p.Configure(ctx, nextCfg); err == nil {
		t.Fatal("configure removed ARNs that deployed APIs use")
	}
	if got := operatorAllowlist(t, h); !slices.Equal(got.PolicyARNs, first.PolicyARNs) || !strings.Contains(operatorRolePolicy(t, p, name), s3Read) {
		t.Fatalf("a refused configure changed the allowlist: %+v", got)
	}

	// The APIs are deleted: the change goes through. A fault first in the operator's Deployment,
	// then in the role's policy; each configure after converges.
	for _, id := range assocs {
		_, err := p.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(name), AssociationId: aws.String(id)})
		must(t, err)
	}
	h.failKube.Store("PUT deployments")
	_, err = h.provisioner(t, dir, "").Configure(ctx, nextCfg)
	h.failKube.Store("")
	if err == nil || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("configure with a fault in the Deployment's update: %v", err)
	}
	// Removal goes to the operator first: its policy still allows the old ARNs, never more.
	if !strings.Contains(operatorRolePolicy(t, p, name), s3Read) {
		t.Error("the role's policy changed before the operator")
	}
	h.rec.failOp.Store("PutRolePolicy")
	_, err = h.provisioner(t, dir, "").Configure(ctx, nextCfg)
	h.rec.failOp.Store("")
	if err == nil || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("configure with a fault in PutRolePolicy: %v", err)
	}
	p = h.provisioner(t, dir, "")
	changes, err := p.Configure(ctx, nextCfg)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, c := range changes {
		fields = append(fields, c.Field)
	}
	if !slices.Equal(fields, []string{"api_iam.allowed_policy_arns", "api_iam.allowed_role_arns"}) {
		t.Errorf("changes: %v", fields)
	}
	if got := operatorAllowlist(t, h); !slices.Equal(got.PolicyARNs, next.PolicyARNs) || len(got.RoleARNs) != 0 {
		t.Errorf("operator allowlist after configure: %+v", got)
	}
	dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	must(t, err)
	if dep.Status.ObservedGeneration < dep.Generation || dep.Status.UpdatedReplicas != 1 || dep.Status.AvailableReplicas != 1 {
		t.Errorf("configure returned before the operator's rollout: %+v", dep.Status)
	}
	doc := operatorRolePolicy(t, p, name)
	if !strings.Contains(doc, dynamoRead) || strings.Contains(doc, s3Read) || strings.Contains(doc, teamRole) {
		t.Errorf("operator role policy after configure: %s", doc)
	}
	st, err := LoadLocalState(dir, name, testRegion)
	must(t, err)
	if !slices.Equal(st.Config.APIIAM.PolicyARNs, next.PolicyARNs) {
		t.Errorf("state's api_iam: %+v", st.Config.APIIAM)
	}
	// Converged: a plan shows nothing to do; up with the same cluster.yaml keeps the allowlist.
	if changes, err := p.PlanConfigure(ctx, nextCfg); err != nil || len(changes) != 0 {
		t.Errorf("plan after configure: %v %v", changes, err)
	}
	res, err = h.provisioner(t, dir, "").Up(ctx, nextCfg)
	must(t, err)
	checkInstalled(t, h, p, res)
	if got := operatorAllowlist(t, h); !slices.Equal(got.PolicyARNs, next.PolicyARNs) || len(got.RoleARNs) != 0 {
		t.Errorf("operator allowlist after up: %+v", got)
	}

	// An ARN added enters the role's policy first: with that step failing, the operator's list
	// stays as it was (it never accepts what its policy does not allow); the next run converges.
	wider := apiidentity.Allowed{PolicyARNs: []string{dynamoRead}, RoleARNs: []string{teamRole}}
	h.rec.failOp.Store("PutRolePolicy")
	_, err = h.provisioner(t, dir, "").Configure(ctx, apiIAMConfig(t, name, wider))
	h.rec.failOp.Store("")
	if err == nil || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("configure adding an ARN with a fault in PutRolePolicy: %v", err)
	}
	if got := operatorAllowlist(t, h); len(got.RoleARNs) != 0 {
		t.Errorf("the operator allows %v before its role's policy does", got.RoleARNs)
	}
	if _, err := h.provisioner(t, dir, "").Configure(ctx, apiIAMConfig(t, name, wider)); err != nil {
		t.Fatal(err)
	}
	if got := operatorAllowlist(t, h); !slices.Equal(got.RoleARNs, wider.RoleARNs) || !strings.Contains(operatorRolePolicy(t, p, name), teamRole) {
		t.Errorf("after adding %s: operator %+v", teamRole, got)
	}

	_, err = p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("bert-role"), PolicyArn: aws.String(s3Read)})
	must(t, err)
	_, err = p.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("bert-role")})
	must(t, err)
	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}
