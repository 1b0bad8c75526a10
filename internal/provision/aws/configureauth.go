package aws

import (
	"context"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// configureAuth makes the operator's --auth-mode/--account-role cluster.yaml's auth_mode and
// account_role (cluster configure) and waits for its rollout: the operator reads its mode at
// start, so the change holds once the new pods are available. Nothing installed: the next up
// installs the operator with them.
func (u *upper) configureAuth(ctx context.Context) error {
	p := u.p
	st := p.snapshot()
	if st.Kubernetes == nil {
		return nil
	}
	c, err := p.kubeClient(ctx, st.EKSCluster, st.Partition)
	if err != nil {
		return err
	}
	changed, err := install.SetAuth(ctx, c, st.Kubernetes.Namespace, install.Auth{Mode: u.cfg.AuthMode, AccountRole: u.cfg.AccountRole})
	if err != nil || !changed {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, p.opts.WaitTimeout)
	defer cancel()
	p.emit(Event{Step: "configure", Phase: PhaseWaiting, Detail: "the operator's rollout with the new auth_mode"})
	if err := install.WaitAvailable(waitCtx, c, st.Kubernetes.Namespace, p.opts.PollInterval); err != nil {
		return err
	}
	a := u.cfg.Auth()
	detail := "operator: auth mode " + a.Mode
	if a.AccountRole != "" {
		detail += fmt.Sprintf(" (every identity of the account: %s)", a.AccountRole)
	}
	p.emit(Event{Step: "configure", Phase: PhaseDone, Detail: detail})
	return nil
}
