package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// What EKS's managed node groups put in aws-auth, and a mapping someone made by hand: both must
// survive every edit, byte for byte in meaning.
const (
	nodeMapping = `- rolearn: arn:aws:iam::111122223333:role/nodes
  username: system:node:{{EC2PrivateDNSName}}
  groups:
  - system:bootstrappers
  - system:nodes
`
	opsMapping = `- userarn: arn:aws:iam::111122223333:user/ops
  username: ops
  groups:
  - ops-team
  extra: kept
`
	accounts = "- \"111122223333\"\n"
)

// --aws-auth edits the aws-auth ConfigMap of a real API server the way `eksctl create
// iamidentitymapping` does (username = ARN, groups), idempotently, keeping every other mapping;
// the mapped username and groups get the right RBAC answers from the cortex Roles.
func TestAccessAWSAuth(t *testing.T) {
	cluster := kubetest.Start(t)
	ctx := context.Background()
	cluster.Namespace(t, defaultAPIsNamespace)
	if err := rbac.Apply(ctx, cluster.Client, defaultAPIsNamespace); err != nil {
		t.Fatal(err)
	}
	cms := cluster.Client.CoreV1().ConfigMaps("kube-system")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aws-auth", Namespace: "kube-system"},
		Data: map[string]string{"mapRoles": nodeMapping, "mapUsers": opsMapping, "mapAccounts": accounts}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newEKSEnv(t, eksfake.ModeConfigMap) // the EKS API refuses access entries: --aws-auth is the way
	kube := []string{"--aws-auth", "--kubeconfig", cluster.Kubeconfig}
	const bob = "arn:aws:iam::111122223333:user/bob"
	const mlPath, ml = "arn:aws:iam::111122223333:role/team/ml", "arn:aws:iam::111122223333:role/ml"

	mappings := func(key string) []map[string]any {
		t.Helper()
		cm, err := cms.Get(ctx, "aws-auth", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data["mapAccounts"] != accounts {
			t.Fatalf("mapAccounts changed: %q", cm.Data["mapAccounts"])
		}
		var list []map[string]any
		if err := yaml.Unmarshal([]byte(cm.Data[key]), &list); err != nil {
			t.Fatal(err)
		}
		return list
	}
	// preserved checks the node and ops mappings are still there, unchanged.
	preserved := func() {
		t.Helper()
		var node, ops []map[string]any
		_ = yaml.Unmarshal([]byte(nodeMapping), &node)
		_ = yaml.Unmarshal([]byte(opsMapping), &ops)
		roles, users := mappings("mapRoles"), mappings("mapUsers")
		if !slices.ContainsFunc(roles, func(m map[string]any) bool { return jsonEq(m, node[0]) }) ||
			!slices.ContainsFunc(users, func(m map[string]any) bool { return jsonEq(m, ops[0]) }) {
			t.Fatalf("other mappings changed:\nmapRoles %v\nmapUsers %v", roles, users)
		}
	}
	mappingOf := func(key, arnKey, arn string) []map[string]any {
		var out []map[string]any
		for _, m := range mappings(key) {
			if m[arnKey] == arn {
				out = append(out, m)
			}
		}
		return out
	}
	// can asks the API server whether bob, as the mapping names him, may scale an API (what the cortex-deploy Role adds to read).
	can := func(m map[string]any) bool {
		t.Helper()
		var groups []string
		for _, g := range m["groups"].([]any) {
			groups = append(groups, g.(string))
		}
		sar, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: m["username"].(string), Groups: groups,
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: defaultAPIsNamespace, Verb: "update", Group: "apps", Resource: "deployments", Subresource: "scale"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}

	e.must(append([]string{"grant", bob, "--role", "read"}, kube...)...)
	got := mappingOf("mapUsers", "userarn", bob)
	if len(got) != 1 || got[0]["username"] != bob || !jsonEq(got[0]["groups"], []string{rbac.GroupRead}) || can(got[0]) {
		t.Fatalf("after grant read: %v", got)
	}
	preserved()
	for range 2 { // twice: the second changes nothing
		e.must(append([]string{"grant", bob, "--role", "deploy"}, kube...)...)
		got = mappingOf("mapUsers", "userarn", bob)
		if len(got) != 1 || !jsonEq(got[0]["groups"], rbac.Groups("deploy")) || !can(got[0]) {
			t.Fatalf("after grant deploy: %v", got)
		}
	}
	preserved()
	// A role is mapped without its path (aws-auth cannot match one).
	e.must(append([]string{"grant", mlPath, "--role", "admin"}, kube...)...)
	if got := mappingOf("mapRoles", "rolearn", ml); len(got) != 1 || got[0]["username"] != ml || !jsonEq(got[0]["groups"], rbac.Groups("admin")) {
		t.Fatalf("role mapping: %v", got)
	}
	preserved()

	// list: both sides; the hand-made ops mapping has no rule (drift), the node mapping is no one's.
	var v accessView
	if err := json.Unmarshal([]byte(e.must(append([]string{"list", "-o", "json"}, kube...)...)), &v); err != nil {
		t.Fatal(err)
	}
	if v.KubernetesStore != "aws-auth mapping" || len(v.Drift) != 1 || v.Drift[0].Principal != "arn:aws:iam::111122223333:user/ops" {
		t.Fatalf("list: store %q drift %+v", v.KubernetesStore, v.Drift)
	}

	e.must(append([]string{"revoke", bob}, kube...)...)
	if got := mappingOf("mapUsers", "userarn", bob); len(got) != 0 {
		t.Fatalf("after revoke: %v", got)
	}
	preserved()

	// Without the ConfigMap, a grant makes it.
	if err := cms.Delete(ctx, "aws-auth", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	store := &kubeaccess.AWSAuth{Client: cluster.Client}
	if err := store.Put(ctx, bob, "read"); err != nil {
		t.Fatal(err)
	}
	cm, err := cms.Get(ctx, "aws-auth", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["mapUsers"], "userarn: "+bob) {
		t.Fatalf("made ConfigMap: %+v %v", cm, err)
	}
}

// jsonEq compares two values by their JSON form (YAML decodes lists as []any).
func jsonEq(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
