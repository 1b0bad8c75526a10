package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// api_iam on a running cluster (cluster configure). Two places hold the allowlist: the operator's
// arguments (what it checks an API spec against) and its role's inline policy (what IAM lets it
// attach and pass). Both follow cluster.yaml, in the order that never allows more than either
// list: an ARN removed leaves the operator first, then the policy; an ARN added enters the policy
// first, then the operator.

// removedARNs are the ARNs of old that next no longer lists.
func removedARNs(old, next apiidentity.Allowed) (policies, roles []string) {
	for _, a := range old.PolicyARNs {
		if !slices.Contains(next.PolicyARNs, a) {
			policies = append(policies, a)
		}
	}
	for _, a := range old.RoleARNs {
		if !slices.Contains(next.RoleARNs, a) {
			roles = append(roles, a)
		}
	}
	return policies, roles
}

// checkAPIIAMInUse refuses to drop from api_iam an ARN that a deployed API uses: an allowed role
// its ServiceAccount is associated with, or an allowed policy attached to the role cortex made for
// it. Taking the ARN away would leave the API running with what the cluster's admin no longer
// allows (its role is not changed until it is deployed again), so the admin removes or redeploys
// those APIs first. What the APIs use is read from EKS and IAM, not from the operator: the
// associations and attached policies are what actually grant it.
func (p *Provisioner) checkAPIIAMInUse(ctx context.Context, st *State, next apiidentity.Allowed) error {
	return p.apiIAMInUse(ctx, st, next, "nothing was changed")
}

// apiIAMInUse is checkAPIIAMInUse; done says what was changed when it refuses.
func (p *Provisioner) apiIAMInUse(ctx context.Context, st *State, next apiidentity.Allowed, done string) error {
	if st == nil || st.Config == nil || st.EKSCluster == "" {
		return nil
	}
	policies, roles := removedARNs(st.Config.APIIAM, next)
	if len(policies) == 0 && len(roles) == 0 {
		return nil
	}
	apis, err := p.apiRoles(ctx, st.EKSCluster, apisNamespace(st))
	if err != nil {
		return fmt.Errorf("api_iam: cannot tell whether a deployed API uses what is removed (%s): %w", done, err)
	}
	users := map[string][]string{} // ARN -> the APIs' ServiceAccounts
	for _, a := range apis {
		who := a.Namespace + "/" + a.ServiceAccount
		if slices.Contains(roles, a.RoleARN) {
			users[a.RoleARN] = append(users[a.RoleARN], who)
		}
		if len(policies) == 0 || !strings.Contains(a.RoleARN, ":role/cortex-apis/") {
			continue
		}
		// A role cortex made for the API (role/cortex-apis/<prefix>/<name>): its attached policies.
		attached, err := p.attachedRolePolicies(ctx, a.RoleARN[strings.LastIndex(a.RoleARN, "/")+1:])
		if err != nil {
			return fmt.Errorf("api_iam: cannot tell whether API %s uses what is removed (%s): %w", who, done, err)
		}
		for _, pol := range policies {
			if attached[pol] {
				users[pol] = append(users[pol], who)
			}
		}
	}
	if len(users) == 0 {
		return nil
	}
	var errs []error
	arns := make([]string, 0, len(users))
	for a := range users {
		arns = append(arns, a)
	}
	sort.Strings(arns)
	for _, a := range arns {
		errs = append(errs, fmt.Errorf("api_iam: %s is still used by the API(s) with ServiceAccount %s: delete them, or deploy them without it, then run configure again", a, strings.Join(users[a], ", ")))
	}
	return fmt.Errorf("%s:\n%w", done, errors.Join(errs...))
}

// configureAPIIAM makes the operator's arguments and its role's policy list next (u.cfg.APIIAM),
// and waits for the operator's rollout.
func (u *upper) configureAPIIAM(ctx context.Context, old apiidentity.Allowed) error {
	p, next := u.p, u.cfg.APIIAM
	// Recorded before anything widens: if a step fails, the state holds every ARN that may now be
	// allowed somewhere (the role's policy takes an addition first), so that a later configure to
	// any list checks and removes them; without it, going back to the old list saw no change and
	// left the addition in the role's policy.
	if pol, roles := removedARNs(next, old); len(pol)+len(roles) > 0 {
		if err := p.checkpoint(ctx, func(s *State) {
			c := *s.Config
			c.APIIAM = unionAllowed(s.Config.APIIAM, next)
			s.Config, s.APIIAMPending = &c, true
		}); err != nil {
			return err
		}
	}
	st := p.snapshot()
	operator := func() error {
		if st.Kubernetes == nil {
			return nil // nothing installed: the next up installs the operator with next
		}
		c, err := p.kubeClient(ctx, st.EKSCluster, st.Partition)
		if err != nil {
			return err
		}
		changed, err := install.SetAPIIAM(ctx, c, st.Kubernetes.Namespace, next)
		if err != nil || !changed {
			return err
		}
		waitCtx, cancel := context.WithTimeout(ctx, p.opts.WaitTimeout)
		defer cancel()
		p.emit(Event{Step: "configure", Phase: PhaseWaiting, Detail: "the operator's rollout with the new api_iam"})
		if err := install.WaitAvailable(waitCtx, c, st.Kubernetes.Namespace, p.opts.PollInterval); err != nil {
			return err
		}
		p.emit(Event{Step: "configure", Phase: PhaseDone, Detail: fmt.Sprintf("operator: %d allowed policies, %d allowed roles", len(next.PolicyARNs), len(next.RoleARNs))})
		return nil
	}
	role := func() error {
		// With cluster credentials the operator has no role of its own: its key's policy is the
		// admin's (cortex cluster policy --type operator prints it).
		if st.OperatorAuth == OperatorAuthSecret {
			return nil
		}
		detail, err := u.operatorRole(ctx)
		if err == nil {
			p.emit(Event{Step: "configure", Phase: PhaseDone, Detail: "operator role: " + detail})
		}
		return err
	}
	first, second := role, operator
	if pol, roles := removedARNs(old, next); len(pol)+len(roles) > 0 {
		// The in-use check ran before the operator changed, and the old operator served (and bound
		// APIs) until its replacement rolled out: an API deployed in between may have what is
		// removed. Now that no operator allows it, look again before the role's policy drops it.
		first, second = func() error {
			if err := operator(); err != nil {
				return err
			}
			return p.apiIAMInUse(ctx, st, next, "an API was deployed while the operator rolled out; the operator no longer allows what api_iam drops, its role's policy still does")
		}, role
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// unionAllowed is a's ARNs, then b's that a lacks.
func unionAllowed(a, b apiidentity.Allowed) apiidentity.Allowed {
	u := apiidentity.Allowed{PolicyARNs: slices.Clone(a.PolicyARNs), RoleARNs: slices.Clone(a.RoleARNs)}
	pol, roles := removedARNs(b, a)
	u.PolicyARNs = append(u.PolicyARNs, pol...)
	u.RoleARNs = append(u.RoleARNs, roles...)
	return u
}
