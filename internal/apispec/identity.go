package apispec

import (
	"fmt"
	"regexp"
)

// MaxIAMPolicies bounds iam_policy_arns: IAM's default quota of managed policies per role.
const MaxIAMPolicies = 10

// IAM ARNs an API spec may name, in any partition (aws, aws-cn, aws-us-gov, aws-iso*, ...). Names
// and paths use IAM's own character sets and limits: a role name is 1-64 characters, a policy
// name 1-128, a path at most 512.
var (
	iamRoleARNRE   = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\w+=,.@-]+/){0,32}[\w+=,.@-]{1,64}$`)
	iamPolicyARNRE = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::(aws|[0-9]{12}):policy/([\w+=,.@-]+/){0,32}[\w+=,.@-]{1,128}$`)
)

// maxARN bounds an ARN before the regular expressions see it (path 512 + name 128 + prefix).
const maxARN = 700

// HasIAMIdentity reports whether the API asks for an AWS identity of its own (iam_role_arn or
// iam_policy_arns). An API without one gets no AWS credentials on Kubernetes.
func (s *Spec) HasIAMIdentity() bool { return s.IAMRoleARN != "" || len(s.IAMPolicyARNs) > 0 }

// validateIdentity checks iam_role_arn and iam_policy_arns: either a role the user made (cortex
// binds the API's pods to it and never changes or deletes it) or policies (cortex makes a role of
// the API's own and attaches them), not both.
func validateIdentity(s *Spec, fe func(field, format string, a ...any)) {
	if s.IAMRoleARN != "" {
		if len(s.IAMRoleARN) > maxARN || !iamRoleARNRE.MatchString(s.IAMRoleARN) {
			fe("iam_role_arn", "%q is not an IAM role ARN; use one like arn:aws:iam::123456789012:role/my-api", clip(s.IAMRoleARN))
		}
		if len(s.IAMPolicyARNs) > 0 {
			fe("iam_policy_arns", "not allowed with iam_role_arn (name a role, or policies for a role cortex makes, not both)")
		}
		return
	}
	if s.IAMPolicyARNs == nil {
		return
	}
	if len(s.IAMPolicyARNs) == 0 {
		fe("iam_policy_arns", "empty: list at least one policy ARN, or leave the field out (no AWS credentials)")
		return
	}
	if len(s.IAMPolicyARNs) > MaxIAMPolicies {
		fe("iam_policy_arns", "too many policies (%d, at most %d per role)", len(s.IAMPolicyARNs), MaxIAMPolicies)
		return
	}
	seen := map[string]bool{}
	for i, arn := range s.IAMPolicyARNs {
		field := fmt.Sprintf("iam_policy_arns[%d]", i)
		switch {
		case len(arn) > maxARN || !iamPolicyARNRE.MatchString(arn):
			fe(field, "%q is not an IAM policy ARN; use one like arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", clip(arn))
		case seen[arn]:
			fe(field, "%q is listed twice", arn)
		}
		seen[arn] = true
	}
}

// clip keeps hostile input from filling an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
