package clusterconfig

import (
	"errors"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// ValidateAccess checks the access rules of cluster.yaml with internal/access. Principals stay as
// written (an EKS access entry names a role with its path); two rules for the same canonical
// principal are refused.
func ValidateAccess(rules []AccessRule) error {
	var errs []error
	seen := map[string]bool{}
	for i := range rules {
		r := access.Rule{Principal: rules[i].Principal, Role: access.Role(rules[i].Role)}
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("access[%d]: %w", i, err))
			continue
		}
		if seen[r.Principal] {
			errs = append(errs, fmt.Errorf("access[%d].principal: %q is listed twice", i, r.Principal))
		}
		seen[r.Principal] = true
	}
	return errors.Join(errs...)
}

// AccessChanges are the changes from the access rules cluster.yaml applied (applied) to next's,
// by principal as written (an EKS access entry is the ARN as written: a role whose path changed
// is its old rule removed and a new one added, as up and configure apply it), one Change per
// principal whose role differs ("none": no rule), for `cluster configure` to show. Rules made
// outside cluster.yaml are in neither list.
func AccessChanges(applied, next []AccessRule) []Change {
	roles := func(rules []AccessRule) map[string]string {
		m := map[string]string{}
		for _, r := range rules {
			m[r.Principal] = r.Role
		}
		return m
	}
	from, to := roles(applied), roles(next)
	var changes []Change
	add := func(p string) {
		f, t := from[p], to[p]
		if f == t {
			return
		}
		if f == "" {
			f = "none"
		}
		if t == "" {
			t = "none"
		}
		changes = append(changes, Change{Field: "access[" + p + "]", From: f, To: t})
	}
	for _, r := range next {
		add(r.Principal)
	}
	for _, r := range applied {
		if _, ok := to[r.Principal]; !ok {
			add(r.Principal)
		}
	}
	return changes
}
