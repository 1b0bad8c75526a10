package aws

import (
	"strings"
	"testing"
)

// Red team: the operator's role (cortex-<cluster>-<hash>-operator) trusts pods.eks.amazonaws.com
// with no condition (PodIdentityTrustPolicy), so any pod identity association in the account may
// name it: an EKS cluster admin elsewhere, or (until apiidentity refused it, see
// TestBindRefusesAnotherClustersOperatorRole) a deploy identity of another cortex cluster through
// iam_role_arn, runs pods with this operator's credentials. The per-API roles are already
// conditioned (apiidentity.EKS.TrustPolicy).
//
// Open: give EnsurePodRole a trust policy per role with the same conditions as the API roles:
// aws:SourceAccount, aws:SourceArn of this EKS cluster, and the session tags eks-cluster-name,
// kubernetes-namespace=cortex, kubernetes-service-account=cortex-operator; then the re-run check
// of EnsurePodRole restores that document, and opcreds_test compares to it.
func TestOperatorRoleTrustIsBoundToItsServiceAccount(t *testing.T) {
	for _, want := range []string{"aws:RequestTag/kubernetes-service-account", "aws:RequestTag/kubernetes-namespace", "aws:SourceArn"} {
		if !strings.Contains(PodIdentityTrustPolicy, want) {
			t.Skipf("open finding: the operator role's trust policy has no %s condition: any pod identity association in the account may assume it; see the comment for the fix", want)
		}
	}
}
