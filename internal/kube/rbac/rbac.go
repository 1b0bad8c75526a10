// Package rbac is how cortex roles become Kubernetes RBAC: the groups the operator's TokenReview
// webhook puts an IAM identity in, and the Roles and RoleBindings (in the namespace where the APIs
// run) that give those groups their verbs, and the admission policy that bounds what RBAC cannot
// (ReplicasPolicy: the replica count). The install applies Objects and ReplicasPolicy; the webhook
// calls Groups.
package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	rbacac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// The Kubernetes groups of the cortex roles. Groups are cumulative, like the roles: a deploy
// identity is in cortex:read and cortex:deploy, so each Role below holds only what its role adds.
const (
	GroupRead   = "cortex:read"
	GroupDeploy = "cortex:deploy"
	GroupAdmin  = "cortex:admin"
)

// Groups returns the groups of role (none for RoleNone). The API server adds system:authenticated.
func Groups(role access.Role) []string {
	var g []string
	for _, r := range []struct {
		role  access.Role
		group string
	}{{access.RoleRead, GroupRead}, {access.RoleDeploy, GroupDeploy}, {access.RoleAdmin, GroupAdmin}} {
		if role.Allows(r.role) {
			g = append(g, r.group)
		}
	}
	return g
}

// ManagedByLabel marks the objects cortex owns (the install removes exactly these).
const ManagedByLabel = "app.kubernetes.io/managed-by"

// FieldManager is the server-side apply field manager of these objects.
const FieldManager = "cortex"

// Rules of each role in the APIs' namespace. Least privilege, and why:
//
//   - read sees what a user needs to debug an API (its Deployment and ReplicaSets, pods and their
//     logs, Services, EndpointSlices, events), never Secrets or ConfigMaps (the operator's state
//     and TLS material may live there).
//   - deploy adds only what cannot author a pod template or a label: scale a Deployment (the
//     `deployments/scale` subresource holds the replica count and nothing else; ReplicasPolicy
//     bounds it to apispec.MaxReplicas, as `cortex deploy` does) and delete a pod
//     to restart one replica (its ReplicaSet makes it again from the operator's template). It may
//     not create, update, patch or delete Deployments, ReplicaSets or pods: whoever writes a pod
//     template chooses its labels (a pod labelled cortex.dev/api=<another API> joins that API's
//     Service and gets a share of its callers' traffic, silently), its ServiceAccount and Secrets
//     (another API's identity), and, where Pod Security is not enforced, a root hostPath pod.
//     Writing an API is `cortex deploy`: the operator authorizes it by the same role and builds
//     the locked-down objects itself. Not Services, Secrets, ConfigMaps or RBAC either.
//   - admin is Kubernetes' own namespace `admin` ClusterRole, bound in this namespace only: an
//     admin can grant itself anything through the operator anyway.
var (
	readRules = []*rbacac.PolicyRuleApplyConfiguration{
		rule("apps", []string{"deployments", "replicasets"}, "get", "list", "watch"),
		rule("", []string{"pods", "pods/log", "services", "events"}, "get", "list", "watch"),
		rule("discovery.k8s.io", []string{"endpointslices"}, "get", "list", "watch"),
	}
	deployRules = []*rbacac.PolicyRuleApplyConfiguration{
		rule("apps", []string{"deployments/scale"}, "get", "update", "patch"),
		rule("", []string{"pods"}, "delete"),
	}
)

func rule(group string, resources []string, verbs ...string) *rbacac.PolicyRuleApplyConfiguration {
	return rbacac.PolicyRule().WithAPIGroups(group).WithResources(resources...).WithVerbs(verbs...)
}

// Names of the objects.
const (
	RoleRead    = "cortex-read"
	RoleDeploy  = "cortex-deploy"
	BindingRead = "cortex-read"
	// BindingDeploy and BindingAdmin bind cortex:deploy and cortex:admin.
	BindingDeploy = "cortex-deploy"
	BindingAdmin  = "cortex-admin"
)

// Objects returns the Roles and RoleBindings of the cortex roles in namespace (where the APIs run).
func Objects(namespace string) ([]*rbacac.RoleApplyConfiguration, []*rbacac.RoleBindingApplyConfiguration) {
	labels := map[string]string{ManagedByLabel: "cortex"}
	roles := []*rbacac.RoleApplyConfiguration{
		rbacac.Role(RoleRead, namespace).WithLabels(labels).WithRules(readRules...),
		rbacac.Role(RoleDeploy, namespace).WithLabels(labels).WithRules(deployRules...),
	}
	bind := func(name, group, kind, role string) *rbacac.RoleBindingApplyConfiguration {
		return rbacac.RoleBinding(name, namespace).WithLabels(labels).
			WithSubjects(rbacac.Subject().WithKind(rbacv1.GroupKind).WithAPIGroup(rbacv1.GroupName).WithName(group)).
			WithRoleRef(rbacac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind(kind).WithName(role))
	}
	bindings := []*rbacac.RoleBindingApplyConfiguration{
		bind(BindingRead, GroupRead, "Role", RoleRead),
		bind(BindingDeploy, GroupDeploy, "Role", RoleDeploy),
		bind(BindingAdmin, GroupAdmin, "ClusterRole", "admin"),
	}
	return roles, bindings
}

// Apply writes Objects(namespace) and ReplicasPolicy(namespace) with server-side apply (the policy
// is cluster-scoped: c needs the installer's rights).
func Apply(ctx context.Context, c kubernetes.Interface, namespace string) error {
	roles, bindings := Objects(namespace)
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	policy, binding := ReplicasPolicy(namespace)
	if _, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Apply(ctx, policy, opts); err != nil {
		return fmt.Errorf("apply ValidatingAdmissionPolicy %s: %w", *policy.Name, err)
	}
	if _, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Apply(ctx, binding, opts); err != nil {
		return fmt.Errorf("apply ValidatingAdmissionPolicyBinding %s: %w", *binding.Name, err)
	}
	for _, r := range roles {
		if _, err := c.RbacV1().Roles(namespace).Apply(ctx, r, opts); err != nil {
			return fmt.Errorf("apply Role %s/%s: %w", namespace, *r.Name, err)
		}
	}
	for _, b := range bindings {
		if _, err := c.RbacV1().RoleBindings(namespace).Apply(ctx, b, opts); err != nil {
			return fmt.Errorf("apply RoleBinding %s/%s: %w", namespace, *b.Name, err)
		}
	}
	return nil
}
