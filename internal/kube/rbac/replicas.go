package rbac

import (
	"fmt"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/apispec"
)

// RBAC cannot bound a number: deployRules let a deploy identity write `deployments/scale`, and so
// any replica count (100000 replicas of an API fill every node the autoscaler may add, a cost and
// capacity denial of service for every other API). The replicas policy, a
// ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1, Kubernetes >= 1.30),
// makes the API server itself refuse, in the APIs' namespace, a Deployment or a Deployment scale
// with more than apispec.MaxReplicas replicas, the bound `cortex deploy` enforces:
//
//   - for every user, the operator's ServiceAccount included (its writes never exceed the bound:
//     apispec refuses more, so there is nothing to exempt) and admin identities (whose Kubernetes
//     `admin` role could otherwise raise a Deployment past it from kubectl);
//   - on CREATE and UPDATE of deployments (server-side apply and patch are UPDATE, or CREATE) and
//     UPDATE of deployments/scale (kubectl scale; patch is UPDATE);
//   - an UPDATE that does not raise the count passes, so that a Deployment that already runs more
//     (made before the policy) can still be lowered, labelled, restarted or garbage collected;
//   - failurePolicy Fail: the policy runs inside the API server (no webhook to be down); it fails
//     only on a broken policy or an expression error, and then the write is refused, not let
//     through.
//
// The objects are cluster-scoped: their name carries the namespace (one pair per install) and the
// NamespaceLabel says which namespace they serve, so that an uninstall removes only its own.
const (
	// NamespaceLabel on a cluster-scoped cortex object names the namespace it serves.
	NamespaceLabel = "cortex.dev/namespace"
	// replicasPolicyPrefix + namespace names the policy and its binding.
	replicasPolicyPrefix = "cortex-max-replicas-"
)

// ReplicasPolicyName is the name of the replicas policy and of its binding for namespace.
func ReplicasPolicyName(namespace string) string { return replicasPolicyPrefix + namespace }

// replicasMessage is the refusal's text: what was asked, the bound, and the way that works.
var replicasMessage = "'spec.replicas ' + string(variables.replicas) + ' is more than cortex allows an API (" + strconv.Itoa(apispec.MaxReplicas) +
	" replicas): set replicas in the API spec (at most " + strconv.Itoa(apispec.MaxReplicas) + ") and run `cortex deploy`'"

// ReplicasPolicy returns the ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding that
// bound the replicas of the Deployments of namespace (where the APIs run) to apispec.MaxReplicas.
func ReplicasPolicy(namespace string) (*admac.ValidatingAdmissionPolicyApplyConfiguration, *admac.ValidatingAdmissionPolicyBindingApplyConfiguration) {
	name := ReplicasPolicyName(namespace)
	labels := map[string]string{ManagedByLabel: "cortex", NamespaceLabel: namespace}
	fail := admissionregistrationv1.Fail
	// The Scale of deployments/scale (autoscaling/v1) omits replicas when they are 0, hence has().
	replicas := func(obj string) string {
		return fmt.Sprintf("%[1]s != null && has(%[1]s.spec) && has(%[1]s.spec.replicas) ? %[1]s.spec.replicas : 0", obj)
	}
	policy := admac.ValidatingAdmissionPolicy(name).WithLabels(labels).WithSpec(admac.ValidatingAdmissionPolicySpec().
		WithFailurePolicy(fail).
		WithMatchConstraints(admac.MatchResources().WithResourceRules(
			admac.NamedRuleWithOperations().WithAPIGroups("apps").WithAPIVersions("*").WithResources("deployments").
				WithOperations(admissionregistrationv1.Create, admissionregistrationv1.Update),
			admac.NamedRuleWithOperations().WithAPIGroups("apps").WithAPIVersions("*").WithResources("deployments/scale").
				WithOperations(admissionregistrationv1.Update),
		)).
		WithVariables(
			admac.Variable().WithName("replicas").WithExpression(replicas("object")),
			admac.Variable().WithName("oldReplicas").WithExpression(replicas("oldObject")),
		).
		WithValidations(admac.Validation().
			WithExpression(fmt.Sprintf("variables.replicas <= %d || (request.operation == 'UPDATE' && variables.replicas <= variables.oldReplicas)", apispec.MaxReplicas)).
			WithMessageExpression(replicasMessage).
			WithReason(metav1.StatusReasonInvalid)))
	binding := admac.ValidatingAdmissionPolicyBinding(name).WithLabels(labels).WithSpec(admac.ValidatingAdmissionPolicyBindingSpec().
		WithPolicyName(name).
		WithValidationActions(admissionregistrationv1.Deny).
		// Every namespace carries its name in this label (the API server sets it).
		WithMatchResources(admac.MatchResources().WithNamespaceSelector(metaac.LabelSelector().
			WithMatchLabels(map[string]string{"kubernetes.io/metadata.name": namespace}))))
	return policy, binding
}
