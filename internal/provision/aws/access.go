package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
)

// cluster.yaml's access on an EKS cluster: each rule is the operator's rule and the identity's EKS
// access entry, made and removed together by kubeaccess.GrantBoth/RevokeBoth (the code of `cortex
// cluster access grant|revoke`). up applies the list; configure applies the difference from what
// cluster.yaml applied before (State.AccessApplied): rules added are granted, rules whose role
// changed are granted the new role, and rules dropped from cluster.yaml are revoked. Grants made
// with `cortex cluster access grant` are never touched; the creator is always admin and cannot be
// listed.

// AccessRules is the operator's side of access with the read a plan needs (client.AccessRules:
// the operator's API, signed in as the identity running up or configure).
type AccessRules interface {
	kubeaccess.Rules
	// List returns the operator's rules by canonical principal.
	List(ctx context.Context) (map[string]access.Role, error)
}

func canonicalPrincipal(p string) string {
	if c, err := access.NormalizePrincipal(p); err == nil {
		return c
	}
	return p
}

// checkAccessCreator refuses a rule of cluster.yaml that names the cluster's creator: the operator
// keeps the creator admin whatever a rule says, so the rule would claim what never happens (and
// configure must never revoke the creator).
func checkAccessCreator(creatorARN string, rules []clusterconfig.AccessRule) error {
	creator, _, _, err := PrincipalARN(creatorARN)
	if err != nil {
		return nil // no creator recorded yet
	}
	var errs []error
	for i, r := range rules {
		if canonicalPrincipal(r.Principal) == canonicalPrincipal(creator) {
			errs = append(errs, fmt.Errorf("access[%d]: %s created the cluster and is always admin; remove it from access", i, r.Principal))
		}
	}
	return errors.Join(errs...)
}

// ApplyAccess makes the cluster's access follow cfg.Access (up, after the install; configure,
// after the other fields). Both sides of each rule are read first, and only a rule that differs is
// granted, so a run with nothing to change writes nothing. It returns what it changed, one line
// each. A failure stops it; running it again converges (what was done is recorded after each
// change).
func (p *Provisioner) ApplyAccess(ctx context.Context, cfg *clusterconfig.Config, rules AccessRules) ([]string, error) {
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.LoadState(ctx, id, cfg.ClusterName)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, &ErrNoCluster{cfg.ClusterName, p.region}
	}
	if st.Status != StatusReady || st.Kubernetes == nil {
		return nil, fmt.Errorf("cluster %s is not ready with cortex installed: run `cortex cluster up` first", cfg.ClusterName)
	}
	if err := checkAccessCreator(st.CreatorARN, cfg.Access); err != nil {
		return nil, err
	}
	p.state = st
	store := &kubeaccess.AccessEntries{EKS: p.eks, Cluster: st.EKSCluster, Namespaces: []string{apisNamespace(st)}}
	if err := store.Check(ctx); err != nil {
		return nil, err
	}
	have, err := rules.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("access: the operator's rules: %w", err)
	}
	grants, err := store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	kube := map[string]access.Role{}
	for _, g := range grants {
		kube[g.Principal] = g.Role
	}

	var done []string
	// By the principal as written: an EKS access entry is the ARN as written (a role with its
	// path), so a rule rewritten with another path (or none) is the old one dropped and a new one
	// added; matched by canonical form, the old path's entry stayed, with the old role.
	want := map[string]bool{}
	for _, r := range cfg.Access {
		want[r.Principal] = true
	}
	// Rules dropped from cluster.yaml go first: access shrinks before it grows.
	for _, r := range p.snapshot().AccessApplied {
		if want[r.Principal] {
			continue
		}
		ruleFound, kubeFound, err := kubeaccess.RevokeBoth(ctx, rules, store, r.Principal)
		if err != nil {
			return done, fmt.Errorf("access: revoke %s (run again to finish): %w", r.Principal, err)
		}
		// What was read before is gone: a rule of cluster.yaml for the same canonical principal
		// is granted again below.
		delete(have, canonicalPrincipal(r.Principal))
		delete(kube, r.Principal)
		if err := p.recordAccess(ctx, r, true); err != nil {
			return done, err
		}
		if ruleFound || kubeFound {
			p.emit(Event{Step: "access", Phase: PhaseDone, Detail: "revoked " + r.Principal})
			done = append(done, "revoked "+r.Principal)
		}
	}
	for _, r := range cfg.Access {
		role, canon := access.Role(r.Role), canonicalPrincipal(r.Principal)
		if have[canon] == role && (!kubeaccess.HasKubeSide(r.Principal) || kube[r.Principal] == role) {
			continue
		}
		// Recorded first: a grant that stops part way is cluster.yaml's to revoke later.
		if err := p.recordAccess(ctx, r, false); err != nil {
			return done, err
		}
		if err := kubeaccess.GrantBoth(ctx, rules, store, r.Principal, role); err != nil {
			return done, fmt.Errorf("access: %s (run again to finish): %w", r.Principal, err)
		}
		p.emit(Event{Step: "access", Phase: PhaseDone, Detail: fmt.Sprintf("granted %s to %s", role, r.Principal)})
		done = append(done, fmt.Sprintf("granted %s to %s", role, r.Principal))
	}
	// Recorded even when both sides already matched: cluster.yaml owns the rule from now on.
	for _, r := range cfg.Access {
		if err := p.recordAccess(ctx, r, false); err != nil {
			return done, err
		}
	}
	return done, nil
}

// recordAccess adds (or, with remove, drops) r in the state's AccessApplied; no write when the
// record already says so.
func (p *Provisioner) recordAccess(ctx context.Context, r clusterconfig.AccessRule, remove bool) error {
	cur := p.snapshot().AccessApplied
	i := slices.IndexFunc(cur, func(x clusterconfig.AccessRule) bool {
		return canonicalPrincipal(x.Principal) == canonicalPrincipal(r.Principal)
	})
	switch {
	case remove && i < 0, !remove && i >= 0 && cur[i] == r:
		return nil
	}
	return p.checkpoint(ctx, func(s *State) {
		s.AccessApplied = slices.DeleteFunc(slices.Clone(s.AccessApplied), func(x clusterconfig.AccessRule) bool {
			return canonicalPrincipal(x.Principal) == canonicalPrincipal(r.Principal)
		})
		if !remove {
			s.AccessApplied = append(s.AccessApplied, r)
		}
	})
}
