package clusterconfig

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterName != "cortex" || c.Region != "us-east-1" || c.VPCCIDR != DefaultVPCCIDR ||
		c.SubnetVisibility != "public" || c.NATGateway != "none" ||
		c.OperatorLoadBalancerScheme != "internet-facing" || c.APILoadBalancerScheme != "internet-facing" ||
		len(c.NodeGroups) != 1 || c.NodeGroups[0].Min() != 1 || c.NodeGroups[0].Max() != 5 ||
		len(c.OperatorLoadBalancerCIDRAllowlist) != 1 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	p, err := Parse([]byte("subnet_visibility: private\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.NATGateway != NATSingle {
		t.Fatalf("private should default to a single NAT gateway, got %q", p.NATGateway)
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Parse([]byte(Example))
	if err != nil {
		t.Fatalf("the example config must be valid: %v", err)
	}
	if c.ClusterName != "cortex" {
		t.Fatal(c.ClusterName)
	}
	// Uncommenting the examples must give a valid config too (except the exclusive subnets).
	var lines []string
	for _, l := range strings.Split(Example, "\n") {
		if strings.HasSuffix(l, "# example") && !strings.Contains(l, "subnets") && !strings.Contains(l, "availability_zones") {
			l = strings.TrimPrefix(strings.TrimSuffix(l, "# example"), "# ")
			l = strings.TrimRight(l, " ")
			if strings.HasPrefix(l, "iam_policy_arns: [") {
				// replaces the default line
				for i := range lines {
					if lines[i] == "iam_policy_arns: []" {
						lines[i] = ""
					}
				}
			}
		}
		lines = append(lines, l)
	}
	if _, err := Parse([]byte(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // "" means valid; else a substring of the error
	}{
		{"minimal", "cluster_name: abc\nregion: eu-west-2\n", ""},
		{"name too short", "cluster_name: ab\n", "cluster_name:"},
		{"name 54 chars", "cluster_name: " + strings.Repeat("a", 54) + "\n", ""},
		{"name 55 chars", "cluster_name: " + strings.Repeat("a", 55) + "\n", "cluster_name:"},
		{"name uppercase", "cluster_name: Cortex\n", "3-54 lowercase"},
		{"name dot", "cluster_name: my.cluster\n", "cluster_name:"},
		{"name double hyphen", "cluster_name: my--cluster\n", "cluster_name:"},
		{"name trailing hyphen", "cluster_name: mycluster-\n", "cluster_name:"},
		{"bad region", "region: mars-1\n", "region:"},
		{"zones ok", "region: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n", ""},
		{"zone of other region", "region: us-west-2\navailability_zones: [us-east-1a, us-west-2b]\n", "availability_zones[0]"},
		{"zone twice", "region: us-west-2\navailability_zones: [us-west-2a, us-west-2a]\n", "listed twice"},
		{"one zone", "region: us-west-2\navailability_zones: [us-west-2a]\n", "at least 2 zones"},
		{"subnets ok", "region: us-west-2\nsubnets: [{availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef0}, {availability_zone: us-west-2b, subnet_id: subnet-0123456789abcdef1}]\n", ""},
		{"zones and subnets", "region: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nsubnets: [{availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef0}, {availability_zone: us-west-2b, subnet_id: subnet-0123456789abcdef1}]\n", "not both"},
		{"api_iam ok", "api_iam: {allowed_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess, arn:aws:iam::123456789012:policy/team/read], allowed_role_arns: [arn:aws:iam::123456789012:role/team-reader]}\n", ""},
		{"api_iam policy wildcard", "api_iam: {allowed_policy_arns: [\"arn:aws:iam::aws:policy/*\"]}\n", `api_iam.allowed_policy_arns[0]: "arn:aws:iam::aws:policy/*": wildcards are not allowed`},
		{"api_iam role wildcard", "api_iam: {allowed_role_arns: [\"arn:aws:iam::123456789012:role/team-*\"]}\n", "api_iam.allowed_role_arns[0]: \"arn:aws:iam::123456789012:role/team-*\": wildcards are not allowed"},
		{"api_iam not a policy", "api_iam: {allowed_policy_arns: [AdministratorAccess]}\n", `api_iam.allowed_policy_arns[0]: "AdministratorAccess" is not an IAM policy ARN`},
		{"api_iam role as policy", "api_iam: {allowed_policy_arns: [\"arn:aws:iam::123456789012:role/r\"]}\n", "is not an IAM policy ARN"},
		{"api_iam policy as role", "api_iam: {allowed_role_arns: [\"arn:aws:iam::aws:policy/X\"]}\n", "api_iam.allowed_role_arns[0]: \"arn:aws:iam::aws:policy/X\" is not an IAM role ARN"},
		{"api_iam duplicate", "api_iam: {allowed_policy_arns: [\"arn:aws:iam::aws:policy/X\", \"arn:aws:iam::aws:policy/X\"]}\n", "api_iam.allowed_policy_arns[1]: \"arn:aws:iam::aws:policy/X\" is listed twice"},
		{"api_iam unknown field", "api_iam: {allowed_policies: [\"arn:aws:iam::aws:policy/X\"]}\n", "allowed_policies"},
		{"subnet bad id", "region: us-west-2\nsubnets: [{availability_zone: us-west-2a, subnet_id: sn-1}, {availability_zone: us-west-2b, subnet_id: subnet-0123456789abcdef1}]\n", "subnets[0].subnet_id"},
		{"subnets one zone", "region: us-west-2\nsubnets: [{availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef0}, {availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef1}]\n", "at least 2 availability zones"},
		{"subnets with vpc_cidr", "region: us-west-2\nvpc_cidr: 10.0.0.0/16\nsubnets: [{availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef0}, {availability_zone: us-west-2b, subnet_id: subnet-0123456789abcdef1}]\n", "vpc_cidr: only used"},
		{"subnets with nat", "region: us-west-2\nnat_gateway: single\nsubnets: [{availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef0}, {availability_zone: us-west-2b, subnet_id: subnet-0123456789abcdef1}]\n", "nat_gateway: only used"},
		{"subnet unknown key", "subnets: [{zone: us-east-1a}]\n", "subnets[0].zone: unknown field"},
		{"vpc cidr ok", "vpc_cidr: 10.10.0.0/18\n", ""},
		{"vpc cidr bad", "vpc_cidr: 10.10.0.0\n", "vpc_cidr:"},
		{"vpc cidr host bits", "vpc_cidr: 10.10.0.1/16\n", "vpc_cidr:"},
		{"vpc cidr too small", "vpc_cidr: 10.10.0.0/24\n", "between /16 and /20"},
		{"vpc cidr too big", "vpc_cidr: 10.0.0.0/8\n", "between /16 and /20"},
		{"visibility bad", "subnet_visibility: hidden\n", "subnet_visibility:"},
		{"private ha", "subnet_visibility: private\nnat_gateway: highly_available\n", ""},
		{"private none", "subnet_visibility: private\nnat_gateway: none\n", "nat_gateway: none is not allowed with subnet_visibility: private"},
		{"public single", "nat_gateway: single\n", "only used with subnet_visibility: private"},
		{"nat bad", "subnet_visibility: private\nnat_gateway: two\n", "use none, single or highly_available"},
		{"schemes internal", "operator_load_balancer_scheme: internal\napi_load_balancer_scheme: internal\n", ""},
		{"operator scheme bad", "operator_load_balancer_scheme: public\n", "operator_load_balancer_scheme:"},
		{"api scheme bad", "api_load_balancer_scheme: private\n", "api_load_balancer_scheme:"},
		{"allowlist ok", "operator_load_balancer_cidr_allowlist: [203.0.113.0/24, 10.0.0.0/8]\n", ""},
		{"allowlist bad", "api_load_balancer_cidr_allowlist: [203.0.113.0]\n", "api_load_balancer_cidr_allowlist[0]"},
		{"allowlist empty", "operator_load_balancer_cidr_allowlist: []\n", "must not be empty"},
		{"policy ok", "iam_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess, arn:aws:iam::123456789012:policy/x/y]\n", ""},
		{"policy bad", "iam_policy_arns: [AmazonS3ReadOnlyAccess]\n", "iam_policy_arns[0]"},
		{"policy twice", "iam_policy_arns: [arn:aws:iam::aws:policy/A, arn:aws:iam::aws:policy/A]\n", "listed twice"},
		{"cert ok", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\n", ""},
		{"cert bad", "ssl_certificate_arn: cert\n", "ssl_certificate_arn:"},
		{"cert other region", "ssl_certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/abcd\n", "must be in the cluster's region"},
		{"api_domain ok", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: api.example.com\n", ""},
		{"api_domain without cert", "api_domain: api.example.com\n", "api_domain: needs ssl_certificate_arn"},
		{"api_domain wildcard", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: '*.example.com'\n", "api_domain: \"*.example.com\" is not a DNS name"},
		{"api_domain url", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: https://api.example.com\n", "is not a DNS name"},
		{"api_domain port", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: api.example.com:443\n", "is not a DNS name"},
		{"api_domain upper", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: API.example.com\n", "is not a DNS name"},
		// An IP address is no DNS name: clients would match it against IP SANs, which no ACM
		// certificate has; say so here rather than at acm:DescribeCertificate.
		{"api_domain ip", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: 10.0.0.1\n", "is not a DNS name"},
		{"api_domain one label", "ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234\napi_domain: localhost\n", "is not a DNS name"},
		{"tags ok", "tags: {team: ml, cost-center: \"42\"}\n", ""},
		{"tag aws prefix", "tags: {\"aws:x\": v}\n", "aws: prefix"},
		{"tag cortex prefix", "tags: {\"cortex.dev/cluster-name\": v}\n", "cortex.dev/ prefix"},
		{"tag bad value", "tags: {a: \"x\\ny\"}\n", "tags.a"},
		{"tags not strings", "tags: [a, b]\n", "tags:"},
		{"node groups ok", "node_groups: [{name: cpu, instance_type: t3.medium, min_instances: 0, max_instances: 3, spot: true}, {name: gpu, instance_type: g4dn.xlarge}]\n", ""},
		{"node group name bad", "node_groups: [{name: CPU, instance_type: t3.medium}]\n", "node_groups[0].name"},
		{"node group name twice", "node_groups: [{name: a, instance_type: t3.medium}, {name: a, instance_type: t3.medium}]\n", "used twice"},
		{"node group instance bad", "node_groups: [{name: a, instance_type: big}]\n", "node_groups[0].instance_type"},
		{"node group min > max", "node_groups: [{name: a, instance_type: t3.medium, min_instances: 4, max_instances: 2}]\n", "must not exceed"},
		{"node group negative", "node_groups: [{name: a, instance_type: t3.medium, min_instances: -1}]\n", "min_instances"},
		{"node group max 0", "node_groups: [{name: a, instance_type: t3.medium, min_instances: 0, max_instances: 0}]\n", "max_instances"},
		{"node group unknown key", "node_groups: [{name: a, instance: t3.medium}]\n", "node_groups[0].instance: unknown field"},
		{"access ok", "access: [{principal: \"123456789012\", role: read}, {principal: \"arn:aws:iam::123456789012:role/path/r\", role: admin}, {principal: \"arn:aws:iam::123456789012:user/u\", role: deploy}]\n", ""},
		{"access bad principal", "access: [{principal: \"arn:aws:sts::123456789012:assumed-role/r/s\", role: read}]\n", "access[0]: invalid principal"},
		{"access bad role", "access: [{principal: \"123456789012\", role: owner}]\n", "access[0]: invalid role"},
		{"auth_mode rules", "auth_mode: rules\naccess: [{principal: \"arn:aws:iam::123456789012:role/ml\", role: deploy}]\n", ""},
		{"auth_mode account read", "auth_mode: account\naccount_role: read\n", ""},
		{"account_role alone", "account_role: deploy\n", ""},
		{"auth_mode capital", "auth_mode: Rules\n", `auth_mode: "Rules" is not allowed; use account or rules`},
		{"auth_mode yes", "auth_mode: yes\n", `auth_mode: "yes" is not allowed; use account or rules`},
		{"auth_mode off", "auth_mode: off\n", `auth_mode: "off" is not allowed; use account or rules`},
		{"auth_mode trailing space", "auth_mode: \"rules \"\n", `auth_mode: "rules " is not allowed`},
		{"auth_mode newline", "auth_mode: \"rules\\n\"\n", `auth_mode: "rules\n" is not allowed`},
		{"auth_mode bool", "auth_mode: true\n", `auth_mode: "true" is not allowed; use account or rules`},
		{"auth_mode list", "auth_mode: [rules]\n", "auth_mode: must be a string, got a list"},
		{"auth_mode number", "auth_mode: 1\n", `auth_mode: "1" is not allowed; use account or rules`},
		{"account_role admin", "account_role: admin\n", `account_role: role "admin" is not offered for a whole account: use read or deploy`},
		{"account_role owner", "account_role: owner\n", `account_role: invalid role "owner": use read or deploy`},
		{"account_role none", "account_role: none\n", `use read or deploy`},
		{"account_role with rules", "auth_mode: rules\naccount_role: read\n", "account_role: applies only with auth_mode: account"},
		{"auth_mode misspelt field", "authmode: rules\n", "authmode: unknown field"},
		{"unknown field", "clustername: x\n", "clustername: unknown field"},
		{"reserved account", "account_id: \"123456789012\"\n", "account_id: set by cortex"},
		{"reserved bucket", "bucket: b\n", "bucket: set by cortex"},
		{"reserved policy", "policy_arn: x\n", "policy_arn: set by cortex"},
		{"reserved cluster id", "cluster_id: x\n", "cluster_id: set by cortex"},
		{"wrong type", "cluster_name: [a]\n", "cluster_name:"},
		{"not a mapping", "- a\n", "mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got valid", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Parse([]byte("cluster_name: X\nregion: nowhere\nsubnet_visibility: x\n"))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, f := range []string{"cluster_name:", "region:", "subnet_visibility:"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}

func TestDiff(t *testing.T) {
	base, err := Parse([]byte("cluster_name: abc\nnode_groups: [{name: a, instance_type: t3.medium, min_instances: 1, max_instances: 2}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := Parse([]byte("cluster_name: abc\nnode_groups: [{name: a, instance_type: t3.medium, min_instances: 2, max_instances: 4}]\n" +
		"iam_policy_arns: [arn:aws:iam::aws:policy/A]\noperator_load_balancer_cidr_allowlist: [10.0.0.0/8]\n" +
		"ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/x\n" +
		"api_iam: {allowed_policy_arns: [arn:aws:iam::aws:policy/X], allowed_role_arns: [arn:aws:iam::123456789012:role/r]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := Diff(base, ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 7 {
		t.Fatalf("want 7 changes, got %+v", changes)
	}
	// auth_mode compares as the operator runs it: omitted is account with deploy.
	for _, tc := range []struct {
		running, next string
		want          []Change
	}{
		{"", "auth_mode: account\naccount_role: deploy\n", nil},
		{"", "auth_mode: rules\n", []Change{{"auth_mode", "account", "rules"}}},
		{"auth_mode: rules\n", "", []Change{{"auth_mode", "rules", "account"}}},
		{"auth_mode: account\n", "account_role: read\n", []Change{{"account_role", "deploy", "read"}}},
		{"account_role: read\n", "auth_mode: rules\n", []Change{{"auth_mode", "account", "rules"}}},
	} {
		r, err := Parse([]byte("cluster_name: abc\n" + tc.running))
		if err != nil {
			t.Fatal(err)
		}
		n, err := Parse([]byte("cluster_name: abc\n" + tc.next))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Diff(r, n); err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q -> %q: %+v %v, want %+v", tc.running, tc.next, got, err, tc.want)
		}
	}
	bad, _ := Parse([]byte("cluster_name: abc\nregion: us-west-2\nsubnet_visibility: private\nnode_groups: [{name: a, instance_type: t3.large}, {name: b, instance_type: t3.large}]\n" +
		"access: [{principal: \"123456789012\", role: read}]\n"))
	_, err = Diff(base, bad)
	if err != nil && strings.Contains(err.Error(), "access") {
		t.Errorf("access is refused: %v", err)
	}
	if err == nil {
		t.Fatal("want refusal")
	}
	for _, f := range []string{"region:", "subnet_visibility:", "nat_gateway:", "node_groups[0].instance_type", "node groups cannot be added"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("refusal does not name %s: %v", f, err)
		}
	}
}

// configure's access changes are relative to what cluster.yaml applied: added, changed and
// removed rules, by canonical principal (a role's path does not make another principal).
func TestAccessChanges(t *testing.T) {
	applied := []AccessRule{{"arn:aws:iam::123456789012:user/ann", "read"}, {"arn:aws:iam::123456789012:role/team/ml", "deploy"}, {"123456789012", "read"}}
	next := []AccessRule{{"arn:aws:iam::123456789012:role/ml", "deploy"}, {"arn:aws:iam::123456789012:user/ann", "admin"}, {"arn:aws:iam::123456789012:user/bob", "read"}}
	got := fmt.Sprint(AccessChanges(applied, next))
	// role/team/ml rewritten as role/ml: the entry of the path-ful ARN goes, a new one is made.
	want := "[{access[arn:aws:iam::123456789012:role/ml] none deploy} {access[arn:aws:iam::123456789012:user/ann] read admin} {access[arn:aws:iam::123456789012:user/bob] none read} " +
		"{access[arn:aws:iam::123456789012:role/team/ml] deploy none} {access[123456789012] read none}]"
	if got != want {
		t.Errorf("changes:\n got %s\nwant %s", got, want)
	}
	if c := AccessChanges(next, next); len(c) != 0 {
		t.Errorf("no change: %v", c)
	}
	// cluster.yaml keeps principals as written: the path stays for the EKS access entry.
	cfg, err := Parse([]byte("cluster_name: abc\naccess: [{principal: \"arn:aws:iam::123456789012:role/team/ml\", role: read}, {principal: \"arn:aws:iam::123456789012:role/ml\", role: read}]\n"))
	if err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("the same role twice (with and without its path): %v %+v", err, cfg)
	}
}
