package clusterconfig

import (
	"errors"
	"fmt"
	"regexp"
)

// Roles an access rule may grant, weakest first.
var accessRoles = []string{"read", "deploy", "admin"}

var (
	accountIDRE    = regexp.MustCompile(`^[0-9]{12}$`)
	principalARNRE = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(user|role)/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,128}$`)
)

// ValidateAccess checks the access rules of cluster.yaml. It is the single place to switch to
// internal/access's Rule.Validate once that package lands.
func ValidateAccess(rules []AccessRule) error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range rules {
		if !accountIDRE.MatchString(r.Principal) && !principalARNRE.MatchString(r.Principal) {
			errs = append(errs, fmt.Errorf("access[%d].principal: %q is not allowed; use a 12-digit account id or an IAM user or role ARN (arn:aws:iam::123456789012:role/name)", i, r.Principal))
		}
		ok := false
		for _, role := range accessRoles {
			ok = ok || r.Role == role
		}
		if !ok {
			errs = append(errs, fmt.Errorf("access[%d].role: %q is not allowed; use read, deploy or admin", i, r.Role))
		}
		if seen[r.Principal] {
			errs = append(errs, fmt.Errorf("access[%d].principal: %q is listed twice", i, r.Principal))
		}
		seen[r.Principal] = true
	}
	return errors.Join(errs...)
}
