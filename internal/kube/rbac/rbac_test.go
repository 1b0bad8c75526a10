package rbac

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/access"
)

func TestGroupsAreCumulative(t *testing.T) {
	for role, want := range map[access.Role][]string{
		access.RoleNone:   nil,
		access.RoleRead:   {GroupRead},
		access.RoleDeploy: {GroupRead, GroupDeploy},
		access.RoleAdmin:  {GroupRead, GroupDeploy, GroupAdmin},
		"bogus":           nil,
	} {
		if got := Groups(role); !reflect.DeepEqual(got, want) {
			t.Errorf("Groups(%q) = %v, want %v", role, got, want)
		}
	}
}

// The exact rules: a widened Role must be a deliberate change of this test.
func TestRulesAreLeastPrivilege(t *testing.T) {
	roles, bindings := Objects("apis")
	type r struct{ group, resource, verbs string }
	flat := func(i int) []r {
		var out []r
		for _, p := range roles[i].Rules {
			for _, res := range p.Resources {
				v := slices.Clone(p.Verbs)
				slices.Sort(v)
				out = append(out, r{p.APIGroups[0], res, strings.Join(v, ",")})
			}
		}
		return out
	}
	wantRead := []r{{"apps", "deployments", "get,list,watch"}, {"apps", "replicasets", "get,list,watch"}, {"", "pods", "get,list,watch"},
		{"", "pods/log", "get,list,watch"}, {"", "services", "get,list,watch"}, {"", "events", "get,list,watch"},
		{"discovery.k8s.io", "endpointslices", "get,list,watch"}}
	wantDeploy := []r{{"apps", "deployments/scale", "get,patch,update"}, {"", "pods", "delete"}}
	if got := flat(0); !reflect.DeepEqual(got, wantRead) || *roles[0].Name != RoleRead || *roles[0].Namespace != "apis" {
		t.Errorf("read rules %v", got)
	}
	if got := flat(1); !reflect.DeepEqual(got, wantDeploy) || *roles[1].Name != RoleDeploy {
		t.Errorf("deploy rules %v", got)
	}
	for _, ro := range roles {
		for _, p := range ro.Rules {
			for _, s := range append(append(slices.Clone(p.Verbs), p.Resources...), p.APIGroups...) {
				if s == "*" || s == "secrets" || s == "configmaps" {
					t.Errorf("role %s grants %q", *ro.Name, s)
				}
			}
		}
	}
	want := map[string][3]string{BindingRead: {GroupRead, "Role", RoleRead}, BindingDeploy: {GroupDeploy, "Role", RoleDeploy},
		BindingAdmin: {GroupAdmin, "ClusterRole", "admin"}}
	if len(bindings) != len(want) {
		t.Fatalf("%d bindings", len(bindings))
	}
	for _, b := range bindings {
		w := want[*b.Name]
		if len(b.Subjects) != 1 || *b.Subjects[0].Kind != "Group" || *b.Subjects[0].Name != w[0] || *b.RoleRef.Kind != w[1] || *b.RoleRef.Name != w[2] {
			t.Errorf("binding %s: %+v -> %+v", *b.Name, b.Subjects, b.RoleRef)
		}
	}
}
