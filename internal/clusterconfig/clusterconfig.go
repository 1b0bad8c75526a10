// Package clusterconfig is the schema of an AWS cluster's cluster.yaml: parsing, defaults,
// validation (every error names the field and says what is allowed), the fields that may change on
// a running cluster, and the commented example printed by `cortex cluster example-config`.
package clusterconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/fielderr"
	"github.com/cortexlabs-go/cortex/internal/yamlfile"
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
	APIDomain                         string            `json:"api_domain,omitempty"` // with ssl_certificate_arn: where clients call APIs (docs/aws.md)
	Tags                              map[string]string `json:"tags,omitempty"`
	NodeGroups                        []NodeGroup       `json:"node_groups"`
	Access                            []AccessRule      `json:"access,omitempty"`
	// AuthMode is the operator's authorization mode: account (every IAM identity of the account
	// gets AccountRole, default deploy) or rules (only the creator and the principals of access
	// rules). Empty: account, and no operator argument (clusters from before keep their install).
	AuthMode    string `json:"auth_mode,omitempty"`
	AccountRole string `json:"account_role,omitempty"`
	// APIIAM is what APIs may be given by iam_policy_arns and iam_role_arn in their specs (the
	// operator's kubernetes.api_iam): exact ARNs the cluster's admin reviewed. Empty: APIs get
	// no AWS identity. Any deploy identity writes specs, so this is the admin's, not theirs.
	APIIAM apiidentity.Allowed `json:"api_iam,omitempty"`

	// RegionSource says where Region came from: cluster.yaml, AWS_REGION, AWS_DEFAULT_REGION or
	// the default (set by ParseFile, for messages; not part of the file).
	RegionSource string `json:"-"`

	// file and doc remember where the config came from, so that problems found later (by AWS,
	// see Locate) name the file and the line too.
	file string
	doc  *yamlfile.Doc
}

// Locate gives field problems found after parsing (fielderr.Errors, e.g. a zone AWS does not
// have) the file and line of the field; other errors are returned as they are.
func (c *Config) Locate(err error) error {
	if c.doc == nil {
		return fielderr.Locate(err, c.file, nil)
	}
	return fielderr.Locate(err, c.file, c.doc.Line)
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

// credentialFields are the fields an older Cortex read AWS credentials from. They are refused
// with the supported ways, and their values are never repeated in a message.
var credentialFields = map[string]bool{
	"aws_access_key_id": true, "aws_secret_access_key": true, "aws_session_token": true,
	"cortex_aws_access_key_id": true, "cortex_aws_secret_access_key": true,
	"cluster_aws_access_key_id": true, "cluster_aws_secret_access_key": true,
	"cortex_cluster_aws_access_key_id": true, "cortex_cluster_aws_secret_access_key": true,
}

const credentialsAdvice = "AWS credentials are not read from cluster.yaml (it is shared and often checked in); remove this field and use --aws-key/--aws-secret (and --cluster-aws-key/--cluster-aws-secret), the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, CLUSTER_AWS_ACCESS_KEY_ID/CLUSTER_AWS_SECRET_ACCESS_KEY) or an AWS profile (AWS_PROFILE)"

// Region sources (Config.RegionSource).
const (
	RegionFromFile    = "cluster.yaml"
	RegionFromDefault = "default"
)

// hints complete type errors of the list and mapping fields.
var hints = yamlfile.Hints{
	"subnets":     "use a list of {availability_zone, subnet_id}",
	"node_groups": "use a list of {name, instance_type, min_instances, max_instances, spot}",
	"access":      "use a list of {principal, role}",
	"tags":        "use a mapping of keys to text values",
}

// Load reads, defaults and validates a cluster.yaml file; a region left out comes from
// AWS_REGION or AWS_DEFAULT_REGION (see ParseFile).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster config: %w", err)
	}
	return ParseFile(data, path, os.Getenv)
}

// Parse is ParseFile without a file name and without the environment (region defaults to
// us-east-1).
func Parse(data []byte) (*Config, error) {
	return ParseFile(data, "", func(string) string { return "" })
}

// ParseFile decodes cluster.yaml as YAML 1.2 (or JSON; package yamlfile), refuses unknown and
// system-owned fields and credentials, applies the defaults and validates. Every problem is
// reported together as fielderr.Errors with file (file) and line. getenv supplies AWS_REGION and
// AWS_DEFAULT_REGION, in that order, for a cluster.yaml without region.
func ParseFile(data []byte, file string, getenv func(string) string) (*Config, error) {
	doc, err := yamlfile.Parse(data)
	if err != nil {
		return nil, fielderr.Locate(err, file, nil)
	}
	if r := doc.Root(); r != nil && r.Kind != yaml.MappingNode && !(r.Kind == yaml.ScalarNode && r.Tag == "!!null") {
		return nil, &fielderr.Error{File: file, Line: r.Line, Msg: "cluster config must be a YAML mapping of field: value"}
	}
	var errs fielderr.List
	top := doc.TopKeys()
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case credentialFields[k]:
			errs.Add(k, "%s", credentialsAdvice).Line = top[k]
			doc.Drop(k)
		case reserved[k] != "":
			errs.Add(k, "set by cortex (%s), not by cluster.yaml; remove it", reserved[k]).Line = top[k]
			doc.Drop(k)
		}
	}
	c := &Config{}
	derr := doc.Decode(c, hints)
	errs.Append(derr)
	// Fields that could not be decoded stay at their defaults; validate the rest so that every
	// problem is reported at once, but say nothing more of a field that already has one.
	failed := map[string]bool{}
	var des fielderr.Errors
	errors.As(derr, &des)
	for _, e := range des {
		failed[topField(e.Field)] = true
	}
	c.RegionSource = RegionFromFile
	if c.Region == "" {
		c.RegionSource = RegionFromDefault
		if r, v := RegionFromEnv(getenv); r != "" {
			c.Region, c.RegionSource = r, v
		}
	}
	c.ApplyDefaults()
	var ves fielderr.Errors
	errors.As(c.Validate(), &ves)
	for _, e := range ves {
		if failed[topField(e.Field)] {
			continue
		}
		if e.Field == "region" && c.RegionSource != RegionFromFile && c.RegionSource != RegionFromDefault {
			e.Msg += " (from $" + c.RegionSource + ")"
		}
		errs.Append(e)
	}
	if err := errs.Err(); err != nil {
		return nil, fielderr.Locate(err, file, doc.Line)
	}
	c.file, c.doc = file, doc
	return c, nil
}

// RegionFromEnv is the region the AWS tools default to: $AWS_REGION, else $AWS_DEFAULT_REGION
// (with the variable's name); "" when neither is set.
func RegionFromEnv(getenv func(string) string) (region, variable string) {
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := strings.TrimSpace(getenv(v)); r != "" {
			return r, v
		}
	}
	return "", ""
}

// topField is the top-level field of a path: node_groups[0].name -> node_groups.
func topField(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
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

// Validate checks every field (after ApplyDefaults) and reports all problems together
// (fielderr.Errors; each message starts with the field).
func (c *Config) Validate() error {
	var errs fielderr.List
	add := func(format string, a ...any) { errs.Append(fmt.Errorf(format, a...)) }

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
	if err := c.APIIAM.Validate("api_iam"); err != nil {
		add("%s", err)
	}
	if c.AuthMode != "" {
		if _, err := access.ParseMode(c.AuthMode); err != nil {
			add("auth_mode: %q is not allowed; use account or rules", c.AuthMode)
		}
	}
	if c.AccountRole != "" {
		if _, err := access.ParseAccountRole(c.AccountRole); err != nil {
			add("account_role: %v", err)
		} else if c.AuthMode == string(access.ModeRules) {
			add("account_role: applies only with auth_mode: account (rules admits only the creator and the principals of access rules); remove it")
		}
	}
	if c.SSLCertificateARN != "" {
		m := certARNRE.FindStringSubmatch(c.SSLCertificateARN)
		if m == nil {
			add("ssl_certificate_arn: %q is not an ACM certificate ARN; use one like arn:aws:acm:%s:123456789012:certificate/<id>", c.SSLCertificateARN, c.Region)
		} else if m[2] != c.Region {
			add("ssl_certificate_arn: the certificate is in region %s; it must be in the cluster's region %s", m[2], c.Region)
		}
	}
	if c.APIDomain != "" {
		switch {
		case c.SSLCertificateARN == "":
			add("api_domain: needs ssl_certificate_arn (a certificate that covers %q); without one, APIs are called at the API load balancer's name with the cluster's CA", c.APIDomain)
		case !IsDNSName(c.APIDomain):
			add("api_domain: %q is not a DNS name like api.example.com (lower case, no wildcard, no scheme or port)", c.APIDomain)
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
	errs.Append(ValidateAccess(c.Access))
	return errs.Err()
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

// IsDNSName reports whether s is a fully qualified DNS host name: lower-case letters, digits and
// hyphens in labels of 1 to 63 characters, at least two labels, 253 characters at most, no
// wildcard, no trailing dot, and a last label that is not all digits (so no IPv4 address, which
// TLS clients match against IP SANs, never names).
func IsDNSName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	if tld := s[strings.LastIndexByte(s, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
