package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
)

// `down` removes the APIs' pod identity associations and the roles cortex made for them, found by
// tag without any operator; a role the user named for an API stays. moto serves IAM and EKS,
// the fake the associations (moto answers them with 404).
func TestDownRemovesAPIIdentities(t *testing.T) {
	u := moto(t)
	t.Parallel()
	fake := eksfake.Start(t, eksfake.Options{Upstream: u, CreatorARN: "arn:aws:iam::123456789012:user/creator"})
	dir := t.TempDir()
	p := newTestProvisioner(t, fake.URL, nil, dir)
	ctx := context.Background()
	cfg := mustConfig(t, `
cluster_name: ids-one
region: us-west-2
availability_zones: [us-west-2a, us-west-2b]
node_groups: [{name: cpu, instance_type: t3.medium, min_instances: 1, max_instances: 1}]
`)
	if _, err := p.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// What the operator does for three APIs (two with iam_policy_arns, one with iam_role_arn).
	prefix := clusterconfig.RolePrefix("ids-one", "us-west-2")
	user, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ids-one-team-role"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	must(t, err)
	b, err := apiidentity.New(apiidentity.Config{IAM: p.iam, EKS: p.eks, Cluster: "ids-one", Namespace: "cortex-apis",
		Partition: "aws", Region: "us-west-2", AccountID: "123456789012", RolePrefix: prefix,
		Allowed: apiidentity.Allowed{RoleARNs: []string{aws.ToString(user.Role.Arn)},
			PolicyARNs: []string{"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"}}})
	must(t, err)
	for _, r := range []apiidentity.Request{
		{API: "a", ServiceAccount: "a", PolicyARNs: []string{"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}},
		{API: "b", ServiceAccount: "b", PolicyARNs: []string{"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"}},
		{API: "c", ServiceAccount: "c", RoleARN: aws.ToString(user.Role.Arn)},
	} {
		if _, err := b.Bind(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	l, err := p.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("ids-one"), Namespace: aws.String("cortex-apis")})
	must(t, err)
	if len(l.Associations) != 3 {
		t.Fatalf("%d associations before down", len(l.Associations))
	}

	rep, err := newTestProvisioner(t, fake.URL, nil, dir).Down(ctx, "ids-one", DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	var assocs, roles int
	for _, d := range rep.Deleted {
		switch {
		case strings.HasPrefix(d, "pod identity association cortex-apis/"):
			assocs++
		case strings.HasPrefix(d, "API role "+prefix+"-api-"):
			roles++
		}
	}
	if assocs != 3 || roles != 2 {
		t.Errorf("down deleted %d associations and %d API roles, want 3 and 2: %v", assocs, roles, rep.Deleted)
	}
	// 0 tagged roles of the cluster are left; the user's role stays.
	left := 0
	pg := iam.NewListRolesPaginator(p.iam, &iam.ListRolesInput{})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		must(t, err)
		for _, r := range page.Roles {
			tags, err := p.iam.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: r.RoleName})
			var gone *iamtypes.NoSuchEntityException
			if errors.As(err, &gone) {
				continue // another test of this package (same moto) deleted it since the list
			}
			must(t, err)
			for _, tg := range tags.Tags {
				if aws.ToString(tg.Key) == TagClusterName && aws.ToString(tg.Value) == "ids-one" {
					left++
				}
			}
		}
	}
	if left != 0 {
		t.Errorf("%d roles tagged with the cluster left", left)
	}
	if _, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ids-one-team-role")}); err != nil {
		t.Errorf("the user's role: %v", err)
	}
}
