package aws

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cortexlabs-go/cortex/internal/iampolicy"
)

func TestUpPublicThenDown(t *testing.T) {
	u := moto(t)
	t.Parallel()
	dir := t.TempDir()
	p := newTestProvisioner(t, u, nil, dir)
	ctx := context.Background()
	cfg := mustConfig(t, `
cluster_name: pub-one
region: us-west-2
availability_zones: [us-west-2a, us-west-2b]
iam_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]
tags: {team: ml}
node_groups: [{name: cpu, instance_type: t3.medium, min_instances: 1, max_instances: 3}, {name: spot, instance_type: m5.large, spot: true, min_instances: 0}]
`)
	res, err := p.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := res.State
	if st.Status != StatusReady || st.ClusterID == "" || st.AccountID != "123456789012" || st.CreatorARN == "" || st.Bucket == "" || st.PolicyARN == "" {
		t.Fatalf("state lacks what the operator needs: %+v", st)
	}
	inv := takeInventory(t, p, "pub-one")
	want := inventory{"vpc": 1, "subnet": 2, "igw": 1, "nat": 0, "eip": 0, "rtb": 1, "sg": 3, "role": 3, "policy": 1, "pod-identity": 1, "addon": 1, "eks": 1, "nodegroup": 2, "lb": 2, "lb-by-prefix": 2, "bucket": 1, "log-group": 1}
	checkInventory(t, inv, want)

	// Subnets: public, instances get public IPs; the route table sends 0.0.0.0/0 to the IGW.
	sns, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: p.ec2Filters("pub-one", "")})
	must(t, err)
	for _, s := range sns.Subnets {
		if !aws.ToBool(s.MapPublicIpOnLaunch) {
			t.Errorf("public subnet %s does not map public IPs", aws.ToString(s.SubnetId))
		}
		checkTags(t, "subnet", tagMap(s.Tags), st.ClusterID, "pub-one")
	}
	rts, err := p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{st.PublicRouteTable}})
	must(t, err)
	if got := defaultRoute(rts.RouteTables[0].Routes); got != st.InternetGatewayID {
		t.Errorf("public default route goes to %q, want the internet gateway %s", got, st.InternetGatewayID)
	}
	if n := len(associations(rts.RouteTables[0])); n != 2 {
		t.Errorf("public route table has %d subnet associations, want 2", n)
	}
	vpcs, err := p.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{st.VPCID}})
	must(t, err)
	vt := tagMap(vpcs.Vpcs[0].Tags)
	checkTags(t, "vpc", vt, st.ClusterID, "pub-one")
	if vt["team"] != "ml" {
		t.Errorf("user tag missing from the VPC: %v", vt)
	}

	// Load balancers: internet-facing, in the public subnets.
	pub := map[string]bool{st.PublicSubnets["us-west-2a"]: true, st.PublicSubnets["us-west-2b"]: true}
	for _, lb := range []*LoadBalancer{st.OperatorLoadBalancer, st.APILoadBalancer} {
		got, err := p.findLoadBalancer(ctx, lb.Name)
		must(t, err)
		if string(got.Scheme) != "internet-facing" {
			t.Errorf("%s scheme %s", lb.Name, got.Scheme)
		}
		for _, az := range got.AvailabilityZones {
			if !pub[aws.ToString(az.SubnetId)] {
				t.Errorf("%s is in subnet %s, not a public one", lb.Name, aws.ToString(az.SubnetId))
			}
		}
	}
	if res.OperatorEndpoint != "https://"+st.OperatorLoadBalancer.DNSName {
		t.Errorf("operator endpoint %q", res.OperatorEndpoint)
	}

	// The default policy holds the rendered template.
	checkPolicyDocument(t, p, st)
	// The node role has the default policy, the EKS managed ones and iam_policy_arns.
	attached, err := p.attachedRolePolicies(ctx, NamesFor("aws", st.AccountID, "pub-one", testRegion).NodeRole)
	must(t, err)
	for _, want := range []string{st.PolicyARN, "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"} {
		if !attached[want] {
			t.Errorf("node role lacks %s (has %v)", want, attached)
		}
	}
	role, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(NamesFor("aws", st.AccountID, "pub-one", testRegion).NodeRole)})
	must(t, err)
	rt := map[string]string{}
	for _, tg := range role.Role.Tags {
		rt[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	checkTags(t, "node role", rt, st.ClusterID, "pub-one")

	// EKS: tagged, node groups spot / on-demand with their sizes.
	c, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("pub-one")})
	must(t, err)
	checkTags(t, "eks cluster", c.Cluster.Tags, st.ClusterID, "pub-one")
	ng, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("pub-one"), NodegroupName: aws.String("spot")})
	must(t, err)
	if ng.Nodegroup.CapacityType != "SPOT" || aws.ToInt32(ng.Nodegroup.ScalingConfig.MinSize) != 0 || aws.ToInt32(ng.Nodegroup.ScalingConfig.MaxSize) != 5 {
		t.Errorf("spot node group: %s %+v", ng.Nodegroup.CapacityType, ng.Nodegroup.ScalingConfig)
	}

	// Bucket: private, encrypted, tagged, holds the state.
	pab, err := p.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(st.Bucket)})
	must(t, err)
	if c := pab.PublicAccessBlockConfiguration; !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.RestrictPublicBuckets) {
		t.Errorf("public access not blocked: %+v", c)
	}
	enc, err := p.s3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(st.Bucket)})
	must(t, err)
	if len(enc.ServerSideEncryptionConfiguration.Rules) == 0 {
		t.Error("bucket not encrypted")
	}
	remote, err := p.loadBucketState(ctx, st.Bucket)
	must(t, err)
	if remote == nil || remote.ClusterID != st.ClusterID || remote.Status != StatusReady {
		t.Fatalf("state in the bucket: %+v", remote)
	}

	// Running up again changes nothing and keeps the cluster id.
	again, err := newTestProvisioner(t, u, nil, dir).Up(ctx, cfg)
	must(t, err)
	if again.State.ClusterID != st.ClusterID {
		t.Errorf("cluster id changed on re-run: %s -> %s", st.ClusterID, again.State.ClusterID)
	}
	checkInventory(t, takeInventory(t, p, "pub-one"), want)

	// Down leaves nothing tagged with the cluster.
	rep, err := newTestProvisioner(t, u, nil, dir).Down(ctx, "pub-one", DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	if inv := takeInventory(t, p, "pub-one"); !inv.empty() {
		t.Fatalf("down left resources behind: %v", inv)
	}
	if s, _ := LoadLocalState(dir, "pub-one", testRegion); s != nil {
		t.Error("down left the local state behind")
	}
}

func TestUpPrivateHighlyAvailable(t *testing.T) {
	u := moto(t)
	t.Parallel()
	p := newTestProvisioner(t, u, nil, t.TempDir())
	ctx := context.Background()
	cfg := mustConfig(t, `
cluster_name: priv-ha
region: us-west-2
availability_zones: [us-west-2a, us-west-2b, us-west-2c]
subnet_visibility: private
nat_gateway: highly_available
operator_load_balancer_scheme: internal
api_load_balancer_scheme: internet-facing
vpc_cidr: 10.20.0.0/16
`)
	res, err := p.Up(ctx, cfg)
	must(t, err)
	st := res.State
	checkInventory(t, takeInventory(t, p, "priv-ha"), inventory{"vpc": 1, "subnet": 6, "igw": 1, "nat": 3, "eip": 3, "rtb": 4, "sg": 3, "role": 3, "policy": 1, "pod-identity": 1, "addon": 1, "eks": 1, "nodegroup": 1, "lb": 2, "lb-by-prefix": 2, "bucket": 1, "log-group": 1})

	sns, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: p.ec2Filters("priv-ha", "")})
	must(t, err)
	for _, s := range sns.Subnets {
		if aws.ToBool(s.MapPublicIpOnLaunch) {
			t.Errorf("subnet %s of a private cluster maps public IPs", aws.ToString(s.SubnetId))
		}
	}
	// One NAT per zone, in that zone's public subnet; each private route table uses its zone's NAT.
	for _, z := range st.Zones {
		nat := st.NATGateways[z]
		d, err := p.ec2.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{nat}})
		must(t, err)
		if got := aws.ToString(d.NatGateways[0].SubnetId); got != st.PublicSubnets[z] {
			t.Errorf("NAT of %s is in %s, want public subnet %s", z, got, st.PublicSubnets[z])
		}
		rts, err := p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{st.PrivateRouteTables[z]}})
		must(t, err)
		if got := natRoute(rts.RouteTables[0].Routes); got != nat {
			t.Errorf("private route of %s goes to %q, want NAT %s", z, got, nat)
		}
		if a := associations(rts.RouteTables[0]); len(a) != 1 || a[0] != st.PrivateSubnets[z] {
			t.Errorf("private route table of %s is associated with %v", z, a)
		}
	}
	// Internal operator LB in the private subnets; internet-facing API LB in the public ones.
	for _, c := range []struct {
		lb      *LoadBalancer
		scheme  string
		subnets map[string]string
	}{{st.OperatorLoadBalancer, "internal", st.PrivateSubnets}, {st.APILoadBalancer, "internet-facing", st.PublicSubnets}} {
		got, err := p.findLoadBalancer(ctx, c.lb.Name)
		must(t, err)
		if string(got.Scheme) != c.scheme {
			t.Errorf("%s scheme %s, want %s", c.lb.Name, got.Scheme, c.scheme)
		}
		want := map[string]bool{}
		for _, id := range c.subnets {
			want[id] = true
		}
		for _, az := range got.AvailabilityZones {
			if !want[aws.ToString(az.SubnetId)] {
				t.Errorf("%s (%s) is in subnet %s, not one of %v", c.lb.Name, c.scheme, aws.ToString(az.SubnetId), c.subnets)
			}
		}
	}
	// Nodes run in the private subnets.
	ng, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("priv-ha"), NodegroupName: aws.String("ng-cpu")})
	must(t, err)
	for _, s := range ng.Nodegroup.Subnets {
		found := false
		for _, id := range st.PrivateSubnets {
			found = found || id == s
		}
		if !found {
			t.Errorf("node group uses non-private subnet %s", s)
		}
	}
	rep, err := p.Down(ctx, "priv-ha", DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	if inv := takeInventory(t, p, "priv-ha"); !inv.empty() {
		t.Fatalf("down left resources behind: %v", inv)
	}
}

func TestUpPrivateSingleNATKeepResources(t *testing.T) {
	u := moto(t)
	t.Parallel()
	p := newTestProvisioner(t, u, nil, t.TempDir())
	ctx := context.Background()
	cfg := mustConfig(t, "cluster_name: priv-single\nregion: us-west-2\nsubnet_visibility: private\n")
	res, err := p.Up(ctx, cfg)
	must(t, err)
	st := res.State
	if len(st.Zones) != 3 || len(st.NATGateways) != 1 {
		t.Fatalf("zones %v, NAT gateways %v", st.Zones, st.NATGateways)
	}
	nat := st.NATGateways[st.Zones[0]]
	for _, z := range st.Zones {
		rts, err := p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{st.PrivateRouteTables[z]}})
		must(t, err)
		if got := natRoute(rts.RouteTables[0].Routes); got != nat {
			t.Errorf("private route of %s goes to %q, want the single NAT %s", z, got, nat)
		}
	}
	if rep, err := p.Down(ctx, "priv-single", DownOptions{KeepAWSResources: true}); err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	inv := takeInventory(t, p, "priv-single")
	if inv["bucket"] != 1 || inv["log-group"] != 1 {
		t.Errorf("--keep-aws-resources must keep bucket and log group: %v", inv)
	}
	delete(inv, "bucket")
	delete(inv, "log-group")
	if !inv.empty() {
		t.Errorf("down left resources behind: %v", inv)
	}
	// A later down without the flag removes them.
	if rep, err := p.Down(ctx, "priv-single", DownOptions{}); err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	if inv := takeInventory(t, p, "priv-single"); !inv.empty() {
		t.Errorf("second down left %v", inv)
	}
}

func checkInventory(t *testing.T, got, want inventory) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %d, want %d (inventory: %v)", k, got[k], v, got)
		}
	}
}

func checkTags(t *testing.T, what string, tags map[string]string, clusterID, cluster string) {
	t.Helper()
	if tags[TagClusterName] != cluster || tags[TagClusterID] != clusterID || tags[TagResource] == "" {
		t.Errorf("%s tags %v lack cluster name %s / id %s / resource", what, tags, cluster, clusterID)
	}
}

func tagMap(tags []ec2types.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func defaultRoute(routes []ec2types.Route) string {
	for _, r := range routes {
		if aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" {
			return aws.ToString(r.GatewayId)
		}
	}
	return ""
}

func natRoute(routes []ec2types.Route) string {
	for _, r := range routes {
		if aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" {
			return aws.ToString(r.NatGatewayId)
		}
	}
	return ""
}

func associations(rt ec2types.RouteTable) []string {
	var out []string
	for _, a := range rt.Associations {
		if !aws.ToBool(a.Main) {
			out = append(out, aws.ToString(a.SubnetId))
		}
	}
	sort.Strings(out)
	return out
}

func checkPolicyDocument(t *testing.T, p *Provisioner, st *State) {
	t.Helper()
	ctx := context.Background()
	pol, err := p.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(st.PolicyARN)})
	must(t, err)
	ver, err := p.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(st.PolicyARN), VersionId: pol.Policy.DefaultVersionId})
	must(t, err)
	doc, _ := url.QueryUnescape(aws.ToString(ver.PolicyVersion.Document))
	want, err := iampolicy.Render(iampolicy.Default, PolicyParams("aws", st.AccountID, st.ClusterName, testRegion))
	must(t, err)
	var a, b any
	must(t, json.Unmarshal([]byte(doc), &a))
	must(t, json.Unmarshal(want, &b))
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("policy document in IAM:\n%s\nwant:\n%s", ja, jb)
	}
}
