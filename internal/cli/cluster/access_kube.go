package cluster

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/eks"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
)

// defaultAPIsNamespace is where the cortex install runs the APIs (install.Options.APIsNamespace's
// default): the scope of the view and edit access policies.
const defaultAPIsNamespace = "cortex-apis"

// kubeStore is, checked before anything changes, where the Kubernetes side of access lives for env: the aws-auth ConfigMap when
// --aws-auth is given, the EKS cluster's access entries for an AWS environment, else nothing
// (a local cluster has no Kubernetes; a kube cluster maps identities by the operator's rules
// through its TokenReview webhook).
func (o *AccessOptions) kubeStore(env *cliconfig.Environment) (kubeaccess.Store, error) {
	store, err := o.newKubeStore(env)
	if err != nil || store == nil {
		return nil, err
	}
	if err := store.Check(o.ctx); err != nil {
		return nil, err
	}
	return store, nil
}

func (o *AccessOptions) newKubeStore(env *cliconfig.Environment) (kubeaccess.Store, error) {
	if o.AWSAuth {
		kc, err := o.Kube(o.Kubeconfig)
		if err != nil {
			return nil, err
		}
		return &kubeaccess.AWSAuth{Client: kc}, nil
	}
	if env.Provider != "aws" || env.ClusterName == "" {
		return nil, nil
	}
	if env.Region == "" {
		return nil, fmt.Errorf("environment %s names EKS cluster %s but no region: configure it again with `cortex cluster up` or `cortex cluster info --configure-env`", env.Name, env.ClusterName)
	}
	cfg, err := o.AWSConfig(o.ctx, env)
	if err != nil {
		return nil, err
	}
	return &kubeaccess.AccessEntries{EKS: eks.NewFromConfig(cfg), Cluster: env.ClusterName, Namespaces: []string{o.Namespace}}, nil
}

// kubeClient is a client of the cluster in kubeconfig (empty: $KUBECONFIG, ~/.kube/config).
func kubeClient(kubeconfig string) (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

// kubeDescription says in words what the Kubernetes side of role is in store.
func kubeDescription(store kubeaccess.Store, role access.Role, namespace string) string {
	if _, ok := store.(*kubeaccess.AccessEntries); ok {
		p := kubeaccess.PolicyFor(role, []string{namespace})
		where := "cluster-wide"
		if p.Scope == "namespace" {
			where = "in " + strings.Join(p.Namespaces, ",")
		}
		return fmt.Sprintf("EKS access entry (%s %s)", strings.TrimPrefix(p.ARN, kubeaccess.PolicyPrefix), where)
	}
	return "aws-auth mapping (groups " + strings.Join(rbac.Groups(role), ",") + ")"
}

// Drift is a difference between the operator's rules and the Kubernetes side.
type Drift struct {
	Principal string `json:"principal"`
	Problem   string `json:"problem"`
	// Fix is the command that resolves it.
	Fix string `json:"fix"`
}

// accessView is `access list`: the operator's list (its fields unchanged) and the Kubernetes side.
type accessView struct {
	*apitypes.AccessList
	// KubernetesStore names where Kubernetes access lives (empty: not managed by cortex here).
	KubernetesStore string             `json:"kubernetes_store,omitempty"`
	Kubernetes      []kubeaccess.Grant `json:"kubernetes,omitempty"`
	Drift           []Drift            `json:"drift,omitempty"`
}

// isCortexGrant says whether a grant is a person's access that cortex should know of: an access
// entry of type STANDARD, or an aws-auth mapping that is not a node's (nodes are system: groups only).
func isCortexGrant(g kubeaccess.Grant) bool {
	if g.Type != "" {
		return g.Type == "STANDARD"
	}
	for _, gr := range g.Groups {
		if !strings.HasPrefix(gr, "system:") {
			return true
		}
	}
	return len(g.Groups) == 0
}

// kubeRole is the cortex role a grant gives, "" for none that matches exactly. Cluster admin by
// access policy is admin whatever the groups (EKS's bootstrap entry of the creator has none).
func kubeRole(g kubeaccess.Grant) access.Role {
	if g.Role != "" {
		return g.Role
	}
	for _, p := range g.Policies {
		if p.ARN == kubeaccess.ClusterAdminPolicy && p.Scope == "cluster" {
			return access.RoleAdmin
		}
	}
	return ""
}

// describeGrant says what a grant gives, for the table and the drift messages.
func describeGrant(g kubeaccess.Grant) string {
	var parts []string
	if r := kubeRole(g); r != "" {
		parts = append(parts, string(r))
	}
	for _, p := range g.Policies {
		s := strings.TrimPrefix(p.ARN, kubeaccess.PolicyPrefix)
		if p.Scope == "namespace" {
			s += " in " + strings.Join(p.Namespaces, ",")
		}
		parts = append(parts, s)
	}
	if len(g.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(g.Groups, ","))
	}
	if len(parts) == 0 {
		return "no permissions"
	}
	return strings.Join(parts, "; ")
}

// canonical is the operator's form of a principal (a role's path dropped), or s itself.
func canonical(s string) string {
	if p, err := access.NormalizePrincipal(s); err == nil {
		return p
	}
	return s
}

// accessDrift compares the operator's rules with the Kubernetes side: a rule without Kubernetes
// access, Kubernetes access without a rule, and access of another role than the rule's.
func accessDrift(list *apitypes.AccessList, grants []kubeaccess.Grant, storeName string) []Drift {
	rules := map[string]access.Role{}
	original := map[string]string{}
	for _, r := range list.Rules {
		if kubeaccess.HasKubeSide(r.Principal) {
			rules[canonical(r.Principal)], original[canonical(r.Principal)] = access.Role(r.Role), r.Principal
		}
	}
	if list.CreatorARN != "" && kubeaccess.HasKubeSide(list.CreatorARN) {
		rules[canonical(list.CreatorARN)], original[canonical(list.CreatorARN)] = access.RoleAdmin, list.CreatorARN
	}
	var out []Drift
	seen := map[string]bool{}
	for _, g := range grants {
		if !isCortexGrant(g) {
			continue
		}
		p := canonical(g.Principal)
		seen[p] = true
		want, ok := rules[p]
		switch got := kubeRole(g); {
		case !ok:
			out = append(out, Drift{Principal: g.Principal, Problem: fmt.Sprintf("%s without an operator rule (%s)", storeName, describeGrant(g)),
				Fix: "cortex cluster access revoke " + g.Principal})
		case got != want:
			out = append(out, Drift{Principal: g.Principal, Problem: fmt.Sprintf("%s gives %s, the rule says %s", storeName, describeGrant(g), want),
				Fix: fmt.Sprintf("cortex cluster access grant %s --role %s", g.Principal, want)})
		}
	}
	for p, role := range rules {
		if !seen[p] {
			out = append(out, Drift{Principal: original[p], Problem: fmt.Sprintf("rule %s without an %s", role, storeName),
				Fix: fmt.Sprintf("cortex cluster access grant %s --role %s", original[p], role)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Principal < out[j].Principal })
	return out
}

// kubeColumn is the KUBERNETES cell of principal in the table.
func kubeColumn(grants []kubeaccess.Grant, principal string) string {
	i := slices.IndexFunc(grants, func(g kubeaccess.Grant) bool { return canonical(g.Principal) == canonical(principal) })
	if i < 0 {
		return "-"
	}
	return describeGrant(grants[i])
}
