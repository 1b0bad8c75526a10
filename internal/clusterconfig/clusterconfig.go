// Package clusterconfig is the schema of an AWS cluster's cluster.yaml: parsing, defaults,
// validation (every error names the field and says what is allowed), the fields that may change on
// a running cluster, and the commented example printed by `cortex cluster example-config`.
package clusterconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// Values of the enumerated fields.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"

	NATNone            = "none"
	NATSingle          = "single"
	NATHighlyAvailable = "highly_available"

	SchemeInternetFacing = "internet-facing"
	SchemeInternal       = "internal"

	DefaultClusterName = "cortex"
	DefaultRegion      = "us-east-1"
	DefaultVPCCIDR     = "192.168.0.0/16"
)

// Subnet is an existing subnet the cluster should use instead of creating a VPC.
type Subnet struct {
	AvailabilityZone string `json:"availability_zone"`
	SubnetID         string `json:"subnet_id"`
}

// NodeGroup is one EKS managed node group.
type NodeGroup struct {
	Name         string `json:"name"`
	InstanceType string `json:"instance_type"`
	MinInstances *int   `json:"min_instances,omitempty"`
	MaxInstances *int   `json:"max_instances,omitempty"`
	Spot         bool   `json:"spot,omitempty"`
}

// Min returns min_instances (after defaults it is always set).
func (n NodeGroup) Min() int { return deref(n.MinInstances) }

// Max returns max_instances (after defaults it is always set).
func (n NodeGroup) Max() int { return deref(n.MaxInstances) }

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// AccessRule grants an IAM principal (an account id, or an IAM user or role ARN) a role on the
// cluster's operator: read, deploy or admin.
type AccessRule struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
}

// Config is cluster.yaml.
type Config struct {
	ClusterName                       string            `json:"cluster_name"`
	Region                            string            `json:"region"`
	AvailabilityZones                 []string          `json:"availability_zones,omitempty"`
	Subnets                           []Subnet          `json:"subnets,omitempty"`
	VPCCIDR                           string            `json:"vpc_cidr,omitempty"`
	SubnetVisibility                  string            `json:"subnet_visibility"`
	NATGateway                        string            `json:"nat_gateway"`
	OperatorLoadBalancerScheme        string            `json:"operator_load_balancer_scheme"`
	APILoadBalancerScheme             string            `json:"api_load_balancer_scheme"`
	OperatorLoadBalancerCIDRAllowlist []string          `json:"operator_load_balancer_cidr_allowlist"`
	APILoadBalancerCIDRAllowlist      []string          `json:"api_load_balancer_cidr_allowlist"`
	IAMPolicyARNs                     []string          `json:"iam_policy_arns"`
	SSLCertificateARN                 string            `json:"ssl_certificate_arn,omitempty"`
	Tags                              map[string]string `json:"tags,omitempty"`
	NodeGroups                        []NodeGroup       `json:"node_groups"`
	Access                            []AccessRule      `json:"access,omitempty"`
}

// reserved are fields cortex sets itself; a cluster.yaml that sets them is refused.
var reserved = map[string]string{
	"account_id":  "the AWS account of the credentials used by `cortex cluster up`",
	"bucket":      "<cluster_name>-<hash of account and region>",
	"policy_arn":  "the default policy cortex-<cluster_name>-<region>",
	"cluster_id":  "a random id made by `cortex cluster up`",
	"log_group":   "the cluster's name",
	"creator_arn": "the identity that ran `cortex cluster up`",
}

func allowedFields() []string {
	var names []string
	t := strings.Split(fieldList, ",")
	names = append(names, t...)
	sort.Strings(names)
	return names
}

const fieldList = "cluster_name,region,availability_zones,subnets,vpc_cidr,subnet_visibility,nat_gateway," +
	"operator_load_balancer_scheme,api_load_balancer_scheme,operator_load_balancer_cidr_allowlist," +
	"api_load_balancer_cidr_allowlist,iam_policy_arns,ssl_certificate_arn,tags,node_groups,access"

// Load reads, defaults and validates a cluster.yaml file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (or JSON), refuses unknown and system-owned fields, applies the defaults and
// validates. All problems are reported together.
func Parse(data []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("cluster config is not valid YAML: %w", err)
	}
	if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
		js = []byte("{}")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, errors.New("cluster config must be a YAML mapping of field: value")
	}
	var errs []error
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	known := map[string]bool{}
	for _, k := range allowedFields() {
		known[k] = true
	}
	for _, k := range keys {
		if what, ok := reserved[k]; ok {
			errs = append(errs, fmt.Errorf("%s: set by cortex (%s), not by cluster.yaml; remove it", k, what))
			delete(top, k)
		} else if !known[k] {
			errs = append(errs, fmt.Errorf("%s: unknown field; allowed fields are %s", k, strings.Join(allowedFields(), ", ")))
			delete(top, k)
		}
	}
	c := &Config{}
	for _, k := range keys {
		raw, ok := top[k]
		if !ok {
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: raw})
		dec := json.NewDecoder(bytes.NewReader(one))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", k, describeDecodeError(k, err)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func describeDecodeError(field string, err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	switch field {
	case "subnets":
		return msg + " (use a list of {availability_zone, subnet_id})"
	case "node_groups":
		return msg + " (use a list of {name, instance_type, min_instances, max_instances, spot})"
	case "access":
		return msg + " (use a list of {principal, role})"
	case "tags":
		return msg + " (use a mapping of string keys to string values)"
	}
	return msg
}

// ApplyDefaults fills in every field the user left out.
func (c *Config) ApplyDefaults() {
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.VPCCIDR == "" && len(c.Subnets) == 0 {
		c.VPCCIDR = DefaultVPCCIDR
	}
	if c.SubnetVisibility == "" {
		c.SubnetVisibility = VisibilityPublic
	}
	if c.NATGateway == "" && len(c.Subnets) == 0 {
		if c.SubnetVisibility == VisibilityPrivate {
			c.NATGateway = NATSingle
		} else {
			c.NATGateway = NATNone
		}
	}
	if c.OperatorLoadBalancerScheme == "" {
		c.OperatorLoadBalancerScheme = SchemeInternetFacing
	}
	if c.APILoadBalancerScheme == "" {
		c.APILoadBalancerScheme = SchemeInternetFacing
	}
	if c.OperatorLoadBalancerCIDRAllowlist == nil {
		c.OperatorLoadBalancerCIDRAllowlist = []string{"0.0.0.0/0"}
	}
	if c.APILoadBalancerCIDRAllowlist == nil {
		c.APILoadBalancerCIDRAllowlist = []string{"0.0.0.0/0"}
	}
	if c.IAMPolicyARNs == nil {
		c.IAMPolicyARNs = []string{}
	}
	if len(c.NodeGroups) == 0 {
		c.NodeGroups = []NodeGroup{{Name: "ng-cpu", InstanceType: "m5.large"}}
	}
	for i := range c.NodeGroups {
		ng := &c.NodeGroups[i]
		if ng.MinInstances == nil {
			v := 1
			ng.MinInstances = &v
		}
		if ng.MaxInstances == nil {
			v := 5
			if ng.Min() > v {
				v = ng.Min()
			}
			ng.MaxInstances = &v
		}
	}
}

var (
	clusterNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,52}[a-z0-9]$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$`)
	subnetIDRE     = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	policyARNRE    = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::(aws|[0-9]{12}):policy/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	certARNRE      = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:acm:([a-z0-9-]+):[0-9]{12}:certificate/[A-Za-z0-9-]{1,128}$`)
	nodeGroupRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	// Lengths are checked apart (utf8.RuneCountInString): a bounded repetition of these
	// Unicode classes compiles to a huge program (15 MB and ~20 ms at every process start).
	tagKeyRE   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// MaxUserTags leaves room in AWS's limit of 50 tags for the tags cortex adds.
const MaxUserTags = 40

// MaxNodeGroupInstances is the largest max_instances cortex accepts for one node group.
const MaxNodeGroupInstances = 1000

// Validate checks every field (after ApplyDefaults) and reports all problems together.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if strings.Contains(c.ClusterName, "--") || !clusterNameRE.MatchString(c.ClusterName) {
		add("cluster_name: %q is not allowed; use 3-54 lowercase letters, digits and single hyphens, starting and ending with a letter or digit (it becomes part of an S3 bucket name)", c.ClusterName)
	}
	if !regionRE.MatchString(c.Region) {
		add("region: %q is not an AWS region name; use one like us-east-1 or eu-west-2", c.Region)
	}
	if len(c.AvailabilityZones) > 0 && len(c.Subnets) > 0 {
		add("availability_zones and subnets: set one or the other, not both (availability_zones makes a new VPC; subnets uses existing ones)")
	}
	seen := map[string]bool{}
	for i, az := range c.AvailabilityZones {
		if !isZoneOf(az, c.Region) {
			add("availability_zones[%d]: %q is not a zone of region %s; use names like %sa", i, az, c.Region, c.Region)
		}
		if seen[az] {
			add("availability_zones[%d]: %q is listed twice", i, az)
		}
		seen[az] = true
	}
	if n := len(c.AvailabilityZones); n == 1 {
		add("availability_zones: EKS needs at least 2 zones; list 2 or more, or leave it out to use the region's first 3")
	}
	if len(c.Subnets) > 0 {
		zones := map[string]bool{}
		ids := map[string]bool{}
		for i, s := range c.Subnets {
			if !isZoneOf(s.AvailabilityZone, c.Region) {
				add("subnets[%d].availability_zone: %q is not a zone of region %s", i, s.AvailabilityZone, c.Region)
			}
			if !subnetIDRE.MatchString(s.SubnetID) {
				add("subnets[%d].subnet_id: %q is not a subnet id; use one like subnet-0123456789abcdef0", i, s.SubnetID)
			}
			if ids[s.SubnetID] {
				add("subnets[%d].subnet_id: %q is listed twice", i, s.SubnetID)
			}
			ids[s.SubnetID] = true
			zones[s.AvailabilityZone] = true
		}
		if len(zones) < 2 {
			add("subnets: EKS needs subnets in at least 2 availability zones")
		}
		if c.VPCCIDR != "" {
			add("vpc_cidr: only used when cortex creates the VPC; remove it when subnets are given")
		}
		if c.NATGateway != "" {
			add("nat_gateway: only used when cortex creates the VPC; remove it when subnets are given (route your subnets yourself)")
		}
	} else {
		if p, err := netip.ParsePrefix(c.VPCCIDR); err != nil || !p.Addr().Is4() || p.Masked() != p {
			add("vpc_cidr: %q is not an IPv4 network in CIDR notation; use one like 192.168.0.0/16", c.VPCCIDR)
		} else if p.Bits() < 16 || p.Bits() > 20 {
			add("vpc_cidr: %q has a /%d prefix; use a prefix between /16 and /20", c.VPCCIDR, p.Bits())
		}
	}
	switch c.SubnetVisibility {
	case VisibilityPublic, VisibilityPrivate:
	default:
		add("subnet_visibility: %q is not allowed; use public or private", c.SubnetVisibility)
	}
	if len(c.Subnets) == 0 {
		switch c.NATGateway {
		case NATNone, NATSingle, NATHighlyAvailable:
			if c.SubnetVisibility == VisibilityPrivate && c.NATGateway == NATNone {
				add("nat_gateway: none is not allowed with subnet_visibility: private (the nodes could not reach the internet); use single or highly_available")
			}
			if c.SubnetVisibility == VisibilityPublic && c.NATGateway != NATNone {
				add("nat_gateway: %s is only used with subnet_visibility: private; use none (or leave it out) with public subnets", c.NATGateway)
			}
		default:
			add("nat_gateway: %q is not allowed; use none, single or highly_available", c.NATGateway)
		}
	}
	for _, s := range []struct{ name, v string }{
		{"operator_load_balancer_scheme", c.OperatorLoadBalancerScheme},
		{"api_load_balancer_scheme", c.APILoadBalancerScheme},
	} {
		if s.v != SchemeInternetFacing && s.v != SchemeInternal {
			add("%s: %q is not allowed; use internet-facing or internal", s.name, s.v)
		}
	}
	for _, l := range []struct {
		name string
		v    []string
	}{
		{"operator_load_balancer_cidr_allowlist", c.OperatorLoadBalancerCIDRAllowlist},
		{"api_load_balancer_cidr_allowlist", c.APILoadBalancerCIDRAllowlist},
	} {
		if len(l.v) == 0 {
			add("%s: must not be empty; list the IPv4 networks allowed to connect (0.0.0.0/0 for everyone)", l.name)
		}
		if len(l.v) > 50 {
			add("%s: at most 50 networks are allowed", l.name)
		}
		for i, cidr := range l.v {
			if p, err := netip.ParsePrefix(cidr); err != nil || !p.Addr().Is4() || p.Masked() != p {
				add("%s[%d]: %q is not an IPv4 network in CIDR notation; use one like 203.0.113.0/24", l.name, i, cidr)
			}
		}
	}
	pseen := map[string]bool{}
	for i, arn := range c.IAMPolicyARNs {
		if !policyARNRE.MatchString(arn) {
			add("iam_policy_arns[%d]: %q is not an IAM policy ARN; use one like arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", i, arn)
		}
		if pseen[arn] {
			add("iam_policy_arns[%d]: %q is listed twice", i, arn)
		}
		pseen[arn] = true
	}
	if len(c.IAMPolicyARNs) > 8 {
		add("iam_policy_arns: at most 8 policies are allowed (IAM allows 10 per role; cortex uses the others)")
	}
	if c.SSLCertificateARN != "" {
		m := certARNRE.FindStringSubmatch(c.SSLCertificateARN)
		if m == nil {
			add("ssl_certificate_arn: %q is not an ACM certificate ARN; use one like arn:aws:acm:%s:123456789012:certificate/<id>", c.SSLCertificateARN, c.Region)
		} else if m[2] != c.Region {
			add("ssl_certificate_arn: the certificate is in region %s; it must be in the cluster's region %s", m[2], c.Region)
		}
	}
	if len(c.Tags) > MaxUserTags {
		add("tags: at most %d tags are allowed", MaxUserTags)
	}
	for _, k := range sortedKeys(c.Tags) {
		v := c.Tags[k]
		switch {
		case !tagKeyRE.MatchString(k) || utf8.RuneCountInString(k) > 127:
			add("tags: key %q is not allowed; use 1-127 letters, digits, spaces and _.:/=+-@", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			add("tags: key %q is not allowed; the aws: prefix is reserved by AWS", k)
		case strings.HasPrefix(k, "cortex.dev/"):
			add("tags: key %q is not allowed; the cortex.dev/ prefix is reserved by cortex", k)
		}
		if !tagValueRE.MatchString(v) || utf8.RuneCountInString(v) > 255 {
			add("tags.%s: value %q is not allowed; use at most 255 letters, digits, spaces and _.:/=+-@", k, v)
		}
	}
	if len(c.NodeGroups) == 0 {
		add("node_groups: at least one node group is required")
	}
	ngSeen := map[string]bool{}
	for i, ng := range c.NodeGroups {
		if !nodeGroupRE.MatchString(ng.Name) {
			add("node_groups[%d].name: %q is not allowed; use 1-32 lowercase letters, digits and hyphens", i, ng.Name)
		}
		if ngSeen[ng.Name] {
			add("node_groups[%d].name: %q is used twice", i, ng.Name)
		}
		ngSeen[ng.Name] = true
		if !instanceTypeRE.MatchString(ng.InstanceType) {
			add("node_groups[%d].instance_type: %q is not an EC2 instance type; use one like m5.large", i, ng.InstanceType)
		}
		if ng.Min() < 0 {
			add("node_groups[%d].min_instances: %d is not allowed; use 0 or more", i, ng.Min())
		}
		if ng.Max() < 1 || ng.Max() > MaxNodeGroupInstances {
			add("node_groups[%d].max_instances: %d is not allowed; use 1 to %d", i, ng.Max(), MaxNodeGroupInstances)
		}
		if ng.Min() > ng.Max() {
			add("node_groups[%d]: min_instances (%d) must not exceed max_instances (%d)", i, ng.Min(), ng.Max())
		}
	}
	if err := ValidateAccess(c.Access); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isZoneOf(zone, region string) bool {
	if !strings.HasPrefix(zone, region) {
		return false
	}
	rest := zone[len(region):]
	return regexp.MustCompile(`^[a-z]$`).MatchString(rest)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
