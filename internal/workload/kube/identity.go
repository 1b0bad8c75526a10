package kube

import (
	"context"
	"errors"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/workload"
	appsv1 "k8s.io/api/apps/v1"
)

// AnnotationIAMRole on an API's ServiceAccount and pod template is the IAM role its pods assume
// through EKS Pod Identity (absent: none). On the template it also rolls the pods when the role
// changes: EKS's Pod Identity webhook gives a pod its credentials' environment and token only when
// the pod is created with an association in place, and SDKs cache the old role's credentials.
const AnnotationIAMRole = "cortex.dev/iam-role"

// The EKS Pod Identity Agent, a link-local address on every node that hands out the associated
// role's credentials. An API without an identity of its own may not reach it either: no AWS
// credentials at all.
const (
	podIdentityAgentV4 = "169.254.170.23/32"
	podIdentityAgentV6 = "fd00:ec2::23/128"
)

// egressExcept is what an API's NetworkPolicy keeps it from reaching: always the instance
// metadata service (the node's role), and the Pod Identity Agent unless the API has an identity.
func egressExcept(hasIdentity bool) (v4, v6 []string) {
	v4, v6 = []string{instanceMetadataV4}, []string{instanceMetadataV6}
	if !hasIdentity {
		v4, v6 = append(v4, podIdentityAgentV4), append(v6, podIdentityAgentV6)
	}
	return v4, v6
}

// ErrNoIdentities is the error of an API that asks for an AWS identity on a cluster without
// per-API identities (any Kubernetes but EKS with the operator configured for it).
var ErrNoIdentities = errors.New("this cluster gives APIs no AWS identities (per-API IAM roles need EKS, with the operator's kubernetes.eks_pod_identity on)")

var _ workload.SpecChecker = (*Backend)(nil)

// CheckSpec implements workload.SpecChecker: an API that asks for an AWS identity this cluster
// does not give (no binder, or outside the cluster admin's allowlist) is refused before anything
// changes (HTTP 400).
func (b *Backend) CheckSpec(spec apispec.Spec) error {
	if !spec.HasIAMIdentity() {
		return nil
	}
	if b.opts.Identities == nil {
		field := "iam_policy_arns"
		if spec.IAMRoleARN != "" {
			field = "iam_role_arn"
		}
		return fmt.Errorf("api %s: %s: %w", spec.Name, field, ErrNoIdentities)
	}
	return b.opts.Identities.Check(apiidentity.Request{API: spec.Name, ServiceAccount: spec.Name,
		RoleARN: spec.IAMRoleARN, PolicyARNs: spec.IAMPolicyARNs})
}

// identity binds the API's ServiceAccount to its role before any pod of the new version exists
// (fail closed: on an error nothing is applied), or unbinds an identity the API no longer asks
// for. It returns the role's ARN ("" without an identity).
func (b *Backend) identity(ctx context.Context, spec apispec.Spec, existing *appsv1.Deployment) (string, error) {
	ids := b.opts.Identities
	if !spec.HasIAMIdentity() {
		// Unbind only what may be bound: a new API (a leftover of an earlier one of the same name)
		// or one whose pods had a role. An unchanged API costs AWS nothing (operator restarts).
		if ids != nil && (existing == nil || existing.Spec.Template.Annotations[AnnotationIAMRole] != "") {
			if err := ids.Unbind(ctx, spec.Name, spec.Name); err != nil {
				return "", fmt.Errorf("api %s: remove its AWS identity: %w", spec.Name, err)
			}
		}
		return "", nil
	}
	if ids == nil {
		field := "iam_policy_arns"
		if spec.IAMRoleARN != "" {
			field = "iam_role_arn"
		}
		return "", fmt.Errorf("api %s: %s: %w", spec.Name, field, ErrNoIdentities)
	}
	role, err := ids.Bind(ctx, apiidentity.Request{API: spec.Name, ServiceAccount: spec.Name,
		RoleARN: spec.IAMRoleARN, PolicyARNs: spec.IAMPolicyARNs})
	if err != nil {
		return "", fmt.Errorf("api %s: AWS identity (nothing was deployed): %w", spec.Name, err)
	}
	return role, nil
}

// withIdentity records the role on the ServiceAccount and the pod template.
func (o *objects) withIdentity(role string) {
	if role == "" {
		return
	}
	a := map[string]string{AnnotationIAMRole: role}
	o.serviceAccount.WithAnnotations(a)
	o.deployment.Spec.Template.WithAnnotations(a)
}
