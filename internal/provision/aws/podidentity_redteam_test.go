package aws

import (
	"encoding/json"
	"testing"
)

// Red team: the operator's role (cortex-<cluster>-<hash>-operator) trusted pods.eks.amazonaws.com
// with no condition, so any pod identity association in the account could name it: an EKS
// cluster admin elsewhere, or a deploy identity of another cortex cluster through iam_role_arn
// (which apiidentity now also refuses: TestBindRefusesAnotherClustersOperatorRole) ran pods with
// this operator's credentials. Its trust policy now pins EKS Pod Identity's session tags to the
// operator's cluster, namespace and ServiceAccount, as the per-API roles' does. (moto does not
// evaluate trust conditions, so the document is what can be checked; TestOperatorKeepsWorking...
// checks that up writes it and puts it back.)
func TestOperatorRoleTrustIsBoundToItsServiceAccount(t *testing.T) {
	var doc struct {
		Statement []struct {
			Principal map[string]any
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(PodIdentityTrustPolicy("aws", "123456789012", "us-west-2", "prod", "cortex", "cortex-operator")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 {
		t.Fatalf("%d statements", len(doc.Statement))
	}
	st := doc.Statement[0]
	for k, want := range map[string]string{
		"aws:RequestTag/kubernetes-service-account": "cortex-operator",
		"aws:RequestTag/kubernetes-namespace":       "cortex",
		"aws:RequestTag/eks-cluster-name":           "prod",
		"aws:SourceAccount":                         "123456789012",
	} {
		if got := st.Condition["StringEquals"][k]; got != want {
			t.Errorf("condition %s = %q, want %q: any pod identity association in the account may assume the operator's role", k, got, want)
		}
	}
	if got := st.Condition["ArnEquals"]["aws:SourceArn"]; got != "arn:aws:eks:us-west-2:123456789012:cluster/prod" {
		t.Errorf("aws:SourceArn = %q", got)
	}
}
