package aws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
)

// The EKS cluster is created in API_AND_CONFIG_MAP mode with the creator bootstrapped as cluster
// admin. moto accepts and drops accessConfig, so the fake of the EKS access operations sits in
// front of moto, records what CreateCluster sent and answers DescribeCluster with it.
func TestUpCreatesEKSClusterWithAccessEntries(t *testing.T) {
	u := moto(t)
	t.Parallel()
	const creator = "arn:aws:iam::123456789012:user/creator"
	fake := eksfake.Start(t, eksfake.Options{Upstream: u, CreatorARN: creator})
	p := newTestProvisioner(t, fake.URL, nil, t.TempDir())
	ctx := context.Background()
	cfg := mustConfig(t, `
cluster_name: access-one
region: us-west-2
availability_zones: [us-west-2a, us-west-2b]
node_groups: [{name: cpu, instance_type: t3.medium, min_instances: 1, max_instances: 1}]
`)
	if _, err := p.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var sent *eksfake.AccessConfig
	for _, c := range fake.Created() {
		if c.Name == "access-one" {
			sent = c.AccessConfig
		}
	}
	if sent == nil || sent.AuthenticationMode != eksfake.ModeAPIAndConfigMap || sent.BootstrapClusterCreatorAdminPermissions == nil || !*sent.BootstrapClusterCreatorAdminPermissions {
		t.Fatalf("CreateCluster sent accessConfig %+v, want API_AND_CONFIG_MAP with the creator bootstrapped", sent)
	}
	d, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("access-one")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Cluster.AccessConfig == nil || d.Cluster.AccessConfig.AuthenticationMode != ekstypes.AuthenticationModeApiAndConfigMap {
		t.Fatalf("described accessConfig: %+v", d.Cluster.AccessConfig)
	}
	// The creator is cluster admin by access entry (the seeds' system:masters).
	pols, err := p.eks.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String("access-one"), PrincipalArn: aws.String(creator)})
	if err != nil || len(pols.AssociatedAccessPolicies) != 1 || aws.ToString(pols.AssociatedAccessPolicies[0].PolicyArn) != eksfake.PolicyPrefix+"AmazonEKSClusterAdminPolicy" {
		t.Fatalf("creator's access: %+v %v", pols, err)
	}
	// What moto alone does with it (measured): drops it.
	direct := eks.NewFromConfig(awsConfig(u, nil))
	if d, err := direct.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("access-one")}); err != nil {
		t.Fatal(err)
	} else if d.Cluster.AccessConfig != nil && d.Cluster.AccessConfig.AuthenticationMode != "" {
		t.Logf("moto now keeps accessConfig: %+v", d.Cluster.AccessConfig)
	}
	if _, err := p.Down(ctx, "access-one", DownOptions{}); err != nil {
		t.Fatal(err)
	}
}
