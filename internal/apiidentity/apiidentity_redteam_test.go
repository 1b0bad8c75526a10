package apiidentity

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Red team: a deploy identity names, as its API's iam_role_arn, the operator role of ANOTHER
// cortex cluster in the same account (cortex-<cluster>-<hash>-operator, made by `cluster up` with
// a trust policy that lets pods.eks.amazonaws.com assume it with no condition; the operator's
// policy may pass any role to EKS Pod Identity). The prefix check knew only this cluster's prefix,
// so the association was made and the API's pods ran with the other cluster's operator
// credentials: IAM role management under that cluster's path, its bucket, its node groups. Roles
// under any cluster's cortex-apis path are refused likewise.
func TestBindRefusesAnotherClustersOperatorRole(t *testing.T) {
	b, e := setup(t, "idt")
	ctx := context.Background()
	// As internal/provision/aws makes it (PodIdentityTrustPolicy, operatorcreds.go).
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	for _, name := range []string{"cortex-staging-9f8e7d6c-operator", "cortex-a-very-long-cluster-name-of-forty-c-0123abcd-op"} {
		r, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := b.Bind(ctx, Request{API: "thief", ServiceAccount: "thief", RoleARN: aws.ToString(r.Role.Arn)}); err == nil {
			t.Errorf("an API was bound to another cluster's operator role %s (%s)", name, got)
		}
	}
	if _, err := b.Bind(ctx, Request{API: "thief", ServiceAccount: "thief",
		RoleARN: "arn:aws:iam::" + account + ":role/cortex-apis/cortex-staging-9f8e7d6c/cortex-staging-9f8e7d6c-api-iris"}); err == nil {
		t.Error("an API was bound to another cluster's API role")
	}
	if got := association(t, e.eks, "idt", "thief"); got != "" {
		t.Errorf("association made for a refused role: %s", got)
	}
}

// Red team (closed): a `deploy` identity (not admin) lists AdministratorAccess (or IAMFullAccess,
// or a customer policy granting iam:*) in iam_policy_arns, or names as iam_role_arn a role of the
// account that trusts EKS Pod Identity; the operator's IAM policy let it attach any policy to its
// APIs' roles, so `cortex deploy` was an administrator of the AWS account. Now the cluster's admin
// lists what APIs may get (Allowed: kubernetes.api_iam.allowed_policy_arns / allowed_role_arns,
// default none); anything else is refused before any role or association exists. The operator's
// IAM policy agrees (iam:PolicyARN condition, internal/iampolicy).
func TestBindAttachesAnAdministratorPolicy(t *testing.T) {
	b, e := setup(t, "idt")
	ctx := context.Background()
	// moto does not load AWS's managed policies: a customer policy of the same content stands in
	// for arn:aws:iam::aws:policy/AdministratorAccess.
	out, err := e.iam.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("AdministratorAccess"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	admin := aws.ToString(out.Policy.Arn)
	allowed := policy(t, e.iam, "p1")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	r, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("account-admin"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, field string
		req         Request
	}{
		{"administrator policy", "iam_policy_arns", Request{API: "escalate", ServiceAccount: "escalate", PolicyARNs: []string{admin}}},
		{"allowed policy with an administrator one", "iam_policy_arns", Request{API: "escalate", ServiceAccount: "escalate", PolicyARNs: []string{allowed, admin}}},
		{"any role trusting pods", "iam_role_arn", Request{API: "escalate", ServiceAccount: "escalate", RoleARN: aws.ToString(r.Role.Arn)}},
	} {
		_, err := b.Bind(ctx, tc.req)
		if err == nil {
			t.Fatalf("%s: bound; attached to the API's role: %v", tc.name, attachedPolicies(t, e.iam, RoleName(prefix, "escalate")))
		}
		for _, want := range []string{tc.field, "api escalate", "kubernetes.api_iam.allowed_"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %q", tc.name, err, want)
			}
		}
		if err := b.Check(tc.req); err == nil {
			t.Errorf("%s: Check allows what Bind refuses", tc.name)
		}
		// Refused before anything changed: no role, no association.
		if roleExists(t, e.iam, RoleName(prefix, "escalate")) {
			t.Errorf("%s: a role was made for a refused request", tc.name)
		}
		if got := association(t, e.eks, "idt", "escalate"); got != "" {
			t.Errorf("%s: association made: %s", tc.name, got)
		}
	}
	// The default: nothing allowed, so no API gets an identity, and the error says where to allow.
	none, err := New(Config{IAM: e.iam, EKS: e.eks, Cluster: "idt", Namespace: ns, Partition: "aws",
		Region: "us-west-2", AccountID: account, RolePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Bind(ctx, Request{API: "plain", ServiceAccount: "plain", PolicyARNs: []string{allowed}}); err == nil ||
		!strings.Contains(err.Error(), "kubernetes.api_iam.allowed_policy_arns") || !strings.Contains(err.Error(), "none allowed") {
		t.Errorf("empty allowlist: %v", err)
	}
	if roleExists(t, e.iam, RoleName(prefix, "plain")) {
		t.Error("empty allowlist: a role was made")
	}
}
