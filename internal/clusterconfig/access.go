package clusterconfig

import (
	"errors"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// ValidateAccess checks the access rules of cluster.yaml with internal/access (and canonicalizes
// each principal in place).
func ValidateAccess(rules []AccessRule) error {
	var errs []error
	seen := map[string]bool{}
	for i := range rules {
		r := access.Rule{Principal: rules[i].Principal, Role: access.Role(rules[i].Role)}
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("access[%d]: %w", i, err))
			continue
		}
		rules[i].Principal = r.Principal
		if seen[r.Principal] {
			errs = append(errs, fmt.Errorf("access[%d].principal: %q is listed twice", i, r.Principal))
		}
		seen[r.Principal] = true
	}
	return errors.Join(errs...)
}
