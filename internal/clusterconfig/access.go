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
// by canonical principal, one Change per principal whose role differs ("none": no rule), for
// `cluster configure` to show. Rules made outside cluster.yaml are in neither list.
func AccessChanges(applied, next []AccessRule) []Change {
	key := func(p string) string {
		if c, err := access.NormalizePrincipal(p); err == nil {
			return c
		}
		return p
	}
	roles := func(rules []AccessRule) map[string]string {
		m := map[string]string{}
		for _, r := range rules {
			m[key(r.Principal)] = r.Role
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
		add(key(r.Principal))
	}
	for _, r := range applied {
		if _, ok := to[key(r.Principal)]; !ok {
			add(key(r.Principal))
		}
	}
	return changes
}
