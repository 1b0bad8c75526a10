package aws

import (
	"context"
	"slices"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
)

// TestInfoShowsAccessEntriesAndAPIRoles: info reads the access entries as `cluster access list`
// does (the creator's bootstrap entry, a granted deploy entry) and the pod identity associations
// of the APIs' namespace with their roles, leaving out other namespaces (the operator's own).
func TestInfoShowsAccessEntriesAndAPIRoles(t *testing.T) {
	u := moto(t)
	t.Parallel()
	const creator = "arn:aws:iam::123456789012:user/creator"
	const bob = "arn:aws:iam::123456789012:user/bob"
	fake := eksfake.Start(t, eksfake.Options{Upstream: u, CreatorARN: creator})
	p := newTestProvisioner(t, fake.URL, nil, t.TempDir())
	ctx := context.Background()
	cfg := mustConfig(t, "cluster_name: info-access\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n")
	if _, err := p.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Down(context.Background(), "info-access", DownOptions{}) })
	entries := &kubeaccess.AccessEntries{EKS: p.eks, Cluster: "info-access", Namespaces: []string{"cortex-apis"}}
	must(t, entries.Put(ctx, bob, access.RoleDeploy))
	const irisRole = "arn:aws:iam::123456789012:role/iris-reader"
	_, err := p.EnsurePodIdentityAssociation(ctx, "info-access", "cortex-apis", "iris", irisRole, nil)
	must(t, err)
	_, err = p.EnsurePodIdentityAssociation(ctx, "info-access", "cortex", "operator", "arn:aws:iam::123456789012:role/op", nil)
	must(t, err)

	info, err := p.Info(ctx, "info-access")
	must(t, err)
	if info.AccessEntriesError != "" || info.APIRolesError != "" {
		t.Fatalf("errors: %q, %q", info.AccessEntriesError, info.APIRolesError)
	}
	byPrincipal := map[string]kubeaccess.Grant{}
	for _, g := range info.AccessEntries {
		byPrincipal[g.Principal] = g
	}
	if g, ok := byPrincipal[creator]; !ok || len(g.Policies) != 1 || g.Policies[0].ARN != kubeaccess.ClusterAdminPolicy {
		t.Errorf("creator's entry: %+v (all: %+v)", g, info.AccessEntries)
	}
	if g, ok := byPrincipal[bob]; !ok || g.Role != access.RoleDeploy || !slices.Contains(g.Groups, "cortex:deploy") {
		t.Errorf("bob's entry: %+v (all: %+v)", g, info.AccessEntries)
	}
	if len(info.APIRoles) != 1 || info.APIRoles[0].ServiceAccount != "iris" || info.APIRoles[0].RoleARN != irisRole ||
		info.APIRoles[0].Namespace != "cortex-apis" || info.APIRoles[0].AssociationID == "" {
		t.Errorf("api roles: %+v", info.APIRoles)
	}
}
