package aws

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/iampolicy"
)

// allowlist is n policy ARNs of the account.
func allowlist(n int) apiidentity.Allowed {
	var a apiidentity.Allowed
	for i := range n {
		a.PolicyARNs = append(a.PolicyARNs, fmt.Sprintf("arn:aws:iam::123456789012:policy/team/api-policy-%04d", i))
	}
	return a
}

// The operator role's inline policy lists api_iam; an allowlist just under IAM's 10,240
// characters (whitespace not counted) is accepted, by cortex and by IAM (moto's PutRolePolicy); one
// ARN more is refused before anything is created, saying how many fit and what to do. moto does not
// enforce the quota (measured with 5.x: it accepts the larger document too), so the count follows
// the IAM User Guide's quota page and is only logged against moto.
func TestOperatorPolicyLimit(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	cfg := mustConfig(t, "cluster_name: big-allowlist\n"+installConfig)
	// The largest allowlist that fits, found by growing it.
	n := 0
	for ; ; n++ {
		c := *cfg
		c.APIIAM = allowlist(n + 1)
		if _, err := operatorPolicy("aws", "123456789012", &c, testRegion); err != nil {
			break
		}
	}
	if n < 50 {
		t.Fatalf("only %d ARNs fit", n)
	}
	under, over := *cfg, *cfg
	under.APIIAM, over.APIIAM = allowlist(n), allowlist(n+1)
	doc, err := operatorPolicy("aws", "123456789012", &under, testRegion)
	must(t, err)
	if size := len(strings.Join(strings.Fields(doc), "")); size > MaxRoleInlinePolicyChars || size < MaxRoleInlinePolicyChars-60 {
		t.Fatalf("%d ARNs: %d characters, want just under %d", n, size, MaxRoleInlinePolicyChars)
	}
	_, err = operatorPolicy("aws", "123456789012", &over, testRegion)
	for _, want := range []string{fmt.Sprintf("with its %d ARNs", n+1), "over IAM's limit of 10240", fmt.Sprintf("only the first %d of these ARNs fit", n), "customer managed policies"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("over the limit: want %q in %v", want, err)
		}
	}
	t.Logf("%d ARNs of %d characters fit: %d characters", n, len(under.APIIAM.PolicyARNs[0]), len(strings.Join(strings.Fields(doc), "")))

	p := newTestProvisioner(t, u, nil, t.TempDir())
	_, err = p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("limit"), AssumeRolePolicyDocument: aws.String(trustPolicy("pods.eks.amazonaws.com"))})
	must(t, err)
	if _, err := p.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("limit"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Errorf("IAM refused the policy cortex accepts: %v", err)
	}
	raw, err := iampolicy.Render(iampolicy.Operator, OperatorPolicyParams("aws", "123456789012", &over, testRegion))
	must(t, err)
	bigDoc, err := iampolicy.Compact(raw)
	must(t, err)
	_, err = p.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("limit"), PolicyName: aws.String("p"), PolicyDocument: aws.String(bigDoc)})
	t.Logf("IAM (moto) with one ARN more: %v", err)

	// up refuses before creating anything.
	dir := t.TempDir()
	if _, err := newTestProvisioner(t, u, nil, dir).Up(ctx, &over); err == nil || !strings.Contains(err.Error(), "nothing was created") || !strings.Contains(err.Error(), "api_iam") {
		t.Fatalf("up with an allowlist over the limit: %v", err)
	}
	if inv := takeInventory(t, p, "big-allowlist"); !inv.empty() {
		t.Fatalf("a refused up created %v", inv)
	}
	if st, err := LoadLocalState(dir, "big-allowlist", testRegion); err != nil || st != nil {
		t.Fatalf("a refused up wrote state: %+v %v", st, err)
	}
}
