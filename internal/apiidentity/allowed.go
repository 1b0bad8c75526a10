package apiidentity

import (
	"fmt"
	"regexp"
	"strings"
)

// Setting names of the allowlist, for errors a user can act on: the operator's config keys, and
// the cluster.yaml fields `cortex cluster up` fills them from.
const (
	SettingPolicies = "kubernetes.api_iam.allowed_policy_arns (cluster.yaml api_iam.allowed_policy_arns)"
	SettingRoles    = "kubernetes.api_iam.allowed_role_arns (cluster.yaml api_iam.allowed_role_arns)"
)

// Allowed is what the cluster's admin lets APIs be given: any `deploy` identity writes an API's
// spec, so without it iam_policy_arns: [AdministratorAccess] (or an iam_role_arn of any role that
// trusts EKS Pod Identity) made `cortex deploy` equal to an administrator of the AWS account.
// Exact ARNs only, no patterns: the list is what an admin reviewed. Empty (the default): APIs get
// no AWS identity at all.
type Allowed struct {
	// PolicyARNs may be named in iam_policy_arns.
	PolicyARNs []string `json:"allowed_policy_arns,omitempty"`
	// RoleARNs may be named as iam_role_arn.
	RoleARNs []string `json:"allowed_role_arns,omitempty"`
}

var (
	policyARNRE = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::(aws|[0-9]{12}):policy/[\w+=,.@/-]{1,512}$`)
	roleARNRE   = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
)

// Validate refuses what is not an exact IAM policy or role ARN (wildcards included), and
// duplicates. field prefixes the errors (the setting's name where the list was read).
func (a Allowed) Validate(field string) error {
	if field != "" {
		field += "."
	}
	check := func(name string, list []string, re *regexp.Regexp, kind, example string) error {
		seen := map[string]bool{}
		for i, arn := range list {
			switch {
			case strings.ContainsAny(arn, "*?"):
				return fmt.Errorf("%s%s[%d]: %q: wildcards are not allowed; list each %s ARN an API may get", field, name, i, arn, kind)
			case !re.MatchString(arn):
				return fmt.Errorf("%s%s[%d]: %q is not an IAM %s ARN (like %s)", field, name, i, arn, kind, example)
			case seen[arn]:
				return fmt.Errorf("%s%s[%d]: %q is listed twice", field, name, i, arn)
			}
			seen[arn] = true
		}
		return nil
	}
	if err := check("allowed_policy_arns", a.PolicyARNs, policyARNRE, "policy", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"); err != nil {
		return err
	}
	return check("allowed_role_arns", a.RoleARNs, roleARNRE, "role", "arn:aws:iam::123456789012:role/team-reader")
}

// Check says whether r asks only for what is allowed; it changes nothing. The error names the
// spec's field, the API and the setting.
func (a Allowed) Check(r Request) error {
	for _, p := range r.PolicyARNs {
		if !contains(a.PolicyARNs, p) {
			return fmt.Errorf("api %s: iam_policy_arns: %s is not allowed for APIs on this cluster; the cluster's admin lists the policies APIs may get in %s (%s)",
				r.API, p, SettingPolicies, describe(a.PolicyARNs))
		}
	}
	if r.RoleARN != "" && !contains(a.RoleARNs, r.RoleARN) {
		return fmt.Errorf("api %s: iam_role_arn: %s is not allowed for APIs on this cluster; the cluster's admin lists the roles APIs may name in %s (%s)",
			r.API, r.RoleARN, SettingRoles, describe(a.RoleARNs))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func describe(list []string) string {
	if len(list) == 0 {
		return "none allowed now"
	}
	return fmt.Sprintf("%d allowed", len(list))
}
