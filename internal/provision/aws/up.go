package aws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/iampolicy"
)

// Step names, in the order `up` documents them.
const (
	stepBucket         = "bucket"
	stepLogGroup       = "log-group"
	stepPolicy         = "policy"
	stepZones          = "zones"
	stepVPC            = "vpc"
	stepInternetGW     = "internet-gateway"
	stepSubnets        = "subnets"
	stepNATGateways    = "nat-gateways"
	stepRouteTables    = "route-tables"
	stepSecurityGroups = "security-groups"
	stepRoles          = "iam-roles"
	stepEKSCluster     = "eks-cluster"
	stepNodeGroups     = "node-groups"
	stepLoadBalancers  = "load-balancers"
)

// AWS managed policies of the EKS roles.
var (
	clusterRoleManaged = []string{"AmazonEKSClusterPolicy"}
	nodeRoleManaged    = []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}
)

// Result is what `up` reports at the end.
type Result struct {
	State            *State `json:"state"`
	OperatorEndpoint string `json:"operator_endpoint"`
	APIEndpoint      string `json:"api_endpoint,omitempty"`
	// APILoadBalancerDNSName is the API load balancer's name: with api_domain, the user points
	// that domain at it (a CNAME or an alias record).
	APILoadBalancerDNSName string `json:"api_load_balancer_dns_name,omitempty"`
	// Installed says whether the kubernetes provider runs in the EKS cluster (an image was given).
	Installed bool `json:"installed"`
}

// Up creates the cluster's resources, or resumes a creation that stopped. It validates nothing
// the caller has not validated: cfg must come from clusterconfig (defaults applied, valid).
func (p *Provisioner) Up(ctx context.Context, cfg *clusterconfig.Config) (*Result, error) {
	// Names AWS does not know would fail only after the bucket, VPC and roles exist: check first.
	if err := p.CheckConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("nothing was created: %w", err)
	}
	apiDomain, err := p.APIDomain(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("nothing was created: %w", err)
	}
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	// The operator role's inline policy lists api_iam: over IAM's quota, its step would fail after
	// the VPC and the EKS cluster exist.
	if err := CheckOperatorPolicy(id.Partition, id.Account, cfg, p.region); err != nil {
		return nil, fmt.Errorf("nothing was created: %w", err)
	}
	prev, err := p.LoadState(ctx, id, cfg.ClusterName)
	if err != nil {
		return nil, err
	}
	creator := id.ARN
	if prev != nil && prev.CreatorARN != "" {
		creator = prev.CreatorARN
	}
	if err := checkAccessCreator(creator, cfg.Access); err != nil {
		return nil, fmt.Errorf("nothing was changed: %w", err)
	}
	names := NamesFor(id.Partition, id.Account, cfg.ClusterName, p.region)
	now := p.opts.Now().UTC()
	if prev != nil {
		if prev.AccountID != "" && prev.AccountID != id.Account {
			return nil, fmt.Errorf("cluster %s in %s belongs to account %s, but the credentials are for account %s", cfg.ClusterName, p.region, prev.AccountID, id.Account)
		}
		// Resources already made follow the recorded configuration: a resume (or a re-run) with
		// other values for the fields that cannot change would mix two clusters.
		if prev.Config != nil && (prev.Status == StatusReady || len(prev.Completed) > 0) {
			if _, err := clusterconfig.Diff(prev.Config, cfg); err != nil {
				if prev.Status == StatusReady {
					return nil, fmt.Errorf("cluster %s already exists with a different configuration (use `cortex cluster configure` for the fields that may change):\n%w", cfg.ClusterName, err)
				}
				return nil, fmt.Errorf("cluster %s was partly created with a different configuration; resume it with the same cluster.yaml, or delete it (cortex cluster down) and start again:\n%w", cfg.ClusterName, err)
			}
		}
		if prev.Status == StatusReady {
			if err := p.checkAPIIAMInUse(ctx, prev, cfg.APIIAM); err != nil {
				return nil, err
			}
			// Who may use a running cluster changes only by configure, which shows the change
			// and asks: an up with a cluster.yaml that left auth_mode out must not open a
			// cluster locked down to rules to its whole account.
			if from, to := prev.Config.Auth(), cfg.Auth(); from != to {
				return nil, fmt.Errorf("auth_mode: cluster %s runs in auth mode %s (account_role %q) and cluster.yaml says %s (account_role %q); nothing was changed: put the running values in cluster.yaml, or change them with cortex cluster configure",
					cfg.ClusterName, from.Mode, from.AccountRole, to.Mode, to.AccountRole)
			}
		}
		p.state = prev
		p.state.Config = cfg
		p.state.Status = StatusCreating
		p.emit(Event{Step: "state", Phase: PhaseInfo, Detail: fmt.Sprintf("resuming cluster %s (id %s); %d steps already done", prev.ClusterName, prev.ClusterID, len(prev.Completed))})
	} else {
		cid, err := newClusterID()
		if err != nil {
			return nil, err
		}
		p.state = &State{Version: 1, ClusterName: cfg.ClusterName, Region: p.region, ClusterID: cid, Status: StatusCreating, CreatedAt: now, Config: cfg}
	}
	p.state.AccountID, p.state.Partition = id.Account, id.Partition
	if p.state.CreatorARN == "" {
		p.state.CreatorARN = id.ARN
	}
	p.state.Bucket, p.state.LogGroup, p.state.EKSCluster = names.Bucket, names.LogGroup, names.EKSCluster
	p.state.OperatorAuth = p.operatorAuth()
	p.state.APIDomain = apiDomain
	if err := p.save(ctx, p.snapshot(), true); err != nil {
		return nil, err
	}

	u := &upper{p: p, cfg: cfg, names: names}
	steps := []step{
		{name: stepBucket, run: u.bucket},
		{name: stepLogGroup, run: u.logGroup},
		{name: stepPolicy, run: u.policy},
		{name: stepZones, run: u.zones},
		{name: stepRoles, deps: []string{stepPolicy}, run: u.roles},
	}
	if len(cfg.Subnets) > 0 {
		steps = append(steps,
			step{name: stepSubnets, deps: []string{stepZones}, run: u.existingSubnets},
			step{name: stepSecurityGroups, deps: []string{stepSubnets}, run: u.securityGroups},
			step{name: stepEKSCluster, deps: []string{stepRoles, stepSubnets, stepSecurityGroups}, run: u.eksCluster},
			step{name: stepNodeGroups, deps: []string{stepEKSCluster, stepRoles}, run: u.nodeGroups},
			step{name: stepLoadBalancers, deps: []string{stepSubnets, stepSecurityGroups}, run: u.loadBalancers},
		)
	} else {
		steps = append(steps,
			step{name: stepVPC, run: u.vpc},
			step{name: stepInternetGW, deps: []string{stepVPC}, run: u.internetGateway},
			step{name: stepSubnets, deps: []string{stepVPC, stepZones}, run: u.subnets},
			step{name: stepNATGateways, deps: []string{stepSubnets, stepInternetGW}, run: u.natGateways},
			step{name: stepRouteTables, deps: []string{stepSubnets, stepInternetGW, stepNATGateways}, run: u.routeTables},
			step{name: stepSecurityGroups, deps: []string{stepVPC}, run: u.securityGroups},
			step{name: stepEKSCluster, deps: []string{stepRoles, stepSubnets, stepSecurityGroups}, run: u.eksCluster},
			step{name: stepNodeGroups, deps: []string{stepEKSCluster, stepRoles, stepRouteTables}, run: u.nodeGroups},
			step{name: stepLoadBalancers, deps: []string{stepSubnets, stepSecurityGroups, stepRouteTables}, run: u.loadBalancers},
		)
	}
	steps = append(steps, u.operatorCredentialSteps()...)
	if p.image(p.snapshot()) != "" {
		// After the AWS resources: the install, then the load balancers' routes to it.
		steps = append(steps,
			// The operator starts with its AWS identity in place (its role, the Pod Identity agent).
			step{name: stepKubeInstall, deps: []string{stepEKSCluster, stepNodeGroups, stepLoadBalancers, stepOperatorRole, stepPodIdentityAgent}, run: u.kubeInstall},
			step{name: stepListeners, deps: []string{stepKubeInstall, stepLoadBalancers, stepNodeGroups}, run: u.listeners},
		)
	} else {
		p.emit(Event{Step: stepKubeInstall, Phase: PhaseInfo, Detail: "no image given: AWS resources only, nothing installed into the EKS cluster"})
	}
	err = p.runSteps(ctx, steps, func(ctx context.Context, name string) error {
		return p.checkpoint(ctx, func(s *State) { s.markDone(name) })
	})
	if err != nil {
		return &Result{State: p.snapshot()}, fmt.Errorf("cluster up stopped (run it again to resume): %w", err)
	}
	if err := p.checkpoint(ctx, func(s *State) { s.Status = StatusReady }); err != nil {
		return &Result{State: p.snapshot()}, err
	}
	st := p.snapshot()
	res := &Result{State: st}
	if st.OperatorLoadBalancer != nil {
		res.OperatorEndpoint = "https://" + st.OperatorLoadBalancer.DNSName
	}
	res.APIEndpoint, res.APILoadBalancerDNSName = apiEndpoint(st)
	res.Installed = st.Kubernetes != nil && contains(st.Completed, stepListeners)
	return res, nil
}

// apiEndpoint is where clients call APIs (https://api_domain with ssl_certificate_arn, else the
// API load balancer's name) and the load balancer's DNS name.
func apiEndpoint(st *State) (endpoint, lbDNS string) {
	if st.APILoadBalancer != nil {
		lbDNS = st.APILoadBalancer.DNSName
		endpoint = "https://" + lbDNS
	}
	if st.APIDomain != "" {
		endpoint = "https://" + st.APIDomain
	}
	return endpoint, lbDNS
}

func newClusterID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

type upper struct {
	p     *Provisioner
	cfg   *clusterconfig.Config
	names Names
}

// tags returns the user's tags plus cortex's own for one resource.
func (u *upper) tags(resource string) map[string]string {
	return u.p.tagsFor(u.cfg, resource)
}

func (p *Provisioner) tagsFor(cfg *clusterconfig.Config, resource string) map[string]string {
	st := p.snapshot()
	t := map[string]string{}
	for k, v := range cfg.Tags {
		t[k] = v
	}
	t[TagClusterName] = cfg.ClusterName
	t[TagClusterID] = st.ClusterID
	t[TagResource] = resource
	if _, ok := cfg.Tags["Name"]; !ok {
		t["Name"] = cfg.ClusterName + "-" + resource
	}
	return t
}

func sortedTagKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (u *upper) ec2Tags(rt ec2types.ResourceType, resource string) []ec2types.TagSpecification {
	t := u.tags(resource)
	var tags []ec2types.Tag
	for _, k := range sortedTagKeys(t) {
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	return []ec2types.TagSpecification{{ResourceType: rt, Tags: tags}}
}

func (p *Provisioner) ec2Filters(clusterName, resource string) []ec2types.Filter {
	f := []ec2types.Filter{{Name: aws.String("tag:" + TagClusterName), Values: []string{clusterName}}}
	if resource != "" {
		f = append(f, ec2types.Filter{Name: aws.String("tag:" + TagResource), Values: []string{resource}})
	}
	return f
}

// ---- bucket, log group, policy ----

func (u *upper) bucket(ctx context.Context) (string, error) {
	p, b := u.p, u.names.Bucket
	_, err := p.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
	switch {
	case err == nil:
	case isCode(err, "NotFound", "NoSuchBucket"):
		in := &s3.CreateBucketInput{Bucket: aws.String(b)}
		if p.region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(p.region)}
		}
		if _, err := p.s3.CreateBucket(ctx, in); err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
			return "", fmt.Errorf("create bucket %s: %w", b, err)
		}
	case isCode(err, "Forbidden", "AccessDenied"):
		return "", fmt.Errorf("bucket %s exists but is not accessible with these credentials (owned by another account?): %w", b, err)
	default:
		return "", fmt.Errorf("check bucket %s: %w", b, err)
	}
	if _, err := p.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
	}}); err != nil {
		return "", fmt.Errorf("block public access to bucket %s: %w", b, err)
	}
	if _, err := p.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(b), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
		Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}},
	}}); err != nil {
		return "", fmt.Errorf("encrypt bucket %s: %w", b, err)
	}
	t := u.tags("bucket")
	var tagSet []s3types.Tag
	for _, k := range sortedTagKeys(t) {
		tagSet = append(tagSet, s3types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	if _, err := p.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(b), Tagging: &s3types.Tagging{TagSet: tagSet}}); err != nil {
		return "", fmt.Errorf("tag bucket %s: %w", b, err)
	}
	return b, nil
}

func (u *upper) logGroup(ctx context.Context) (string, error) {
	p, name := u.p, u.names.LogGroup
	out, err := p.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("describe log group %s: %w", name, err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == name {
			if err := u.p.update(ctx, func(s *State) { s.LogGroup = name }); err != nil {
				return "", err
			}
			return name + " (exists)", nil
		}
	}
	if _, err := p.logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name), Tags: u.tags("log-group")}); err != nil && !isCode(err, "ResourceAlreadyExistsException") {
		return "", fmt.Errorf("create log group %s: %w", name, err)
	}
	return name, p.update(ctx, func(s *State) { s.LogGroup = name })
}

// PolicyParams returns the template parameters of the cluster's policies.
func PolicyParams(partition, account, clusterName, region string) iampolicy.Params {
	n := NamesFor(partition, account, clusterName, region)
	return iampolicy.Params{Partition: partition, AccountID: account, Region: region, ClusterName: clusterName,
		Bucket: n.Bucket, LogGroup: n.LogGroup, RolePrefix: clusterconfig.RolePrefix(clusterName, region)}
}

// OperatorPolicyParams are PolicyParams with cluster.yaml's api_iam: the operator's policy lets it
// attach to its APIs' roles only the allowed policies and pass only the allowed roles, the same
// list the operator checks (defence in depth; `up` keeps the role's policy in step with it).
func OperatorPolicyParams(partition, account string, cfg *clusterconfig.Config, region string) iampolicy.Params {
	p := PolicyParams(partition, account, cfg.ClusterName, region)
	p.APIPolicyARNs, p.APIRoleARNs = cfg.APIIAM.PolicyARNs, cfg.APIIAM.RoleARNs
	return p
}

func (u *upper) policy(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	doc, err := iampolicy.Render(iampolicy.Default, PolicyParams(st.Partition, st.AccountID, u.cfg.ClusterName, p.region))
	if err != nil {
		return "", err
	}
	compact, err := iampolicy.Compact(doc)
	if err != nil {
		return "", err
	}
	arn := u.names.PolicyARN
	detail, err := p.ensurePolicy(ctx, arn, u.names.PolicyName, compact, u.tags("policy"))
	if err != nil {
		return "", err
	}
	return detail, p.update(ctx, func(s *State) { s.PolicyARN = arn })
}

// ensurePolicy creates the policy, or makes doc its default version (a new version when the
// document differs; the oldest non-default version is deleted when IAM's limit of 5 is reached).
func (p *Provisioner) ensurePolicy(ctx context.Context, arn, name, doc string, tags map[string]string) (string, error) {
	got, err := p.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if isCode(err, "NoSuchEntity") {
		var t []iamtypes.Tag
		for _, k := range sortedTagKeys(tags) {
			t = append(t, iamtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		// err, not a new one: the re-read below must replace the lookup's NoSuchEntity.
		_, err = p.iam.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc), Tags: t,
			Description: aws.String("cortex cluster default policy")})
		if err != nil && !isCode(err, "EntityAlreadyExists") {
			return "", fmt.Errorf("create policy %s: %w", name, err)
		}
		if err == nil {
			return arn, nil
		}
		got, err = p.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	}
	if err != nil {
		return "", fmt.Errorf("get policy %s: %w", arn, err)
	}
	ver, err := p.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: got.Policy.DefaultVersionId})
	if err != nil {
		return "", fmt.Errorf("get policy %s version: %w", arn, err)
	}
	current, err := decodePolicyDocument(aws.ToString(ver.PolicyVersion.Document))
	if err != nil {
		return "", err
	}
	if current == doc {
		return arn + " (up to date)", nil
	}
	versions, err := p.iam.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("list versions of policy %s: %w", arn, err)
	}
	if len(versions.Versions) >= 5 {
		var oldest *iamtypes.PolicyVersion
		for i := range versions.Versions {
			v := &versions.Versions[i]
			if v.IsDefaultVersion {
				continue // never delete the default version
			}
			if oldest == nil || (v.CreateDate != nil && oldest.CreateDate != nil && v.CreateDate.Before(*oldest.CreateDate)) {
				oldest = v
			}
		}
		if oldest != nil {
			if _, err := p.iam.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: oldest.VersionId}); err != nil {
				return "", fmt.Errorf("delete old version %s of policy %s: %w", aws.ToString(oldest.VersionId), arn, err)
			}
		}
	}
	if _, err := p.iam.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc), SetAsDefault: true}); err != nil {
		return "", fmt.Errorf("update policy %s: %w", arn, err)
	}
	return arn + " (new version)", nil
}

// ---- network ----

func (u *upper) zones(ctx context.Context) (string, error) {
	zones := u.cfg.AvailabilityZones
	if len(u.cfg.Subnets) > 0 {
		seen := map[string]bool{}
		zones = nil
		for _, s := range u.cfg.Subnets {
			if !seen[s.AvailabilityZone] {
				seen[s.AvailabilityZone] = true
				zones = append(zones, s.AvailabilityZone)
			}
		}
	}
	if len(zones) == 0 {
		if st := u.p.snapshot(); len(st.Zones) > 0 {
			return strings.Join(st.Zones, ", "), nil
		}
		out, err := u.p.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []ec2types.Filter{
			{Name: aws.String("state"), Values: []string{"available"}}, {Name: aws.String("zone-type"), Values: []string{"availability-zone"}},
		}})
		if err != nil {
			return "", fmt.Errorf("list availability zones: %w", err)
		}
		for _, z := range out.AvailabilityZones {
			zones = append(zones, aws.ToString(z.ZoneName))
		}
		sort.Strings(zones)
		if len(zones) > 3 {
			zones = zones[:3]
		}
		if len(zones) < 2 {
			return "", fmt.Errorf("region %s has fewer than 2 available zones", u.p.region)
		}
	} else {
		out, err := u.p.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: zones})
		if err != nil {
			return "", fmt.Errorf("availability_zones: %w", err)
		}
		if len(out.AvailabilityZones) != len(zones) {
			return "", fmt.Errorf("availability_zones: not every zone of %v exists in %s", zones, u.p.region)
		}
	}
	if len(zones) > 8 {
		return "", fmt.Errorf("availability_zones: at most 8 zones are supported")
	}
	return strings.Join(zones, ", "), u.p.update(ctx, func(s *State) { s.Zones = zones })
}

func (u *upper) vpc(ctx context.Context) (string, error) {
	p := u.p
	out, err := p.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: p.ec2Filters(u.cfg.ClusterName, "vpc")})
	if err != nil {
		return "", fmt.Errorf("find vpc: %w", err)
	}
	var id string
	detail := ""
	switch len(out.Vpcs) {
	case 0:
		c, err := p.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(u.cfg.VPCCIDR), TagSpecifications: u.ec2Tags(ec2types.ResourceTypeVpc, "vpc")})
		if err != nil {
			return "", fmt.Errorf("create vpc: %w", err)
		}
		id = aws.ToString(c.Vpc.VpcId)
	case 1:
		id = aws.ToString(out.Vpcs[0].VpcId)
		detail = " (exists)"
	default:
		return "", fmt.Errorf("found %d VPCs tagged %s=%s; delete the extra ones", len(out.Vpcs), TagClusterName, u.cfg.ClusterName)
	}
	if err := p.update(ctx, func(s *State) { s.VPCID = id; s.CreatedVPC = true }); err != nil {
		return "", err
	}
	// EKS nodes need DNS hostnames in the VPC.
	for _, attr := range []*ec2.ModifyVpcAttributeInput{
		{VpcId: aws.String(id), EnableDnsSupport: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}},
		{VpcId: aws.String(id), EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}},
	} {
		if _, err := p.ec2.ModifyVpcAttribute(ctx, attr); err != nil {
			return "", fmt.Errorf("enable DNS in vpc %s: %w", id, err)
		}
	}
	return id + detail, nil
}

func (u *upper) internetGateway(ctx context.Context) (string, error) {
	p := u.p
	vpc := p.snapshot().VPCID
	out, err := p.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: p.ec2Filters(u.cfg.ClusterName, "internet-gateway")})
	if err != nil {
		return "", fmt.Errorf("find internet gateway: %w", err)
	}
	var igw ec2types.InternetGateway
	if len(out.InternetGateways) > 0 {
		igw = out.InternetGateways[0]
	} else {
		c, err := p.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{TagSpecifications: u.ec2Tags(ec2types.ResourceTypeInternetGateway, "internet-gateway")})
		if err != nil {
			return "", fmt.Errorf("create internet gateway: %w", err)
		}
		igw = *c.InternetGateway
	}
	id := aws.ToString(igw.InternetGatewayId)
	if err := p.update(ctx, func(s *State) { s.InternetGatewayID = id }); err != nil {
		return "", err
	}
	attached := false
	for _, a := range igw.Attachments {
		attached = attached || aws.ToString(a.VpcId) == vpc
	}
	if !attached {
		if _, err := p.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: aws.String(id), VpcId: aws.String(vpc)}); err != nil {
			return "", fmt.Errorf("attach internet gateway %s to %s: %w", id, vpc, err)
		}
	}
	return id, nil
}

// subnetCIDRs splits the VPC range into 16 blocks: public subnet of zone i is block i, private is block 8+i.
func subnetCIDRs(vpcCIDR string, zone int) (public, private string, err error) {
	pfx, err := netip.ParsePrefix(vpcCIDR)
	if err != nil {
		return "", "", err
	}
	bits := pfx.Bits() + 4
	size := uint32(1) << (32 - bits)
	base := pfx.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	block := func(i int) string {
		v := start + uint32(i)*size
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		return netip.PrefixFrom(a, bits).String()
	}
	return block(zone), block(8 + zone), nil
}

func (u *upper) subnets(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	private := u.cfg.SubnetVisibility == clusterconfig.VisibilityPrivate
	out, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: p.ec2Filters(u.cfg.ClusterName, "")})
	if err != nil {
		return "", fmt.Errorf("find subnets: %w", err)
	}
	existing := map[string]string{}
	for _, s := range out.Subnets {
		existing[tagValue(s.Tags, TagResource)] = aws.ToString(s.SubnetId)
	}
	type made struct{ kind, zone, id string }
	results := make(chan made, 2*len(st.Zones))
	g, gctx := errgroup.WithContext(ctx)
	for i, zone := range st.Zones {
		pub, priv, err := subnetCIDRs(u.cfg.VPCCIDR, i)
		if err != nil {
			return "", err
		}
		kinds := []struct{ kind, cidr string }{{"public", pub}}
		if private {
			kinds = append(kinds, struct{ kind, cidr string }{"private", priv})
		}
		for _, k := range kinds {
			zone, k := zone, k
			g.Go(func() error {
				res := "subnet-" + k.kind + "-" + zone
				id := existing[res]
				if id == "" {
					specs := u.ec2Tags(ec2types.ResourceTypeSubnet, res)
					role := "kubernetes.io/role/elb"
					if k.kind == "private" {
						role = "kubernetes.io/role/internal-elb"
					}
					specs[0].Tags = append(specs[0].Tags,
						ec2types.Tag{Key: aws.String(role), Value: aws.String("1")},
						ec2types.Tag{Key: aws.String("kubernetes.io/cluster/" + u.cfg.ClusterName), Value: aws.String("owned")})
					c, err := p.ec2.CreateSubnet(gctx, &ec2.CreateSubnetInput{VpcId: aws.String(st.VPCID), CidrBlock: aws.String(k.cidr), AvailabilityZone: aws.String(zone), TagSpecifications: specs})
					if err != nil {
						return fmt.Errorf("create %s subnet in %s: %w", k.kind, zone, err)
					}
					id = aws.ToString(c.Subnet.SubnetId)
				}
				// Public subnets give instances public IPs; private ones never do.
				if _, err := p.ec2.ModifySubnetAttribute(gctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id),
					MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(k.kind == "public" && !private)}}); err != nil {
					return fmt.Errorf("set public IPs of subnet %s: %w", id, err)
				}
				results <- made{k.kind, zone, id}
				return nil
			})
		}
	}
	err = g.Wait()
	close(results)
	pubs, privs := map[string]string{}, map[string]string{}
	for r := range results {
		if r.kind == "public" {
			pubs[r.zone] = r.id
		} else {
			privs[r.zone] = r.id
		}
	}
	if uerr := p.update(ctx, func(s *State) { s.PublicSubnets = pubs; s.PrivateSubnets = privs }); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d public, %d private", len(pubs), len(privs)), nil
}

// existingSubnets records the user's subnets (cluster.yaml subnets) and their VPC.
func (u *upper) existingSubnets(ctx context.Context) (string, error) {
	p := u.p
	var ids []string
	for _, s := range u.cfg.Subnets {
		ids = append(ids, s.SubnetID)
	}
	out, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: ids})
	if err != nil {
		return "", fmt.Errorf("subnets: %w", err)
	}
	vpcs := map[string]bool{}
	byID := map[string]ec2types.Subnet{}
	for _, s := range out.Subnets {
		vpcs[aws.ToString(s.VpcId)] = true
		byID[aws.ToString(s.SubnetId)] = s
	}
	if len(vpcs) != 1 {
		return "", fmt.Errorf("subnets: all subnets must be in one VPC (found %d)", len(vpcs))
	}
	m := map[string]string{}
	for i, s := range u.cfg.Subnets {
		got, ok := byID[s.SubnetID]
		if !ok {
			return "", fmt.Errorf("subnets[%d].subnet_id: %s does not exist in %s", i, s.SubnetID, p.region)
		}
		if aws.ToString(got.AvailabilityZone) != s.AvailabilityZone {
			return "", fmt.Errorf("subnets[%d].availability_zone: %s is in %s, not %s", i, s.SubnetID, aws.ToString(got.AvailabilityZone), s.AvailabilityZone)
		}
		if _, dup := m[s.AvailabilityZone]; !dup {
			m[s.AvailabilityZone] = s.SubnetID
		}
	}
	var vpc string
	for v := range vpcs {
		vpc = v
	}
	err = p.update(ctx, func(s *State) {
		s.VPCID = vpc
		if u.cfg.SubnetVisibility == clusterconfig.VisibilityPrivate {
			s.PrivateSubnets = m
		} else {
			s.PublicSubnets = m
		}
	})
	return fmt.Sprintf("%d existing subnets in %s", len(ids), vpc), err
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// natZones returns the zones that get a NAT gateway.
func natZones(cfg *clusterconfig.Config, zones []string) []string {
	switch {
	case cfg.SubnetVisibility != clusterconfig.VisibilityPrivate || cfg.NATGateway == clusterconfig.NATNone:
		return nil
	case cfg.NATGateway == clusterconfig.NATSingle:
		return zones[:1]
	}
	return zones
}

func (u *upper) natGateways(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	zones := natZones(u.cfg, st.Zones)
	if len(zones) == 0 {
		return "none", nil
	}
	addrs, err := p.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: p.ec2Filters(u.cfg.ClusterName, "")})
	if err != nil {
		return "", fmt.Errorf("find elastic IPs: %w", err)
	}
	eips := map[string]string{}
	for _, a := range addrs.Addresses {
		eips[tagValue(a.Tags, TagResource)] = aws.ToString(a.AllocationId)
	}
	nats, err := p.natGatewaysOf(ctx, u.cfg.ClusterName)
	if err != nil {
		return "", err
	}
	natByRes := map[string]string{}
	for _, n := range nats {
		if n.State == ec2types.NatGatewayStateDeleting || n.State == ec2types.NatGatewayStateDeleted || n.State == ec2types.NatGatewayStateFailed {
			continue
		}
		natByRes[tagValue(n.Tags, TagResource)] = aws.ToString(n.NatGatewayId)
	}
	var mu = make(chan struct{}, 1)
	gotEIPs, gotNATs := map[string]string{}, map[string]string{}
	g, gctx := errgroup.WithContext(ctx)
	for _, zone := range zones {
		zone := zone
		g.Go(func() error {
			alloc := eips["eip-"+zone]
			if alloc == "" {
				a, err := p.ec2.AllocateAddress(gctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc, TagSpecifications: u.ec2Tags(ec2types.ResourceTypeElasticIp, "eip-"+zone)})
				if err != nil {
					return fmt.Errorf("allocate elastic IP for the NAT gateway in %s: %w", zone, err)
				}
				alloc = aws.ToString(a.AllocationId)
			}
			mu <- struct{}{}
			gotEIPs[zone] = alloc
			<-mu
			if err := p.update(gctx, func(s *State) {
				if s.ElasticIPs == nil {
					s.ElasticIPs = map[string]string{}
				}
				s.ElasticIPs[zone] = alloc
			}); err != nil {
				return err
			}
			nat := natByRes["nat-"+zone]
			if nat == "" {
				c, err := p.ec2.CreateNatGateway(gctx, &ec2.CreateNatGatewayInput{SubnetId: aws.String(st.PublicSubnets[zone]), AllocationId: aws.String(alloc),
					TagSpecifications: u.ec2Tags(ec2types.ResourceTypeNatgateway, "nat-"+zone)})
				if err != nil {
					return fmt.Errorf("create NAT gateway in %s: %w", zone, err)
				}
				nat = aws.ToString(c.NatGateway.NatGatewayId)
			}
			mu <- struct{}{}
			gotNATs[zone] = nat
			<-mu
			if err := p.update(gctx, func(s *State) {
				if s.NATGateways == nil {
					s.NATGateways = map[string]string{}
				}
				s.NATGateways[zone] = nat
			}); err != nil {
				return err
			}
			return p.wait(gctx, stepNATGateways, "NAT gateway "+nat+" to be available", func(ctx context.Context) (bool, error) {
				d, err := p.ec2.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{nat}})
				if err != nil {
					return false, fmt.Errorf("describe NAT gateway %s: %w", nat, err)
				}
				if len(d.NatGateways) == 0 {
					return false, fmt.Errorf("NAT gateway %s disappeared", nat)
				}
				switch d.NatGateways[0].State {
				case ec2types.NatGatewayStateAvailable:
					return true, nil
				case ec2types.NatGatewayStateFailed, ec2types.NatGatewayStateDeleted, ec2types.NatGatewayStateDeleting:
					return false, fmt.Errorf("NAT gateway %s is %s: %s", nat, d.NatGateways[0].State, aws.ToString(d.NatGateways[0].FailureMessage))
				}
				return false, nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d NAT gateway(s)", len(gotNATs)), nil
}

func (u *upper) routeTables(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	out, err := p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: p.ec2Filters(u.cfg.ClusterName, "")})
	if err != nil {
		return "", fmt.Errorf("find route tables: %w", err)
	}
	byRes := map[string]ec2types.RouteTable{}
	for _, rt := range out.RouteTables {
		byRes[tagValue(rt.Tags, TagResource)] = rt
	}
	ensure := func(ctx context.Context, res string, subnets []string, route func(*ec2.CreateRouteInput)) (string, error) {
		rt, ok := byRes[res]
		if !ok {
			c, err := p.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(st.VPCID), TagSpecifications: u.ec2Tags(ec2types.ResourceTypeRouteTable, res)})
			if err != nil {
				return "", fmt.Errorf("create route table %s: %w", res, err)
			}
			rt = *c.RouteTable
		}
		id := aws.ToString(rt.RouteTableId)
		hasDefault := false
		for _, r := range rt.Routes {
			hasDefault = hasDefault || aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0"
		}
		if !hasDefault {
			in := &ec2.CreateRouteInput{RouteTableId: aws.String(id), DestinationCidrBlock: aws.String("0.0.0.0/0")}
			route(in)
			if _, err := p.ec2.CreateRoute(ctx, in); err != nil && !isCode(err, "RouteAlreadyExists") {
				return "", fmt.Errorf("add default route to %s: %w", id, err)
			}
		}
		associated := map[string]bool{}
		for _, a := range rt.Associations {
			associated[aws.ToString(a.SubnetId)] = true
		}
		for _, sn := range subnets {
			if associated[sn] {
				continue
			}
			if _, err := p.ec2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(id), SubnetId: aws.String(sn)}); err != nil {
				return "", fmt.Errorf("associate route table %s with subnet %s: %w", id, sn, err)
			}
		}
		return id, nil
	}
	var pubSubnets []string
	for _, z := range st.Zones {
		pubSubnets = append(pubSubnets, st.PublicSubnets[z])
	}
	pub, err := ensure(ctx, "rtb-public", pubSubnets, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(st.InternetGatewayID) })
	if err != nil {
		return "", err
	}
	if err := p.update(ctx, func(s *State) { s.PublicRouteTable = pub }); err != nil {
		return "", err
	}
	if len(st.PrivateSubnets) == 0 {
		return pub, nil
	}
	privs := map[string]string{}
	for _, z := range st.Zones {
		nat := st.NATGateways[z]
		if nat == "" {
			nat = st.NATGateways[st.Zones[0]]
		}
		id, err := ensure(ctx, "rtb-private-"+z, []string{st.PrivateSubnets[z]}, func(in *ec2.CreateRouteInput) { in.NatGatewayId = aws.String(nat) })
		if err != nil {
			return "", err
		}
		privs[z] = id
		if err := p.update(ctx, func(s *State) { s.PrivateRouteTables = privs }); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("public %s, %d private", pub, len(privs)), nil
}

// Security groups: the nodes', and one per load balancer admitting HTTPS (and HTTP, which the
// gateway redirects) from the configured allowlist.
func (u *upper) securityGroups(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	ids := map[string]string{}
	for _, sg := range []struct {
		res   string
		allow []string
	}{
		{"sg-nodes", nil},
		{"sg-operator-lb", u.cfg.OperatorLoadBalancerCIDRAllowlist},
		{"sg-api-lb", u.cfg.APILoadBalancerCIDRAllowlist},
	} {
		id, err := p.ensureSecurityGroup(ctx, u.cfg, st.VPCID, sg.res, u.ec2Tags(ec2types.ResourceTypeSecurityGroup, sg.res))
		if err != nil {
			return "", err
		}
		ids[strings.TrimPrefix(sg.res, "sg-")] = id
		if err := p.update(ctx, func(s *State) {
			if s.SecurityGroups == nil {
				s.SecurityGroups = map[string]string{}
			}
			s.SecurityGroups[strings.TrimPrefix(sg.res, "sg-")] = id
		}); err != nil {
			return "", err
		}
		if sg.allow != nil {
			if err := p.syncIngress(ctx, id, sg.allow); err != nil {
				return "", err
			}
		}
	}
	// The nodes accept everything from their own group and from the load balancers.
	var perms []ec2types.IpPermission
	for _, src := range []string{ids["nodes"], ids["operator-lb"], ids["api-lb"]} {
		perms = append(perms, ec2types.IpPermission{IpProtocol: aws.String("-1"), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(src)}}})
	}
	cur, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{ids["nodes"]}})
	if err != nil {
		return "", fmt.Errorf("describe security group %s: %w", ids["nodes"], err)
	}
	have := map[string]bool{}
	for _, g := range cur.SecurityGroups {
		for _, perm := range g.IpPermissions {
			for _, pair := range perm.UserIdGroupPairs {
				have[aws.ToString(pair.GroupId)] = true
			}
		}
	}
	var missing []ec2types.IpPermission
	for _, perm := range perms {
		if !have[aws.ToString(perm.UserIdGroupPairs[0].GroupId)] {
			missing = append(missing, perm)
		}
	}
	if len(missing) > 0 {
		if _, err := p.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(ids["nodes"]), IpPermissions: missing}); err != nil && !isCode(err, "InvalidPermission.Duplicate") {
			return "", fmt.Errorf("allow load balancers into the nodes' security group: %w", err)
		}
	}
	return fmt.Sprintf("nodes %s, operator-lb %s, api-lb %s", ids["nodes"], ids["operator-lb"], ids["api-lb"]), nil
}

func (p *Provisioner) ensureSecurityGroup(ctx context.Context, cfg *clusterconfig.Config, vpc, res string, tags []ec2types.TagSpecification) (string, error) {
	out, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: append(p.ec2Filters(cfg.ClusterName, res),
		ec2types.Filter{Name: aws.String("vpc-id"), Values: []string{vpc}})})
	if err != nil {
		return "", fmt.Errorf("find security group %s: %w", res, err)
	}
	if len(out.SecurityGroups) > 0 {
		return aws.ToString(out.SecurityGroups[0].GroupId), nil
	}
	c, err := p.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(cfg.ClusterName + "-" + res), VpcId: aws.String(vpc),
		Description: aws.String("cortex " + cfg.ClusterName + " " + res), TagSpecifications: tags})
	if err != nil {
		return "", fmt.Errorf("create security group %s: %w", res, err)
	}
	return aws.ToString(c.GroupId), nil
}

var lbPorts = []int32{80, 443}

// syncIngress makes the group admit exactly cidrs on the load balancer ports.
func (p *Provisioner) syncIngress(ctx context.Context, group string, cidrs []string) error {
	cur, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group}})
	if err != nil {
		return fmt.Errorf("describe security group %s: %w", group, err)
	}
	have := map[string]bool{}
	for _, g := range cur.SecurityGroups {
		for _, perm := range g.IpPermissions {
			for _, r := range perm.IpRanges {
				have[fmt.Sprintf("%d/%s", aws.ToInt32(perm.FromPort), aws.ToString(r.CidrIp))] = true
			}
		}
	}
	want := map[string]bool{}
	var add, remove []ec2types.IpPermission
	for _, port := range lbPorts {
		for _, c := range cidrs {
			k := fmt.Sprintf("%d/%s", port, c)
			want[k] = true
			if !have[k] {
				add = append(add, ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), IpRanges: []ec2types.IpRange{{CidrIp: aws.String(c)}}})
			}
		}
	}
	for k := range have {
		if !want[k] {
			var port int32
			var c string
			if _, err := fmt.Sscanf(strings.Replace(k, "/", " ", 1), "%d %s", &port, &c); err == nil {
				remove = append(remove, ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), IpRanges: []ec2types.IpRange{{CidrIp: aws.String(c)}}})
			}
		}
	}
	if len(add) > 0 {
		if _, err := p.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: add}); err != nil && !isCode(err, "InvalidPermission.Duplicate") {
			return fmt.Errorf("allow %v into %s: %w", cidrs, group, err)
		}
	}
	if len(remove) > 0 {
		if _, err := p.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: remove}); err != nil {
			return fmt.Errorf("revoke old ranges from %s: %w", group, err)
		}
	}
	return nil
}

// ---- IAM roles ----

func trustPolicy(service string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole"}]}`
}

func (u *upper) roles(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	managed := func(names []string) []string {
		var out []string
		for _, n := range names {
			out = append(out, fmt.Sprintf("arn:%s:iam::aws:policy/%s", st.Partition, n))
		}
		return out
	}
	clusterARN, err := p.ensureRole(ctx, u.names.ClusterRole, "eks.amazonaws.com", managed(clusterRoleManaged), u.tags("role-cluster"))
	if err != nil {
		return "", err
	}
	nodePolicies := append(managed(nodeRoleManaged), u.names.PolicyARN)
	nodePolicies = append(nodePolicies, u.cfg.IAMPolicyARNs...)
	nodeARN, err := p.ensureRole(ctx, u.names.NodeRole, "ec2.amazonaws.com", nodePolicies, u.tags("role-node"))
	if err != nil {
		return "", err
	}
	return u.names.ClusterRole + ", " + u.names.NodeRole, p.update(ctx, func(s *State) {
		s.ClusterRoleARN, s.NodeRoleARN, s.NodeRolePolicy = clusterARN, nodeARN, nodePolicies
	})
}

func (p *Provisioner) ensureRole(ctx context.Context, name, service string, policies []string, tags map[string]string) (string, error) {
	var arn string
	got, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	switch {
	case err == nil:
		arn = aws.ToString(got.Role.Arn)
	case isCode(err, "NoSuchEntity"):
		var t []iamtypes.Tag
		for _, k := range sortedTagKeys(tags) {
			t = append(t, iamtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		c, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trustPolicy(service)), Tags: t})
		if err != nil {
			return "", fmt.Errorf("create role %s: %w", name, err)
		}
		arn = aws.ToString(c.Role.Arn)
	default:
		return "", fmt.Errorf("get role %s: %w", name, err)
	}
	attached, err := p.attachedRolePolicies(ctx, name)
	if err != nil {
		return "", err
	}
	for _, pol := range policies {
		if attached[pol] {
			continue
		}
		if _, err := p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(pol)}); err != nil {
			return "", fmt.Errorf("attach %s to role %s: %w", pol, name, err)
		}
	}
	return arn, nil
}

func (p *Provisioner) attachedRolePolicies(ctx context.Context, role string) (map[string]bool, error) {
	out := map[string]bool{}
	pg := iam.NewListAttachedRolePoliciesPaginator(p.iam, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list policies of role %s: %w", role, err)
		}
		for _, a := range page.AttachedPolicies {
			out[aws.ToString(a.PolicyArn)] = true
		}
	}
	return out, nil
}

// ---- EKS ----

func allSubnets(st *State) []string {
	var out []string
	for _, z := range st.Zones {
		if id := st.PublicSubnets[z]; id != "" {
			out = append(out, id)
		}
		if id := st.PrivateSubnets[z]; id != "" {
			out = append(out, id)
		}
	}
	return out
}

// nodeSubnets are where instances run: the private subnets if any, else the public ones.
func nodeSubnets(st *State) []string {
	var out []string
	for _, z := range st.Zones {
		if id := st.PrivateSubnets[z]; id != "" {
			out = append(out, id)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, z := range st.Zones {
		if id := st.PublicSubnets[z]; id != "" {
			out = append(out, id)
		}
	}
	return out
}

// clusterAccessConfig is how IAM identities reach Kubernetes: access entries (the EKS API, what
// `cortex cluster access grant` manages) and the aws-auth ConfigMap both work, and the creator (the
// spin-up identity) gets an access entry with AmazonEKSClusterAdminPolicy, as the seeds' creator
// was system:masters. The API's default is CONFIG_MAP, where access entries cannot be made, so it
// is sent explicitly.
func clusterAccessConfig() *ekstypes.CreateAccessConfigRequest {
	return &ekstypes.CreateAccessConfigRequest{
		AuthenticationMode:                      ekstypes.AuthenticationModeApiAndConfigMap,
		BootstrapClusterCreatorAdminPermissions: aws.Bool(true),
	}
}

func (u *upper) eksCluster(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	name := u.names.EKSCluster
	_, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if isCode(err, "ResourceNotFoundException") {
		_, err = p.eks.CreateCluster(ctx, &eks.CreateClusterInput{
			Name:    aws.String(name),
			RoleArn: aws.String(st.ClusterRoleARN),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{
				SubnetIds: allSubnets(st), SecurityGroupIds: []string{st.SecurityGroups["nodes"]},
				EndpointPrivateAccess: aws.Bool(true), EndpointPublicAccess: aws.Bool(true),
			},
			AccessConfig: clusterAccessConfig(),
			Tags:         u.tags("eks-cluster"),
		})
		if err != nil && !isCode(err, "ResourceInUseException") {
			return "", fmt.Errorf("create EKS cluster %s: %w", name, err)
		}
	} else if err != nil {
		return "", fmt.Errorf("describe EKS cluster %s: %w", name, err)
	}
	var endpoint string
	err = p.wait(ctx, stepEKSCluster, "EKS cluster "+name+" to be active (real AWS: 10-15 minutes)", func(ctx context.Context) (bool, error) {
		d, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if err != nil {
			return false, fmt.Errorf("describe EKS cluster %s: %w", name, err)
		}
		switch d.Cluster.Status {
		case ekstypes.ClusterStatusActive:
			endpoint = aws.ToString(d.Cluster.Endpoint)
			return true, nil
		case ekstypes.ClusterStatusFailed, ekstypes.ClusterStatusDeleting:
			return false, fmt.Errorf("EKS cluster %s is %s", name, d.Cluster.Status)
		}
		return false, nil
	})
	if err != nil {
		return "", err
	}
	return name, p.update(ctx, func(s *State) { s.EKSCluster, s.EKSEndpoint = name, endpoint })
}

func (u *upper) nodeGroups(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	g, gctx := errgroup.WithContext(ctx)
	arns := make([]string, len(u.cfg.NodeGroups))
	for i, ng := range u.cfg.NodeGroups {
		i, ng := i, ng
		g.Go(func() error {
			_, err := p.eks.DescribeNodegroup(gctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng.Name)})
			if isCode(err, "ResourceNotFoundException") {
				capacity := ekstypes.CapacityTypesOnDemand
				if ng.Spot {
					capacity = ekstypes.CapacityTypesSpot
				}
				desired := int32(ng.Min())
				if desired < 1 && ng.Max() > 0 {
					desired = 0
				}
				_, err = p.eks.CreateNodegroup(gctx, &eks.CreateNodegroupInput{
					ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng.Name), NodeRole: aws.String(st.NodeRoleARN),
					Subnets: nodeSubnets(st), InstanceTypes: []string{ng.InstanceType}, CapacityType: capacity,
					ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(int32(ng.Min())), MaxSize: aws.Int32(int32(ng.Max())), DesiredSize: aws.Int32(desired)},
					Tags:          u.tags("nodegroup-" + ng.Name),
				})
				if err != nil && !isCode(err, "ResourceInUseException") {
					return fmt.Errorf("create node group %s: %w", ng.Name, err)
				}
			} else if err != nil {
				return fmt.Errorf("describe node group %s: %w", ng.Name, err)
			}
			return p.wait(gctx, stepNodeGroups, "node group "+ng.Name+" to be active", func(ctx context.Context) (bool, error) {
				d, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng.Name)})
				if err != nil {
					return false, fmt.Errorf("describe node group %s: %w", ng.Name, err)
				}
				switch d.Nodegroup.Status {
				case ekstypes.NodegroupStatusActive:
					arns[i] = aws.ToString(d.Nodegroup.NodegroupArn)
					return true, nil
				case ekstypes.NodegroupStatusCreateFailed, ekstypes.NodegroupStatusDegraded, ekstypes.NodegroupStatusDeleting:
					return false, fmt.Errorf("node group %s is %s", ng.Name, d.Nodegroup.Status)
				}
				return false, nil
			})
		})
	}
	err := g.Wait()
	m := map[string]string{}
	for i, ng := range u.cfg.NodeGroups {
		if arns[i] != "" {
			m[ng.Name] = arns[i]
		}
	}
	if uerr := p.update(ctx, func(s *State) { s.NodeGroups = m }); err == nil {
		err = uerr
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d node group(s)", len(m)), nil
}

// ---- load balancers ----

// lbSubnets: internet-facing load balancers live in the public subnets; internal ones in the
// private subnets when there are any.
func lbSubnets(st *State, scheme string) []string {
	var out []string
	for _, z := range st.Zones {
		id := st.PublicSubnets[z]
		if scheme == clusterconfig.SchemeInternal && st.PrivateSubnets[z] != "" {
			id = st.PrivateSubnets[z]
		}
		if id == "" {
			id = st.PrivateSubnets[z]
		}
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func (u *upper) loadBalancers(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	g, gctx := errgroup.WithContext(ctx)
	lbs := make([]*LoadBalancer, 2)
	for i, spec := range []struct{ name, kind, scheme, sg string }{
		{u.names.OperatorLB, "operator", u.cfg.OperatorLoadBalancerScheme, st.SecurityGroups["operator-lb"]},
		{u.names.APILB, "api", u.cfg.APILoadBalancerScheme, st.SecurityGroups["api-lb"]},
	} {
		i, spec := i, spec
		g.Go(func() error {
			lb, err := p.findLoadBalancer(gctx, spec.name)
			if err != nil {
				return err
			}
			subnets := lbSubnets(st, spec.scheme)
			if lb == nil {
				t := u.tags("lb-" + spec.kind)
				var tags []elbtypes.Tag
				for _, k := range sortedTagKeys(t) {
					tags = append(tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(t[k])})
				}
				c, err := p.elb.CreateLoadBalancer(gctx, &elb.CreateLoadBalancerInput{
					Name: aws.String(spec.name), Type: elbtypes.LoadBalancerTypeEnumNetwork, Scheme: elbtypes.LoadBalancerSchemeEnum(spec.scheme),
					Subnets: subnets, SecurityGroups: []string{spec.sg}, IpAddressType: elbtypes.IpAddressTypeIpv4, Tags: tags,
				})
				if err != nil {
					return fmt.Errorf("create %s load balancer %s: %w", spec.kind, spec.name, err)
				}
				lb = &c.LoadBalancers[0]
			} else if string(lb.Scheme) != spec.scheme {
				return fmt.Errorf("%s load balancer %s exists with scheme %s, but the config says %s (the scheme cannot change; run `cortex cluster down` first)", spec.kind, spec.name, lb.Scheme, spec.scheme)
			}
			arn := aws.ToString(lb.LoadBalancerArn)
			err = p.wait(gctx, stepLoadBalancers, spec.kind+" load balancer to be active", func(ctx context.Context) (bool, error) {
				cur, err := p.findLoadBalancer(ctx, spec.name)
				if err != nil {
					return false, err
				}
				if cur == nil {
					return false, fmt.Errorf("load balancer %s disappeared", spec.name)
				}
				lb = cur
				if cur.State == nil {
					return true, nil
				}
				switch cur.State.Code {
				case elbtypes.LoadBalancerStateEnumActive, elbtypes.LoadBalancerStateEnumActiveImpaired:
					return true, nil
				case elbtypes.LoadBalancerStateEnumFailed:
					return false, fmt.Errorf("load balancer %s failed: %s", spec.name, aws.ToString(cur.State.Reason))
				}
				return false, nil
			})
			if err != nil {
				return err
			}
			var sns []string
			for _, az := range lb.AvailabilityZones {
				sns = append(sns, aws.ToString(az.SubnetId))
			}
			lbs[i] = &LoadBalancer{Name: spec.name, ARN: arn, DNSName: aws.ToString(lb.DNSName), Scheme: string(lb.Scheme), Subnets: sns}
			return p.update(gctx, func(s *State) {
				if spec.kind == "operator" {
					s.OperatorLoadBalancer = lbs[i]
				} else {
					s.APILoadBalancer = lbs[i]
				}
			})
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return fmt.Sprintf("operator %s (%s), api %s (%s)", lbs[0].DNSName, lbs[0].Scheme, lbs[1].DNSName, lbs[1].Scheme), nil
}

func (p *Provisioner) findLoadBalancer(ctx context.Context, name string) (*elbtypes.LoadBalancer, error) {
	out, err := p.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{name}})
	if isCode(err, "LoadBalancerNotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe load balancer %s: %w", name, err)
	}
	if len(out.LoadBalancers) == 0 {
		return nil, nil
	}
	return &out.LoadBalancers[0], nil
}

type ekstypesScaling = ekstypes.NodegroupScalingConfig

func (p *Provisioner) ensureRolePolicies(ctx context.Context, role string, policies []string) error {
	attached, err := p.attachedRolePolicies(ctx, role)
	if err != nil {
		return err
	}
	for _, pol := range policies {
		if attached[pol] {
			continue
		}
		if _, err := p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(pol)}); err != nil {
			return fmt.Errorf("attach %s to role %s: %w", pol, role, err)
		}
	}
	return nil
}

func (p *Provisioner) detachRolePolicy(ctx context.Context, role, policy string) error {
	if _, err := p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(policy)}); err != nil && !isCode(err, "NoSuchEntity") {
		return fmt.Errorf("detach %s from role %s: %w", policy, role, err)
	}
	return nil
}
