package eksfake_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
)

func TestAddonsRoundTrip(t *testing.T) {
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster("c1", eksfake.ModeAPIAndConfigMap)
	c := client(fake.URL)
	ctx := context.Background()
	const agent = "eks-pod-identity-agent"
	out, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(agent), Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Addon.AddonName) != agent || out.Addon.Status != ekstypes.AddonStatusCreating || aws.ToString(out.Addon.AddonVersion) == "" || out.Addon.Tags["k"] != "v" {
		t.Fatalf("created %+v", out.Addon)
	}
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(agent)}); code(err) != "ResourceInUseException" {
		t.Errorf("second create: %v", err)
	}
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String("no-such-addon")}); code(err) != "InvalidParameterException" {
		t.Errorf("unknown add-on: %v", err)
	}
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("nope"), AddonName: aws.String(agent)}); code(err) != "ResourceNotFoundException" {
		t.Errorf("unknown cluster: %v", err)
	}
	d, err := c.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(agent)})
	if err != nil || d.Addon.Status != ekstypes.AddonStatusActive {
		t.Fatalf("describe: %+v %v", d, err)
	}
	l, err := c.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: aws.String("c1")})
	if err != nil || len(l.Addons) != 1 || l.Addons[0] != agent {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := c.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(agent)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(agent)}); code(err) != "ResourceNotFoundException" {
		t.Errorf("describe after delete: %v", err)
	}
}
