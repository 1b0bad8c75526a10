package aws

import (
	"context"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// The operator's AWS credentials (docs/aws.md, "The operator's AWS credentials"). Two modes:
//
//   - cluster credentials (cluster up --cluster-aws-key/--cluster-aws-secret, CLUSTER_AWS_*):
//     Options.ClusterCredentials; they go into the Secret install.AWSSecretName and nowhere else
//     (not into the state, the bucket or a log).
//   - otherwise a role of its own, cortex-<cluster>-<hash>-operator, that only EKS Pod Identity may
//     assume, with the operator policy inline, associated with the operator's ServiceAccount.
//
// Either way the spin-up credentials are used by up/down only and are never written into the
// cluster: once `up` is done they can be revoked.

// Operator credential modes, as the state records them.
const (
	OperatorAuthPodIdentity = "pod-identity"
	OperatorAuthSecret      = "secret"
)

// Step names of the operator's credentials.
const (
	stepPodIdentityAgent = "pod-identity-agent"
	stepOperatorRole     = "operator-role"
)

// operatorPolicyName is the name of the operator role's inline policy.
const operatorPolicyName = "cortex-operator"

// The operator's namespace and ServiceAccount, which its role is associated with.
const (
	operatorNamespace      = install.DefaultNamespace
	operatorServiceAccount = install.OperatorName
)

// OperatorRoleName is the operator's role: cortex-<cluster>-<hash>-operator, or -op when that
// would pass IAM's 64 characters (cluster names of 40 characters and more). Both match the
// management policy's role prefix.
func OperatorRoleName(clusterName, region string) string {
	if n := clusterconfig.RoleName(clusterName, region, "operator"); len(n) <= 64 {
		return n
	}
	return clusterconfig.RoleName(clusterName, region, "op")
}

// operatorAuth is the mode this run uses.
func (p *Provisioner) operatorAuth() string {
	if p.opts.ClusterCredentials != nil {
		return OperatorAuthSecret
	}
	return OperatorAuthPodIdentity
}

// OperatorAWS is what the install into EKS gives the operator (install.Options.OperatorAWS): in
// the cluster credentials mode, those credentials for the Secret; otherwise no credentials (its
// role comes from the ServiceAccount's pod identity association).
func (p *Provisioner) OperatorAWS() *install.OperatorAWS {
	a := &install.OperatorAWS{TestEndpoint: p.opts.AWSTestEndpoint} // TESTS ONLY; empty otherwise
	if c := p.opts.ClusterCredentials; c != nil {
		a.Credentials = &install.AWSCredentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	}
	return a
}

// operatorCredentialSteps are the steps after the EKS cluster: the Pod Identity Agent add-on
// (always: per-API roles need it too) and, without cluster credentials, the operator's role and
// its association. An install step that starts the operator depends on both.
func (u *upper) operatorCredentialSteps() []step {
	steps := []step{{name: stepPodIdentityAgent, deps: []string{stepEKSCluster, stepNodeGroups}, run: u.podIdentityAgent}}
	run := u.operatorRole
	if u.p.operatorAuth() == OperatorAuthSecret {
		run = u.noOperatorRole
	}
	return append(steps, step{name: stepOperatorRole, deps: []string{stepEKSCluster}, run: run})
}

// noOperatorRole is the operator-role step with cluster credentials: a role and association left
// from an earlier run without them are removed, so the operator's ServiceAccount cannot assume a
// role nobody means it to have any more.
func (u *upper) noOperatorRole(ctx context.Context) (string, error) {
	p := u.p
	assoc, err := p.DeletePodIdentityAssociation(ctx, u.names.EKSCluster, operatorNamespace, operatorServiceAccount)
	if err != nil {
		return "", err
	}
	name := OperatorRoleName(u.cfg.ClusterName, p.region)
	role, err := p.DeletePodRole(ctx, name)
	if err != nil {
		return "", err
	}
	if err := p.update(ctx, func(s *State) { s.OperatorRoleARN, s.OperatorAssociationID = "", "" }); err != nil {
		return "", err
	}
	if assoc || role {
		return "cluster credentials: removed the operator role " + name + " of an earlier run", nil
	}
	return "none (cluster credentials)", nil
}

func (u *upper) podIdentityAgent(ctx context.Context) (string, error) {
	version, err := u.p.EnsureAddon(ctx, stepPodIdentityAgent, u.names.EKSCluster, PodIdentityAgentAddon, u.tags("addon-pod-identity-agent"))
	if err != nil {
		return "", err
	}
	return PodIdentityAgentAddon + " " + version, u.p.update(ctx, func(s *State) { s.PodIdentityAgent = version })
}

func (u *upper) operatorRole(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	compact, err := operatorPolicy(st.Partition, st.AccountID, u.cfg, p.region)
	if err != nil {
		return "", err
	}
	name := OperatorRoleName(u.cfg.ClusterName, p.region)
	arn, err := p.EnsurePodRole(ctx, PodRole{Name: name, Description: "cortex operator of cluster " + u.cfg.ClusterName + " (EKS Pod Identity)",
		TrustPolicy:      PodIdentityTrustPolicy(st.Partition, st.AccountID, p.region, u.names.EKSCluster, operatorNamespace, operatorServiceAccount),
		InlinePolicyName: operatorPolicyName, InlinePolicy: compact, Tags: u.tags("role-operator")})
	if err != nil {
		return "", err
	}
	if err := p.update(ctx, func(s *State) { s.OperatorRoleARN = arn }); err != nil {
		return "", err
	}
	id, err := p.EnsurePodIdentityAssociation(ctx, u.names.EKSCluster, operatorNamespace, operatorServiceAccount, arn, u.tags("pod-identity-operator"))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s for %s/%s (association %s)", name, operatorNamespace, operatorServiceAccount, id), p.update(ctx, func(s *State) { s.OperatorAssociationID = id })
}

// operatorRole (down) removes the operator's association, then its role, whatever mode the
// cluster was in (a role left from an earlier run goes too).
func (d *downer) operatorRole(ctx context.Context) (string, error) {
	p := d.p
	found, err := p.DeletePodIdentityAssociation(ctx, d.names.EKSCluster, operatorNamespace, operatorServiceAccount)
	if err != nil {
		return "", err
	}
	if found {
		d.deleted("pod identity association " + operatorNamespace + "/" + operatorServiceAccount)
	}
	name := OperatorRoleName(d.cluster, p.region)
	found, err = p.DeletePodRole(ctx, name)
	if err != nil {
		return "", err
	}
	if !found {
		d.notFound("role " + name)
		return "none", nil
	}
	d.deleted("role " + name)
	return name, nil
}
