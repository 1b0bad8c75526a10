// Package kubeaccess is how an IAM identity gets Kubernetes access on EKS, for `cortex cluster
// access`: an EKS access entry with an access policy (AccessEntries), or, for clusters in
// CONFIG_MAP authentication mode, a mapping in the aws-auth ConfigMap (AWSAuth) the way `eksctl
// create iamidentitymapping` writes it. Either way the identity's Kubernetes username is its ARN and
// its groups are the cortex groups of its role (internal/kube/rbac), so the cortex Roles bind it.
package kubeaccess

import (
	"context"
	"slices"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
)

// Store is where the Kubernetes side of cortex access lives.
type Store interface {
	// Check says, before anything changes, whether the store can be used (the EKS cluster takes
	// access entries; the API server answers).
	Check(ctx context.Context) error
	// Put gives principal exactly the Kubernetes access of role (replacing what it had).
	Put(ctx context.Context, principal string, role access.Role) error
	// Delete removes principal's Kubernetes access; false when it had none.
	Delete(ctx context.Context, principal string) (bool, error)
	// List returns every identity's Kubernetes access.
	List(ctx context.Context) ([]Grant, error)
	// Name says what the store is, for messages ("EKS access entry", "aws-auth mapping").
	Name() string
}

// Grant is one identity's Kubernetes access.
type Grant struct {
	Principal string   `json:"principal"`
	Username  string   `json:"username"`
	Groups    []string `json:"groups"`
	// Type is the access entry's type (STANDARD for people; EC2_LINUX etc. for nodes); empty for
	// an aws-auth mapping.
	Type     string   `json:"type,omitempty"`
	Policies []Policy `json:"policies,omitempty"`
	// Role is the cortex role these exactly give, empty when they match none (drift).
	Role access.Role `json:"role,omitempty"`
}

// Policy is an access policy associated with an access entry.
type Policy struct {
	ARN        string   `json:"arn"`
	Scope      string   `json:"scope"` // cluster | namespace
	Namespaces []string `json:"namespaces,omitempty"`
}

// PolicyPrefix is the ARN prefix of EKS access policies.
const PolicyPrefix = "arn:aws:eks::aws:cluster-access-policy/"

// The access policies of the cortex roles.
const (
	ViewPolicy         = PolicyPrefix + "AmazonEKSViewPolicy"
	ClusterAdminPolicy = PolicyPrefix + "AmazonEKSClusterAdminPolicy"
)

// PolicyFor is the access policy of role: view in the APIs' namespaces for read and deploy, or
// cluster admin. Deploy gets view too, not AmazonEKSEditPolicy: edit is Kubernetes' `edit` role,
// which reads Secrets and writes Services, ConfigMaps and pod templates in the namespace, far more
// than cortex's deploy. What deploy adds (scale, delete a pod) comes from its group, cortex:deploy,
// bound to the cortex-deploy Role by the install (internal/kube/rbac).
func PolicyFor(role access.Role, namespaces []string) Policy {
	switch role {
	case access.RoleAdmin:
		return Policy{ARN: ClusterAdminPolicy, Scope: "cluster"}
	default:
		return Policy{ARN: ViewPolicy, Scope: "namespace", Namespaces: slices.Clone(namespaces)}
	}
}

// roles from least to most access.
var roles = []access.Role{access.RoleRead, access.RoleDeploy, access.RoleAdmin}

// roleOfGroups is the role whose groups are exactly groups ("" if none).
func roleOfGroups(groups []string) access.Role {
	for _, r := range roles {
		if sameSet(groups, rbac.Groups(r)) {
			return r
		}
	}
	return ""
}

// roleOf is the role an access entry exactly gives: its username is the principal's ARN (another
// username is a Kubernetes identity of its own, with whatever is bound to it; the aws-auth store
// checks the same), its groups and its only policy are the role's.
func roleOf(g Grant, namespaces []string) access.Role {
	r := roleOfGroups(g.Groups)
	if r == "" || g.Username != g.Principal || len(g.Policies) != 1 || !samePolicy(g.Policies[0], PolicyFor(r, namespaces)) {
		return ""
	}
	return r
}

func samePolicy(a, b Policy) bool {
	return a.ARN == b.ARN && a.Scope == b.Scope && sameSet(a.Namespaces, b.Namespaces)
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}
