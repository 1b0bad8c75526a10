package cluster

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
)

func TestAccessDrift(t *testing.T) {
	const (
		creator = "arn:aws:iam::111122223333:user/alice"
		bob     = "arn:aws:iam::111122223333:user/bob"
		ml      = "arn:aws:iam::111122223333:role/ml"
		mlPath  = "arn:aws:iam::111122223333:role/team/ml"
	)
	ns := []string{"cortex-apis"}
	entry := func(p string, groups []string, pols ...kubeaccess.Policy) kubeaccess.Grant {
		return kubeaccess.Grant{Principal: p, Username: p, Groups: groups, Type: "STANDARD", Policies: pols}
	}
	read := kubeaccess.PolicyFor("read", ns)
	admin := kubeaccess.PolicyFor("admin", ns)
	// EKS's bootstrap entry of the creator: its default username, no groups, cluster admin.
	bootstrap := kubeaccess.Grant{Principal: creator, Username: creator, Type: "STANDARD", Policies: []kubeaccess.Policy{admin}}
	// Role is what AccessEntries.List computes for an entry that matches a role exactly.
	withRole := func(g kubeaccess.Grant, role access.Role) kubeaccess.Grant { g.Role = role; return g }
	for _, tc := range []struct {
		name   string
		rules  []apitypes.AccessRule
		grants []kubeaccess.Grant
		want   []string // "principal: substring of the problem"
	}{
		{name: "creator with the bootstrap entry", grants: []kubeaccess.Grant{bootstrap}},
		{name: "creator without an entry", want: []string{creator + ": rule admin without"}},
		{name: "account rules and root have no Kubernetes side", grants: []kubeaccess.Grant{bootstrap},
			rules: []apitypes.AccessRule{{Principal: "111122223333", Role: "read"}, {Principal: "arn:aws:iam::111122223333:root", Role: "admin"}}},
		{name: "node entries are not people", grants: []kubeaccess.Grant{bootstrap, {Principal: ml, Type: "EC2_LINUX"},
			{Principal: "arn:aws:iam::111122223333:role/nodes", Username: "system:node:{{EC2PrivateDNSName}}", Groups: []string{"system:bootstrappers", "system:nodes"}}}},
		{name: "a role's path is the same role", grants: []kubeaccess.Grant{bootstrap, withRole(entry(mlPath, []string{"cortex:read"}, read), "read")},
			rules: []apitypes.AccessRule{{Principal: ml, Role: "read"}}},
		{name: "an entry of the right groups but another policy", grants: []kubeaccess.Grant{bootstrap, entry(bob, []string{"cortex:read"}, admin)},
			rules: []apitypes.AccessRule{{Principal: bob, Role: "read"}}, want: []string{bob + ": EKS access entry gives admin"}},
		{name: "an entry without policies", grants: []kubeaccess.Grant{bootstrap, entry(bob, []string{"cortex:read"})},
			rules: []apitypes.AccessRule{{Principal: bob, Role: "read"}}, want: []string{bob + ": EKS access entry gives groups cortex:read, the rule says read"}},
		{name: "an entry without a rule", grants: []kubeaccess.Grant{bootstrap, entry(bob, nil, read)}, want: []string{bob + ": EKS access entry without an operator rule"}},
	} {
		list := &apitypes.AccessList{CreatorARN: creator, Rules: tc.rules}
		got := accessDrift(list, tc.grants, "EKS access entry")
		if len(got) != len(tc.want) {
			t.Errorf("%s: drift %+v, want %v", tc.name, got, tc.want)
			continue
		}
		for i, w := range tc.want {
			p, problem, _ := strings.Cut(w, ": ")
			if got[i].Principal != p || !strings.Contains(got[i].Problem, problem) {
				t.Errorf("%s: drift %+v, want %v", tc.name, got[i], w)
			}
		}
	}
}
