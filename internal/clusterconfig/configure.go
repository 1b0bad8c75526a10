package clusterconfig

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// Change describes one field that `cortex cluster configure` applies to a running cluster.
type Change struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// Diff compares the running cluster's config with a new one. It returns the changes that may be
// applied to a running cluster (node group sizes, CIDR allowlists, certificate, iam_policy_arns,
// api_iam, auth_mode, account_role) and an error naming every other field that differs, which must not change. access is refused
// with the command that changes it: a running cluster's access lives in the operator's rules and
// the EKS access entries, which only `cortex cluster access` changes (both sides together), so a
// configure that recorded it would claim a change that never happens.
func Diff(running, next *Config) ([]Change, error) {
	var changes []Change
	var refused []error
	refuse := func(field string, from, to any) {
		refused = append(refused, fmt.Errorf("%s: cannot change on a running cluster (from %v to %v); create a new cluster to change it", field, from, to))
	}
	same := func(a, b any) bool { return reflect.DeepEqual(a, b) }

	immutable := []struct {
		field string
		a, b  any
	}{
		{"cluster_name", running.ClusterName, next.ClusterName},
		{"region", running.Region, next.Region},
		{"availability_zones", running.AvailabilityZones, next.AvailabilityZones},
		{"subnets", running.Subnets, next.Subnets},
		{"vpc_cidr", running.VPCCIDR, next.VPCCIDR},
		{"subnet_visibility", running.SubnetVisibility, next.SubnetVisibility},
		{"nat_gateway", running.NATGateway, next.NATGateway},
		{"operator_load_balancer_scheme", running.OperatorLoadBalancerScheme, next.OperatorLoadBalancerScheme},
		{"api_load_balancer_scheme", running.APILoadBalancerScheme, next.APILoadBalancerScheme},
		{"tags", running.Tags, next.Tags},
	}
	for _, f := range immutable {
		if !same(normalizeEmpty(f.a), normalizeEmpty(f.b)) {
			refuse(f.field, f.a, f.b)
		}
	}
	mutable := []struct {
		field string
		a, b  any
	}{
		{"operator_load_balancer_cidr_allowlist", running.OperatorLoadBalancerCIDRAllowlist, next.OperatorLoadBalancerCIDRAllowlist},
		{"api_load_balancer_cidr_allowlist", running.APILoadBalancerCIDRAllowlist, next.APILoadBalancerCIDRAllowlist},
		{"iam_policy_arns", running.IAMPolicyARNs, next.IAMPolicyARNs},
		{"ssl_certificate_arn", running.SSLCertificateARN, next.SSLCertificateARN},
		{"api_domain", running.APIDomain, next.APIDomain},
	}
	for _, f := range mutable {
		if !same(normalizeEmpty(f.a), normalizeEmpty(f.b)) {
			changes = append(changes, Change{Field: f.field, From: f.a, To: f.b})
		}
	}
	// api_iam: the operator's allowlist and its role's policy follow it (provision/aws).
	if !same(normalizeEmpty(running.APIIAM.PolicyARNs), normalizeEmpty(next.APIIAM.PolicyARNs)) {
		changes = append(changes, Change{Field: "api_iam.allowed_policy_arns", From: running.APIIAM.PolicyARNs, To: next.APIIAM.PolicyARNs})
	}
	if !same(normalizeEmpty(running.APIIAM.RoleARNs), normalizeEmpty(next.APIIAM.RoleARNs)) {
		changes = append(changes, Change{Field: "api_iam.allowed_role_arns", From: running.APIIAM.RoleARNs, To: next.APIIAM.RoleARNs})
	}
	// auth_mode and account_role: the operator's arguments follow them (provision/aws), compared
	// as the operator runs them (empty is account with deploy).
	if from, to := running.Auth(), next.Auth(); from.Mode != to.Mode {
		changes = append(changes, Change{Field: "auth_mode", From: from.Mode, To: to.Mode})
	} else if from.AccountRole != to.AccountRole {
		changes = append(changes, Change{Field: "account_role", From: from.AccountRole, To: to.AccountRole})
	}
	old := map[string]NodeGroup{}
	for _, ng := range running.NodeGroups {
		old[ng.Name] = ng
	}
	nw := map[string]bool{}
	for i, ng := range next.NodeGroups {
		nw[ng.Name] = true
		o, ok := old[ng.Name]
		if !ok {
			refused = append(refused, fmt.Errorf("node_groups[%d]: node group %q does not exist on the running cluster; node groups cannot be added by configure", i, ng.Name))
			continue
		}
		if o.InstanceType != ng.InstanceType {
			refuse(fmt.Sprintf("node_groups[%d].instance_type", i), o.InstanceType, ng.InstanceType)
		}
		if o.Spot != ng.Spot {
			refuse(fmt.Sprintf("node_groups[%d].spot", i), o.Spot, ng.Spot)
		}
		if o.Min() != ng.Min() {
			changes = append(changes, Change{Field: fmt.Sprintf("node_groups[%s].min_instances", ng.Name), From: o.Min(), To: ng.Min()})
		}
		if o.Max() != ng.Max() {
			changes = append(changes, Change{Field: fmt.Sprintf("node_groups[%s].max_instances", ng.Name), From: o.Max(), To: ng.Max()})
		}
	}
	for _, ng := range running.NodeGroups {
		if !nw[ng.Name] {
			refused = append(refused, fmt.Errorf("node_groups: node group %q is missing; node groups cannot be removed by configure", ng.Name))
		}
	}
	return changes, errors.Join(refused...)
}

// normalizeEmpty treats nil and empty slices/maps alike.
func normalizeEmpty(v any) any {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map:
		if rv.Len() == 0 {
			return nil
		}
	}
	return v
}

// AuthMode is the authorization mode the operator runs with: auth_mode and account_role with the
// defaults filled in (account; deploy in account mode, none in rules mode).
type AuthMode struct {
	Mode        string
	AccountRole string
}

// Auth is c's effective authorization mode.
func (c *Config) Auth() AuthMode {
	a := AuthMode{Mode: c.AuthMode, AccountRole: c.AccountRole}
	if a.Mode == "" {
		a.Mode = string(access.ModeAccount)
	}
	if a.Mode != string(access.ModeAccount) {
		a.AccountRole = ""
	} else if a.AccountRole == "" {
		a.AccountRole = string(access.RoleDeploy)
	}
	return a
}
