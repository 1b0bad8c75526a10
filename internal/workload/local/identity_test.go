package local

import (
	"context"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// The local provider has no per-API identities: a spec that asks for one is refused with the
// field, and nothing runs.
func TestRefusesPerAPIIdentities(t *testing.T) {
	b := newBackend(t)
	dir := t.TempDir()
	for field, mut := range map[string]func(*apispec.Spec){
		"iam_role_arn":    func(s *apispec.Spec) { s.IAMRoleARN = "arn:aws:iam::123456789012:role/r" },
		"iam_policy_arns": func(s *apispec.Spec) { s.IAMPolicyARNs = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"} },
	} {
		s := apispec.Spec{Name: "who", Kind: apispec.KindRealtime, ProjectDir: dir,
			Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{"true"}}}
		mut(&s)
		err := b.Apply(context.Background(), workload.Deployment{Spec: s})
		if err == nil || !strings.Contains(err.Error(), field+": per-API IAM identities need a Kubernetes cluster on EKS") {
			t.Errorf("%s: %v", field, err)
		}
		if _, ok := b.Status("who"); ok {
			t.Errorf("%s: the API exists", field)
		}
	}
}
