package eksfake_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// With KubeEndpoint/KubeCA, DescribeCluster answers them (the rest is moto's); with
// NodeGroupASGs, a node group's Auto Scaling group exists in moto once CreateNodegroup answered,
// with an instance in service in the node group's subnets, and goes with DeleteNodegroup.
func TestKubeEndpointAndNodeGroupASGs(t *testing.T) {
	motoserver.SkipIfShort(t)
	moto := motoserver.Start(t, motoserver.Options{})
	const ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" // base64 of a PEM, as EKS sends it
	fake := eksfake.Start(t, eksfake.Options{Upstream: moto.URL, KubeEndpoint: "https://10.213.0.1:6443", KubeCA: ca, NodeGroupASGs: true})
	ctx, c := context.Background(), client(fake.URL)
	cfg := aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL), Credentials: c.Options().Credentials}
	ec, asg := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-west-2a")})
	if err != nil {
		t.Fatal(err)
	}
	subnet := aws.ToString(sn.Subnet.SubnetId)
	if _, err := c.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("c"), RoleArn: aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{subnet}}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Cluster.Endpoint) != "https://10.213.0.1:6443" || d.Cluster.CertificateAuthority == nil || aws.ToString(d.Cluster.CertificateAuthority.Data) != ca || aws.ToString(d.Cluster.Arn) == "" {
		t.Fatalf("DescribeCluster: endpoint %q, CA %+v, arn %q", aws.ToString(d.Cluster.Endpoint), d.Cluster.CertificateAuthority, aws.ToString(d.Cluster.Arn))
	}
	ng, err := c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String("c"), NodegroupName: aws.String("ng"),
		NodeRole: aws.String("arn:aws:iam::123456789012:role/node"), Subnets: []string{subnet}})
	if err != nil {
		t.Fatal(err)
	}
	if ng.Nodegroup.Resources == nil || len(ng.Nodegroup.Resources.AutoScalingGroups) != 1 {
		t.Fatalf("node group resources: %+v", ng.Nodegroup.Resources)
	}
	name := aws.ToString(ng.Nodegroup.Resources.AutoScalingGroups[0].Name)
	groups, err := asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(groups.AutoScalingGroups) != 1 {
		t.Fatalf("Auto Scaling group %s: %v %+v", name, err, groups)
	}
	g := groups.AutoScalingGroups[0]
	if len(g.Instances) != 1 || g.Instances[0].LifecycleState != "InService" || aws.ToString(g.VPCZoneIdentifier) != subnet {
		t.Fatalf("Auto Scaling group %s: instances %+v, subnets %q", name, g.Instances, aws.ToString(g.VPCZoneIdentifier))
	}
	if _, err := c.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("c"), NodegroupName: aws.String("ng")}); err != nil {
		t.Fatal(err)
	}
	groups, err = asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(groups.AutoScalingGroups) != 0 {
		t.Fatalf("Auto Scaling group after DeleteNodegroup: %v %+v", err, groups.AutoScalingGroups)
	}
	lts, err := ec.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil || len(lts.LaunchTemplates) != 0 {
		t.Fatalf("launch templates after DeleteNodegroup: %v %d", err, len(lts.LaunchTemplates))
	}
}
