package aws

import (
	"fmt"
	"unicode"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/iampolicy"
)

// MaxRoleInlinePolicyChars is IAM's quota on a role's inline policies, all of them together, in
// characters with whitespace not counted (IAM User Guide, "IAM and AWS STS quotas": "Role policy
// size cannot exceed 10,240 characters"; "IAM does not count white space"). The operator's role
// has one inline policy, cortex-operator, which grows with api_iam: each allowed ARN is listed in
// it. PutRolePolicy beyond the quota fails with LimitExceeded, after up or configure has changed
// other things; operatorPolicy refuses first.
const MaxRoleInlinePolicyChars = 10240

// policyChars is a policy document's size as IAM counts it: every character but whitespace.
func policyChars(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// operatorPolicy renders the operator role's inline policy for cfg (compacted), and refuses a
// document over IAM's quota with how many of api_iam's ARNs fit and what to do instead.
func operatorPolicy(partition, account string, cfg *clusterconfig.Config, region string) (string, error) {
	render := func(c *clusterconfig.Config) (string, error) {
		doc, err := iampolicy.Render(iampolicy.Operator, OperatorPolicyParams(partition, account, c, region))
		if err != nil {
			return "", err
		}
		return iampolicy.Compact(doc)
	}
	compact, err := render(cfg)
	if err != nil {
		return "", err
	}
	size := policyChars(compact)
	if size <= MaxRoleInlinePolicyChars {
		return compact, nil
	}
	// How many of the listed ARNs fit, in the order given (policies, then roles).
	all := append(append([]string{}, cfg.APIIAM.PolicyARNs...), cfg.APIIAM.RoleARNs...)
	fit := 0
	for n := 1; n <= len(all); n++ {
		c := *cfg
		np := min(n, len(cfg.APIIAM.PolicyARNs))
		c.APIIAM.PolicyARNs = cfg.APIIAM.PolicyARNs[:np]
		c.APIIAM.RoleARNs = cfg.APIIAM.RoleARNs[:n-np]
		doc, err := render(&c)
		if err != nil {
			return "", err
		}
		if policyChars(doc) > MaxRoleInlinePolicyChars {
			break
		}
		fit = n
	}
	return "", fmt.Errorf("api_iam: with its %d ARNs (%d allowed_policy_arns, %d allowed_role_arns) the operator role's inline policy would be %d characters, "+
		"over IAM's limit of %d for a role's inline policies (whitespace not counted); only the first %d of these ARNs fit. "+
		"List fewer: merge the permissions APIs need into fewer customer managed policies and allow those, or give APIs roles you made (allowed_role_arns) with the policies attached",
		len(all), len(cfg.APIIAM.PolicyARNs), len(cfg.APIIAM.RoleARNs), size, MaxRoleInlinePolicyChars, fit)
}

// CheckOperatorPolicy says, before anything is created or changed, whether the operator role's
// inline policy for cfg fits IAM's quota (the operator has that role only without cluster
// credentials, but a cluster may switch modes on a later up, so the check is unconditional).
func CheckOperatorPolicy(partition, account string, cfg *clusterconfig.Config, region string) error {
	_, err := operatorPolicy(partition, account, cfg, region)
	return err
}
