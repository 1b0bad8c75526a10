package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
)

// Info is what `cortex cluster info` shows.
type Info struct {
	State            *State `json:"state"`
	OperatorEndpoint string `json:"operator_endpoint,omitempty"`
	APIEndpoint      string `json:"api_endpoint,omitempty"`
	// APILoadBalancerDNSName is where api_domain must point (CNAME or alias).
	APILoadBalancerDNSName string            `json:"api_load_balancer_dns_name,omitempty"`
	EKSStatus              string            `json:"eks_status,omitempty"`
	NodeGroupStatus        map[string]string `json:"node_group_status,omitempty"`
	OperatorLBState        string            `json:"operator_load_balancer_state,omitempty"`
	APILBState             string            `json:"api_load_balancer_state,omitempty"`
	NodeRolePolicies       []string          `json:"node_role_policies,omitempty"`
	DefaultPolicyARN       string            `json:"default_policy_arn,omitempty"`
	ExtraPolicyARNs        []string          `json:"iam_policy_arns,omitempty"`
	OperatorLBScheme       string            `json:"operator_load_balancer_scheme,omitempty"`
	APILBScheme            string            `json:"api_load_balancer_scheme,omitempty"`
	CreatorARN             string            `json:"creator_arn,omitempty"`
	SubnetVisibility       string            `json:"subnet_visibility,omitempty"`
	NATGatewaySetting      string            `json:"nat_gateway,omitempty"`
	// Install is the state of cortex in the EKS cluster (nil when `up` installed nothing).
	Install *InstallInfo `json:"install,omitempty"`
	// AccessEntries is who has Kubernetes access, read as `cortex cluster access list` reads it
	// (kubeaccess.AccessEntries); AccessEntriesError says why it could not be read.
	AccessEntries      []kubeaccess.Grant `json:"access_entries"`
	AccessEntriesError string             `json:"access_entries_error,omitempty"`
	// APIRoles are the EKS Pod Identity associations of the APIs' namespace: each API's
	// ServiceAccount and its IAM role (APIs without one have no association and no AWS identity).
	APIRoles      []APIRole `json:"api_roles"`
	APIRolesError string    `json:"api_roles_error,omitempty"`
}

// APIRole is one API's AWS identity: its ServiceAccount's pod identity association.
type APIRole struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"service_account"`
	RoleARN        string `json:"role_arn"`
	AssociationID  string `json:"association_id"`
}

// ErrNoCluster is returned when no state exists for the cluster.
type ErrNoCluster struct{ Name, Region string }

func (e *ErrNoCluster) Error() string {
	return fmt.Sprintf("no cluster named %s in %s (no state in the CLI cache or in the cluster's bucket)", e.Name, e.Region)
}

// Info reads the state and the live status of the EKS cluster, node groups and load balancers.
func (p *Provisioner) Info(ctx context.Context, clusterName string) (*Info, error) {
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.LoadState(ctx, id, clusterName)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, &ErrNoCluster{clusterName, p.region}
	}
	info := &Info{State: st, CreatorARN: st.CreatorARN, DefaultPolicyARN: st.PolicyARN, NodeRolePolicies: st.NodeRolePolicy}
	if st.Config != nil {
		info.ExtraPolicyARNs = st.Config.IAMPolicyARNs
		info.OperatorLBScheme = st.Config.OperatorLoadBalancerScheme
		info.APILBScheme = st.Config.APILoadBalancerScheme
		info.SubnetVisibility = st.Config.SubnetVisibility
		info.NATGatewaySetting = st.Config.NATGateway
	}
	if lb := st.OperatorLoadBalancer; lb != nil {
		info.OperatorEndpoint = "https://" + lb.DNSName
		if cur, err := p.findLoadBalancer(ctx, lb.Name); err == nil && cur != nil && cur.State != nil {
			info.OperatorLBState = string(cur.State.Code)
		} else if err == nil {
			info.OperatorLBState = "missing"
		}
	}
	info.APIEndpoint, info.APILoadBalancerDNSName = apiEndpoint(st)
	if lb := st.APILoadBalancer; lb != nil {
		if cur, err := p.findLoadBalancer(ctx, lb.Name); err == nil && cur != nil && cur.State != nil {
			info.APILBState = string(cur.State.Code)
		} else if err == nil {
			info.APILBState = "missing"
		}
	}
	if st.EKSCluster != "" {
		if c, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(st.EKSCluster)}); err == nil {
			info.EKSStatus = string(c.Cluster.Status)
			info.NodeGroupStatus = map[string]string{}
			if st.Config != nil {
				for _, ng := range st.Config.NodeGroups {
					if d, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng.Name)}); err == nil {
						info.NodeGroupStatus[ng.Name] = string(d.Nodegroup.Status)
					} else {
						info.NodeGroupStatus[ng.Name] = "missing"
					}
				}
			}
		} else if isCode(err, "ResourceNotFoundException") {
			info.EKSStatus = "missing"
		}
	}
	if st.Kubernetes != nil && info.EKSStatus != "missing" {
		info.Install = p.installInfo(ctx, st)
	}
	if st.EKSCluster != "" && info.EKSStatus != "missing" {
		// What cannot be read is said, not hidden: info shows the rest of the cluster either way.
		apis := apisNamespace(st)
		entries := &kubeaccess.AccessEntries{EKS: p.eks, Cluster: st.EKSCluster, Namespaces: []string{apis}}
		if info.AccessEntries, err = entries.List(ctx); err != nil {
			info.AccessEntriesError = err.Error()
		}
		if info.APIRoles, err = p.apiRoles(ctx, st.EKSCluster, apis); err != nil {
			info.APIRolesError = err.Error()
		}
	}
	return info, nil
}

// apisNamespace is where the cluster's APIs run (the install's, else the install's default).
func apisNamespace(st *State) string {
	if st.Kubernetes != nil && st.Kubernetes.APIsNamespace != "" {
		return st.Kubernetes.APIsNamespace
	}
	return install.DefaultNamespace + "-apis"
}

// apiRoles lists the pod identity associations of the APIs' namespace with their roles (the
// listing has no role: each association is described).
func (p *Provisioner) apiRoles(ctx context.Context, cluster, namespace string) ([]APIRole, error) {
	var out []APIRole
	pg := eks.NewListPodIdentityAssociationsPaginator(p.eks, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster), Namespace: aws.String(namespace)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the pod identity associations of EKS cluster %s: %w", cluster, err)
		}
		for _, a := range page.Associations {
			if aws.ToString(a.Namespace) != namespace {
				continue
			}
			d, err := p.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: a.AssociationId})
			if isCode(err, "ResourceNotFoundException") {
				continue // deleted since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("describe pod identity association %s: %w", aws.ToString(a.AssociationId), err)
			}
			out = append(out, APIRole{Namespace: namespace, ServiceAccount: aws.ToString(a.ServiceAccount),
				RoleARN: aws.ToString(d.Association.RoleArn), AssociationID: aws.ToString(a.AssociationId)})
		}
	}
	return out, nil
}

// PlanConfigure returns what Configure would change (the diff against the running cluster's
// configuration), changing nothing.
func (p *Provisioner) PlanConfigure(ctx context.Context, cfg *clusterconfig.Config) ([]clusterconfig.Change, error) {
	_, st, changes, err := p.planConfigure(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// A new certificate or api_domain is checked against ACM as Configure would.
	if st.Config.SSLCertificateARN != cfg.SSLCertificateARN || st.Config.APIDomain != cfg.APIDomain {
		if _, err := p.APIDomain(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

func (p *Provisioner) planConfigure(ctx context.Context, cfg *clusterconfig.Config) (*Identity, *State, []clusterconfig.Change, error) {
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := p.LoadState(ctx, id, cfg.ClusterName)
	if err != nil {
		return nil, nil, nil, err
	}
	if st == nil {
		return nil, nil, nil, &ErrNoCluster{cfg.ClusterName, p.region}
	}
	if st.Status != StatusReady {
		return nil, nil, nil, fmt.Errorf("cluster %s is %s, not ready: run `cortex cluster up` to finish creating it first", cfg.ClusterName, st.Status)
	}
	changes, err := clusterconfig.Diff(st.Config, cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot apply this configuration to the running cluster:\n%w", err)
	}
	// Checked before anything changes (and in a dry run): the operator role's policy fits IAM's
	// quota, and no deployed API uses an ARN that api_iam drops.
	if err := CheckOperatorPolicy(id.Partition, id.Account, cfg, p.region); err != nil {
		return nil, nil, nil, fmt.Errorf("nothing was changed: %w", err)
	}
	if err := p.checkAPIIAMInUse(ctx, st, cfg.APIIAM); err != nil {
		return nil, nil, nil, err
	}
	// access: relative to what cluster.yaml applied (ApplyAccess applies it).
	if err := checkAccessCreator(st.CreatorARN, cfg.Access); err != nil {
		return nil, nil, nil, fmt.Errorf("nothing was changed: %w", err)
	}
	changes = append(changes, clusterconfig.AccessChanges(st.AccessApplied, cfg.Access)...)
	return id, st, changes, nil
}

// Configure applies the fields of cfg that may change on a running cluster (node group sizes,
// CIDR allowlists, certificate, iam_policy_arns, api_iam, auth_mode, access) and refuses every other difference
// before changing anything.
func (p *Provisioner) Configure(ctx context.Context, cfg *clusterconfig.Config) ([]clusterconfig.Change, error) {
	id, st, changes, err := p.planConfigure(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.state = st
	names := NamesFor(id.Partition, id.Account, cfg.ClusterName, p.region)
	old := st.Config
	// A new certificate or api_domain is checked before anything changes.
	tlsChanged := old.SSLCertificateARN != cfg.SSLCertificateARN || old.APIDomain != cfg.APIDomain
	apiDomain := st.APIDomain
	if tlsChanged {
		if apiDomain, err = p.APIDomain(ctx, cfg); err != nil {
			return nil, fmt.Errorf("nothing was changed: %w", err)
		}
	}
	for _, ng := range cfg.NodeGroups {
		var before clusterconfig.NodeGroup
		for _, o := range old.NodeGroups {
			if o.Name == ng.Name {
				before = o
			}
		}
		if before.Min() == ng.Min() && before.Max() == ng.Max() {
			continue
		}
		desired := int32(ng.Min())
		if cur, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng.Name)}); err == nil && cur.Nodegroup.ScalingConfig != nil {
			d := aws.ToInt32(cur.Nodegroup.ScalingConfig.DesiredSize)
			if d >= int32(ng.Min()) && d <= int32(ng.Max()) {
				desired = d
			}
		}
		if _, err := p.eks.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng.Name),
			ScalingConfig: &ekstypesScaling{MinSize: aws.Int32(int32(ng.Min())), MaxSize: aws.Int32(int32(ng.Max())), DesiredSize: aws.Int32(desired)}}); err != nil {
			return nil, fmt.Errorf("node_groups[%s]: %w", ng.Name, err)
		}
		p.emit(Event{Step: "configure", Phase: PhaseDone, Detail: fmt.Sprintf("node group %s: min %d, max %d", ng.Name, ng.Min(), ng.Max())})
	}
	if sg := st.SecurityGroups["operator-lb"]; sg != "" {
		if err := p.syncIngress(ctx, sg, cfg.OperatorLoadBalancerCIDRAllowlist); err != nil {
			return nil, fmt.Errorf("operator_load_balancer_cidr_allowlist: %w", err)
		}
	}
	if sg := st.SecurityGroups["api-lb"]; sg != "" {
		if err := p.syncIngress(ctx, sg, cfg.APILoadBalancerCIDRAllowlist); err != nil {
			return nil, fmt.Errorf("api_load_balancer_cidr_allowlist: %w", err)
		}
	}
	// ssl_certificate_arn and api_domain: the API load balancer's listener follows the
	// certificate, and the gateway's public endpoint (what tokens are bound to and what the
	// operator reports, with endpoint_tls) follows the domain.
	if tlsChanged {
		if err := p.update(ctx, func(s *State) { s.APIDomain = apiDomain }); err != nil {
			return nil, err
		}
		if st.Kubernetes != nil {
			u := &upper{p: p, cfg: cfg, names: names}
			if _, err := u.listeners(ctx); err != nil {
				return nil, fmt.Errorf("ssl_certificate_arn: %w", err)
			}
			if _, err := u.kubeInstall(ctx); err != nil {
				return nil, fmt.Errorf("ssl_certificate_arn: the gateway's public endpoint: %w", err)
			}
		}
	}
	// api_iam: the operator's allowlist and its role's policy, then the operator's rollout.
	if st.APIIAMPending || !slices.Equal(old.APIIAM.PolicyARNs, cfg.APIIAM.PolicyARNs) || !slices.Equal(old.APIIAM.RoleARNs, cfg.APIIAM.RoleARNs) {
		u := &upper{p: p, cfg: cfg, names: names}
		if err := u.configureAPIIAM(ctx, old.APIIAM); err != nil {
			return nil, fmt.Errorf("api_iam (run configure again to finish): %w", err)
		}
	}
	// auth_mode and account_role: the operator's arguments, then its rollout.
	if old.Auth() != cfg.Auth() {
		u := &upper{p: p, cfg: cfg, names: names}
		if err := u.configureAuth(ctx); err != nil {
			return nil, fmt.Errorf("auth_mode (run configure again to finish): %w", err)
		}
	}
	// iam_policy_arns: attach the new ones, detach the ones removed from the config.
	want := map[string]bool{}
	for _, a := range cfg.IAMPolicyARNs {
		want[a] = true
	}
	if err := p.ensureRolePolicies(ctx, names.NodeRole, cfg.IAMPolicyARNs); err != nil {
		return nil, fmt.Errorf("iam_policy_arns: %w", err)
	}
	for _, a := range old.IAMPolicyARNs {
		if !want[a] {
			if err := p.detachRolePolicy(ctx, names.NodeRole, a); err != nil {
				return nil, fmt.Errorf("iam_policy_arns: %w", err)
			}
		}
	}
	err = p.checkpoint(ctx, func(s *State) {
		s.Config, s.APIIAMPending = cfg, false
		pols := []string{}
		for _, a := range s.NodeRolePolicy {
			if !contains(old.IAMPolicyARNs, a) {
				pols = append(pols, a)
			}
		}
		s.NodeRolePolicy = append(pols, cfg.IAMPolicyARNs...)
	})
	return changes, err
}
