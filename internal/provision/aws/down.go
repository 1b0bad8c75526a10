package aws

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
)

// DownOptions tune `cluster down`.
type DownOptions struct {
	// KeepAWSResources keeps the bucket (with the state) and the log group.
	KeepAWSResources bool
}

// Leftover is a resource `down` could not delete.
type Leftover struct {
	Resource string `json:"resource"`
	Reason   string `json:"reason"`
}

// DownReport lists what `down` deleted, what it looked for and did not find, and what it could
// not delete.
type DownReport struct {
	Deleted   []string   `json:"deleted"`
	NotFound  []string   `json:"not_found,omitempty"`
	Leftovers []Leftover `json:"leftovers,omitempty"`
}

// ErrClusterNotFound is returned by Down when there is no trace of the cluster: no state (in the
// CLI's cache or in its bucket) and no resource with its names or tags.
var ErrClusterNotFound = errors.New("cluster not found")

// Down deletes everything `up` created for the cluster (found through the state, tags and the
// deterministic names, so a half-created cluster is cleaned up too), in reverse dependency order.
func (p *Provisioner) Down(ctx context.Context, clusterName string, opts DownOptions) (*DownReport, error) {
	// In a region AWS does not have, nothing can exist, and every call would only fail or hang:
	// forget the CLI's copy of the state and say so.
	if err := checkRegionOffline(p.region); err != nil {
		rep := &DownReport{NotFound: []string{"region " + p.region}}
		if rerr := RemoveLocalState(p.opts.StateDir, clusterName, p.region); rerr != nil {
			rep.Leftovers = append(rep.Leftovers, Leftover{Resource: "local state", Reason: rerr.Error()})
		}
		return rep, fmt.Errorf("%w: %v; nothing to delete there (the CLI's copy of its state is removed)", ErrClusterNotFound, err)
	}
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.LoadState(ctx, id, clusterName)
	if err != nil {
		p.emit(Event{Step: "state", Phase: PhaseInfo, Detail: "cluster state unreadable, finding resources by tag: " + err.Error()})
		st = nil
	}
	hadState := st != nil
	if st == nil {
		st = &State{ClusterName: clusterName, Region: p.region}
	}
	st.Status = StatusDeleting
	p.state = st
	names := NamesFor(id.Partition, id.Account, clusterName, p.region)
	d := &downer{p: p, cluster: clusterName, names: names, report: &DownReport{}, hadState: hadState}

	steps := []step{
		// Kubernetes first, while the cluster and its nodes still exist; then what the pods used.
		{name: stepKubeInstall, run: d.kubeUninstall},
		{name: stepAPIIdentities, deps: []string{stepKubeInstall}, run: d.apiIdentities},
		{name: stepNodeGroups, deps: []string{stepKubeInstall}, run: d.nodeGroups},
		{name: stepLoadBalancers, deps: []string{stepKubeInstall}, run: d.loadBalancers},
		{name: stepListeners, deps: []string{stepLoadBalancers, stepNodeGroups}, run: d.targetGroups},
		{name: stepOperatorRole, deps: []string{stepKubeInstall}, run: d.operatorRole},
		{name: stepEKSCluster, deps: []string{stepNodeGroups, stepKubeInstall, stepAPIIdentities, stepOperatorRole}, run: d.eksCluster},
		{name: stepNATGateways, deps: []string{stepNodeGroups}, run: d.natGateways},
		{name: stepRouteTables, deps: []string{stepNATGateways, stepEKSCluster, stepLoadBalancers}, run: d.routeTables},
		{name: stepInternetGW, deps: []string{stepNATGateways, stepLoadBalancers, stepEKSCluster}, run: d.internetGateway},
		{name: stepSecurityGroups, deps: []string{stepEKSCluster, stepLoadBalancers, stepNodeGroups}, run: d.securityGroups},
		{name: stepSubnets, deps: []string{stepEKSCluster, stepLoadBalancers, stepNATGateways, stepRouteTables}, run: d.subnets},
		{name: stepVPC, deps: []string{stepSubnets, stepSecurityGroups, stepInternetGW, stepRouteTables, stepListeners}, run: d.vpc},
		{name: stepRoles, deps: []string{stepEKSCluster, stepNodeGroups}, run: d.roles},
		{name: stepPolicy, deps: []string{stepRoles}, run: d.policy},
	}
	if !opts.KeepAWSResources {
		// Last (docs/aws.md): the log group keeps what happened until the end, and the bucket
		// holds the state a later down needs if this one leaves something behind.
		var all []string
		for _, s := range steps {
			all = append(all, s.name)
		}
		steps = append(steps,
			step{name: stepLogGroup, deps: all, run: d.logGroup},
			step{name: stepBucket, deps: append(all, stepLogGroup), run: d.bucket},
		)
	}
	err = p.runSteps(ctx, steps, nil)
	var se *StepError
	for _, e := range unwrapAll(err) {
		if errors.As(e, &se) {
			d.leftover(se.Step, se.Err)
		}
	}
	if len(d.report.Leftovers) == 0 {
		if rerr := RemoveLocalState(p.opts.StateDir, clusterName, p.region); rerr != nil {
			d.leftover("local state", rerr)
		}
	}
	if len(d.report.Leftovers) > 0 {
		return d.report, fmt.Errorf("cluster down left %d resource(s) behind; run it again, or delete them by hand", len(d.report.Leftovers))
	}
	if !hadState && len(d.report.Deleted) == 0 {
		return d.report, fmt.Errorf("%w: there is no cluster %s in %s for account %s (no state in the CLI's cache or in its bucket, and no resource with its names or tags)", ErrClusterNotFound, clusterName, p.region, id.Account)
	}
	return d.report, nil
}

func unwrapAll(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

type downer struct {
	p        *Provisioner
	hadState bool // false: found by tags and names only (a Kubernetes install is looked for too)
	cluster  string
	names    Names
	mu       sync.Mutex
	report   *DownReport
}

func (d *downer) deleted(what string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.report.Deleted = append(d.report.Deleted, what)
}

func (d *downer) notFound(what string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.report.NotFound = append(d.report.NotFound, what)
}

func (d *downer) leftover(what string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.report.Leftovers = append(d.report.Leftovers, Leftover{Resource: what, Reason: err.Error()})
}

// collect runs f for each item, records what was deleted, and returns all failures joined.
func collect[T any](items []T, f func(T) (string, error)) (int, error) {
	var errs []error
	n := 0
	for _, it := range items {
		if _, err := f(it); err != nil {
			errs = append(errs, err)
		} else {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (d *downer) nodeGroups(ctx context.Context) (string, error) {
	p := d.p
	cluster := d.names.EKSCluster
	if _, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)}); isCode(err, "ResourceNotFoundException") {
		return "none", nil // the EKS cluster step reports it
	}
	out, err := p.eks.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster)})
	if isCode(err, "ResourceNotFoundException") {
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("list node groups of %s: %w", cluster, err)
	}
	n, err := collect(out.Nodegroups, func(ng string) (string, error) {
		if _, err := p.eks.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(ng)}); err != nil && !isCode(err, "ResourceNotFoundException") {
			return "", fmt.Errorf("delete node group %s: %w", ng, err)
		}
		err := p.wait(ctx, stepNodeGroups, "node group "+ng+" to be deleted", func(ctx context.Context) (bool, error) {
			_, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(ng)})
			if isCode(err, "ResourceNotFoundException") {
				return true, nil
			}
			return false, err
		})
		if err == nil {
			d.deleted("node group " + ng)
		}
		return ng, err
	})
	return fmt.Sprintf("%d deleted", n), err
}

func (d *downer) loadBalancers(ctx context.Context) (string, error) {
	p := d.p
	n, err := collect([]string{d.names.OperatorLB, d.names.APILB}, func(name string) (string, error) {
		lb, err := p.findLoadBalancer(ctx, name)
		if err == nil && lb == nil {
			d.notFound("load balancer " + name)
		}
		if err != nil || lb == nil {
			return name, err
		}
		if _, err := p.elb.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}); err != nil {
			return "", fmt.Errorf("delete load balancer %s: %w", name, err)
		}
		err = p.wait(ctx, stepLoadBalancers, "load balancer "+name+" to be deleted", func(ctx context.Context) (bool, error) {
			cur, err := p.findLoadBalancer(ctx, name)
			return cur == nil, err
		})
		if err == nil {
			d.deleted("load balancer " + name)
		}
		return name, err
	})
	return fmt.Sprintf("%d checked", n), err
}

// stepAPIIdentities removes the APIs' pod identity associations and the roles cortex made for them
// (package apiidentity, found by tag), before the cluster: it works without the operator, which
// may be gone or broken when `down` runs.
const stepAPIIdentities = "api-identities"

func (d *downer) apiIdentities(ctx context.Context) (string, error) {
	got, err := apiidentity.RemoveAll(ctx, d.p.iam, d.p.eks, d.names.EKSCluster, clusterconfig.RolePrefix(d.cluster, d.p.region))
	for _, a := range got.Associations {
		d.deleted("pod identity association " + a)
	}
	for _, r := range got.Roles {
		d.deleted("API role " + r)
	}
	return fmt.Sprintf("%d associations, %d roles", len(got.Associations), len(got.Roles)), err
}

func (d *downer) eksCluster(ctx context.Context) (string, error) {
	p := d.p
	name := d.names.EKSCluster
	_, err := p.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(name)})
	if isCode(err, "ResourceNotFoundException") {
		d.notFound("EKS cluster " + name)
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("delete EKS cluster %s: %w", name, err)
	}
	err = p.wait(ctx, stepEKSCluster, "EKS cluster "+name+" to be deleted", func(ctx context.Context) (bool, error) {
		_, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if isCode(err, "ResourceNotFoundException") {
			return true, nil
		}
		return false, err
	})
	if err == nil {
		d.deleted("EKS cluster " + name)
	}
	return name, err
}

func (d *downer) filters() []ec2types.Filter { return d.p.ec2Filters(d.cluster, "") }

func (d *downer) natGateways(ctx context.Context) (string, error) {
	p := d.p
	nats, err := p.natGatewaysOf(ctx, d.cluster)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, n := range nats {
		if n.State != ec2types.NatGatewayStateDeleted {
			ids = append(ids, aws.ToString(n.NatGatewayId))
		}
	}
	_, err = collect(ids, func(id string) (string, error) {
		if _, err := p.ec2.DeleteNatGateway(ctx, &ec2.DeleteNatGatewayInput{NatGatewayId: aws.String(id)}); err != nil && !isCode(err, "NatGatewayNotFound") {
			return "", fmt.Errorf("delete NAT gateway %s: %w", id, err)
		}
		err := p.wait(ctx, stepNATGateways, "NAT gateway "+id+" to be deleted", func(ctx context.Context) (bool, error) {
			o, err := p.ec2.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}})
			if isCode(err, "NatGatewayNotFound") {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			return len(o.NatGateways) == 0 || o.NatGateways[0].State == ec2types.NatGatewayStateDeleted, nil
		})
		if err == nil {
			d.deleted("NAT gateway " + id)
		}
		return id, err
	})
	if err != nil {
		return "", err
	}
	// The elastic IPs are free once their NAT gateways are gone.
	addrs, err := p.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: d.filters()})
	if err != nil {
		return "", fmt.Errorf("find elastic IPs: %w", err)
	}
	var allocs []string
	for _, a := range addrs.Addresses {
		allocs = append(allocs, aws.ToString(a.AllocationId))
	}
	_, err = collect(allocs, func(id string) (string, error) {
		if _, err := p.ec2.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(id)}); err != nil && !isCode(err, "InvalidAllocationID.NotFound") {
			return "", fmt.Errorf("release elastic IP %s: %w", id, err)
		}
		d.deleted("elastic IP " + id)
		return id, nil
	})
	return fmt.Sprintf("%d NAT gateway(s), %d elastic IP(s)", len(ids), len(allocs)), err
}

func (d *downer) routeTables(ctx context.Context) (string, error) {
	p := d.p
	out, err := p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: d.filters()})
	if err != nil {
		return "", fmt.Errorf("find route tables: %w", err)
	}
	n, err := collect(out.RouteTables, func(rt ec2types.RouteTable) (string, error) {
		id := aws.ToString(rt.RouteTableId)
		for _, a := range rt.Associations {
			if aws.ToBool(a.Main) {
				continue
			}
			if _, err := p.ec2.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}); err != nil && !isCode(err, "InvalidAssociationID.NotFound") {
				return "", fmt.Errorf("disassociate route table %s: %w", id, err)
			}
		}
		if _, err := p.ec2.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(id)}); err != nil && !isCode(err, "InvalidRouteTableID.NotFound") {
			return "", fmt.Errorf("delete route table %s: %w", id, err)
		}
		d.deleted("route table " + id)
		return id, nil
	})
	return fmt.Sprintf("%d deleted", n), err
}

func (d *downer) internetGateway(ctx context.Context) (string, error) {
	p := d.p
	out, err := p.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: d.filters()})
	if err != nil {
		return "", fmt.Errorf("find internet gateways: %w", err)
	}
	n, err := collect(out.InternetGateways, func(g ec2types.InternetGateway) (string, error) {
		id := aws.ToString(g.InternetGatewayId)
		for _, a := range g.Attachments {
			if _, err := p.ec2.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: aws.String(id), VpcId: a.VpcId}); err != nil && !isCode(err, "Gateway.NotAttached") {
				return "", fmt.Errorf("detach internet gateway %s: %w", id, err)
			}
		}
		if _, err := p.ec2.DeleteInternetGateway(ctx, &ec2.DeleteInternetGatewayInput{InternetGatewayId: aws.String(id)}); err != nil && !isCode(err, "InvalidInternetGatewayID.NotFound") {
			return "", fmt.Errorf("delete internet gateway %s: %w", id, err)
		}
		d.deleted("internet gateway " + id)
		return id, nil
	})
	return fmt.Sprintf("%d deleted", n), err
}

func (d *downer) securityGroups(ctx context.Context) (string, error) {
	p := d.p
	out, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: d.filters()})
	if err != nil {
		return "", fmt.Errorf("find security groups: %w", err)
	}
	// Remove the cross-references first: a group that another one refers to cannot be deleted.
	for _, g := range out.SecurityGroups {
		var refs []ec2types.IpPermission
		for _, perm := range g.IpPermissions {
			if len(perm.UserIdGroupPairs) > 0 {
				refs = append(refs, ec2types.IpPermission{IpProtocol: perm.IpProtocol, FromPort: perm.FromPort, ToPort: perm.ToPort, UserIdGroupPairs: perm.UserIdGroupPairs})
			}
		}
		if len(refs) > 0 {
			if _, err := p.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: refs}); err != nil && !isCode(err, "InvalidPermission.NotFound") {
				return "", fmt.Errorf("revoke references from security group %s: %w", aws.ToString(g.GroupId), err)
			}
		}
	}
	n, err := collect(out.SecurityGroups, func(g ec2types.SecurityGroup) (string, error) {
		id := aws.ToString(g.GroupId)
		if _, err := p.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)}); err != nil && !isCode(err, "InvalidGroup.NotFound") {
			return "", fmt.Errorf("delete security group %s: %w", id, err)
		}
		d.deleted("security group " + id)
		return id, nil
	})
	return fmt.Sprintf("%d deleted", n), err
}

func (d *downer) subnets(ctx context.Context) (string, error) {
	p := d.p
	out, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: d.filters()})
	if err != nil {
		return "", fmt.Errorf("find subnets: %w", err)
	}
	n, err := collect(out.Subnets, func(s ec2types.Subnet) (string, error) {
		id := aws.ToString(s.SubnetId)
		if _, err := p.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(id)}); err != nil && !isCode(err, "InvalidSubnetID.NotFound") {
			return "", fmt.Errorf("delete subnet %s: %w", id, err)
		}
		d.deleted("subnet " + id)
		return id, nil
	})
	return fmt.Sprintf("%d deleted", n), err
}

func (d *downer) vpc(ctx context.Context) (string, error) {
	p := d.p
	out, err := p.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: d.filters()})
	if err != nil {
		return "", fmt.Errorf("find VPCs: %w", err)
	}
	if len(out.Vpcs) == 0 {
		d.notFound("VPC tagged " + TagClusterName + "=" + d.cluster)
	}
	n, err := collect(out.Vpcs, func(v ec2types.Vpc) (string, error) {
		id := aws.ToString(v.VpcId)
		if _, err := p.ec2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)}); err != nil && !isCode(err, "InvalidVpcID.NotFound") {
			return "", fmt.Errorf("delete VPC %s: %w", id, err)
		}
		d.deleted("VPC " + id)
		return id, nil
	})
	return fmt.Sprintf("%d deleted", n), err
}

func (d *downer) roles(ctx context.Context) (string, error) {
	p := d.p
	n, err := collect([]string{d.names.ClusterRole, d.names.NodeRole}, func(role string) (string, error) {
		attached, err := p.attachedRolePolicies(ctx, role)
		if isCode(errors.Unwrap(err), "NoSuchEntity") || isCode(err, "NoSuchEntity") {
			d.notFound("role " + role)
			return role, nil
		}
		if err != nil {
			return "", err
		}
		for arn := range attached {
			if _, err := p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(arn)}); err != nil && !isCode(err, "NoSuchEntity") {
				return "", fmt.Errorf("detach %s from role %s: %w", arn, role, err)
			}
		}
		profiles, err := p.iam.ListInstanceProfilesForRole(ctx, &iam.ListInstanceProfilesForRoleInput{RoleName: aws.String(role)})
		if err == nil {
			for _, ip := range profiles.InstanceProfiles {
				if _, err := p.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{RoleName: aws.String(role), InstanceProfileName: ip.InstanceProfileName}); err != nil && !isCode(err, "NoSuchEntity") {
					return "", fmt.Errorf("remove role %s from instance profile %s: %w", role, aws.ToString(ip.InstanceProfileName), err)
				}
			}
		}
		if _, err := p.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(role)}); err != nil && !isCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("delete role %s: %w", role, err)
		}
		d.deleted("role " + role)
		return role, nil
	})
	return fmt.Sprintf("%d checked", n), err
}

// policy detaches the default policy from every role, user and group, deletes its non-default
// versions, then the policy.
func (d *downer) policy(ctx context.Context) (string, error) {
	p := d.p
	arn := d.names.PolicyARN
	if _, err := p.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)}); isCode(err, "NoSuchEntity") {
		d.notFound("policy " + arn)
		return "none", nil
	} else if err != nil {
		return "", fmt.Errorf("get policy %s: %w", arn, err)
	}
	ents, err := p.iam.ListEntitiesForPolicy(ctx, &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("list entities of policy %s: %w", arn, err)
	}
	for _, r := range ents.PolicyRoles {
		if _, err := p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: r.RoleName, PolicyArn: aws.String(arn)}); err != nil && !isCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("detach policy from role %s: %w", aws.ToString(r.RoleName), err)
		}
	}
	for _, u := range ents.PolicyUsers {
		if _, err := p.iam.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: u.UserName, PolicyArn: aws.String(arn)}); err != nil && !isCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("detach policy from user %s: %w", aws.ToString(u.UserName), err)
		}
	}
	for _, g := range ents.PolicyGroups {
		if _, err := p.iam.DetachGroupPolicy(ctx, &iam.DetachGroupPolicyInput{GroupName: g.GroupName, PolicyArn: aws.String(arn)}); err != nil && !isCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("detach policy from group %s: %w", aws.ToString(g.GroupName), err)
		}
	}
	vers, err := p.iam.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("list versions of policy %s: %w", arn, err)
	}
	for _, v := range vers.Versions {
		if v.IsDefaultVersion {
			continue
		}
		if _, err := p.iam.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: v.VersionId}); err != nil && !isCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("delete version %s of policy %s: %w", aws.ToString(v.VersionId), arn, err)
		}
	}
	if _, err := p.iam.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)}); err != nil && !isCode(err, "NoSuchEntity") {
		return "", fmt.Errorf("delete policy %s: %w", arn, err)
	}
	d.deleted("policy " + arn)
	return arn, nil
}

func (d *downer) logGroup(ctx context.Context) (string, error) {
	p := d.p
	name := d.names.LogGroup
	if _, err := p.logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		if isCode(err, "ResourceNotFoundException") {
			d.notFound("log group " + name)
			return "none", nil
		}
		return "", fmt.Errorf("delete log group %s: %w", name, err)
	}
	d.deleted("log group " + name)
	return name, nil
}

func (d *downer) bucket(ctx context.Context) (string, error) {
	p := d.p
	b := d.names.Bucket
	if _, err := p.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)}); err != nil {
		if isCode(err, "NotFound", "NoSuchBucket") {
			d.notFound("bucket " + b)
			return "none", nil
		}
		return "", fmt.Errorf("check bucket %s: %w", b, err)
	}
	pg := s3.NewListObjectsV2Paginator(p.s3, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list bucket %s: %w", b, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		var objs []s3types.ObjectIdentifier
		for _, o := range page.Contents {
			objs = append(objs, s3types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := p.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &s3types.Delete{Objects: objs, Quiet: aws.Bool(true)}}); err != nil {
			return "", fmt.Errorf("empty bucket %s: %w", b, err)
		}
	}
	if _, err := p.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil && !isCode(err, "NoSuchBucket") {
		return "", fmt.Errorf("delete bucket %s: %w", b, err)
	}
	d.deleted("bucket " + b)
	return b, nil
}
