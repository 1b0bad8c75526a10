package local

import (
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/fielderr"
)

// RefuseIAMIdentity refuses a spec with iam_role_arn or iam_policy_arns: local replicas are
// processes of the operator's user, with no way to hold an identity of their own, and giving them
// the environment's credentials instead would grant more than the spec asked for.
func RefuseIAMIdentity(s apispec.Spec) error {
	field := "iam_role_arn"
	if s.IAMRoleARN == "" {
		field = "iam_policy_arns"
	}
	if !s.HasIAMIdentity() {
		return nil
	}
	return &fielderr.Error{Subject: fmt.Sprintf("api %q", s.Name), Field: field,
		Msg: "per-API IAM identities need a Kubernetes cluster on EKS; the local provider runs APIs as processes of your user (use aws_credentials to pass the environment's credentials instead)"}
}
