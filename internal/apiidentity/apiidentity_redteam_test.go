package apiidentity

import (
	"context"
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
