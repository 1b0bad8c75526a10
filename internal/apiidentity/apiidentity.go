// Package apiidentity gives each API on EKS an AWS identity of its own: an EKS Pod Identity
// association binds the API's Kubernetes ServiceAccount to an IAM role, either one the API's spec
// names (iam_role_arn: cortex uses it and never changes or deletes it) or one cortex makes for the
// API from the spec's iam_policy_arns (named after the cluster's role prefix, tagged with the
// cluster, trusting only EKS Pod Identity for this cluster, namespace and ServiceAccount).
//
// Binder is what the Kubernetes backend needs; EKS implements it with the operator's AWS
// credentials, so the backend and the operator's tests run without AWS.
package apiidentity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// Request is the identity one API asks for (exactly one of RoleARN and PolicyARNs is set).
type Request struct {
	// API is the API's name; ServiceAccount the Kubernetes ServiceAccount its pods run as.
	API, ServiceAccount string
	// RoleARN is a role the user made (the spec's iam_role_arn).
	RoleARN string
	// PolicyARNs are attached to a role cortex makes for the API (the spec's iam_policy_arns).
	PolicyARNs []string
}

// Binder binds an API's ServiceAccount to an IAM role and unbinds it. Implementations are
// idempotent: Bind of what is bound, and Unbind of what is not, change nothing.
type Binder interface {
	// Check says whether Bind would accept r (the cluster admin's allowlist), changing nothing:
	// the Kubernetes backend asks it before a deploy changes anything.
	Check(r Request) error
	// Bind makes the API's ServiceAccount assume the requested role, creating and updating the
	// role cortex makes for PolicyARNs, and returns the role's ARN. A role made earlier for the
	// API is deleted once the API names a role of its own.
	Bind(ctx context.Context, r Request) (roleARN string, err error)
	// Unbind removes the ServiceAccount's association and the role cortex made for the API, if
	// any; never a role the user named.
	Unbind(ctx context.Context, api, serviceAccount string) error
}

// Tags on the roles and associations cortex makes (the provisioner's tag keys): `cluster down`
// finds them by TagClusterName even when the operator is gone.
const (
	TagClusterName = "cortex.dev/cluster-name"
	TagResource    = "cortex.dev/resource"
	TagAPI         = "cortex.dev/api"
	// ResourceAPIRole marks a role cortex made for one API (TagResource).
	ResourceAPIRole = "api-role"
	// ResourceAPIAssociation marks a pod identity association cortex made (TagResource).
	ResourceAPIAssociation = "api-pod-identity"
)

// RoleName is the name of the role cortex makes for an API: "<prefix>-api-<api>", where prefix
// is the cluster's role prefix (cortex-<cluster>-<hash>, see clusterconfig.RolePrefix); when that
// is longer than IAM's 64 characters, "<prefix>-<7 hex of sha256(api)>". Its path is RolePath.
func RoleName(prefix, api string) string {
	if n := prefix + "-api-" + api; len(n) <= 64 {
		return n
	}
	sum := sha256.Sum256([]byte(api))
	return prefix + "-" + hex.EncodeToString(sum[:])[:7]
}

// RolePath is the IAM path of the roles cortex makes for a cluster's APIs. The operator's policy
// allows role actions on "role/cortex-apis/<prefix>/*" only: it can manage its APIs' roles and
// never the cluster's or nodes' roles (role/<prefix>-cluster, -node), whatever an API is named.
func RolePath(prefix string) string { return "/cortex-apis/" + prefix + "/" }

// IAM and EKS are the calls EKS makes (satisfied by *iam.Client and *eks.Client).
type IAM interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
	ListRoleTags(context.Context, *iam.ListRoleTagsInput, ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error)
	ListRoles(context.Context, *iam.ListRolesInput, ...func(*iam.Options)) (*iam.ListRolesOutput, error)
	AttachRolePolicy(context.Context, *iam.AttachRolePolicyInput, ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	DetachRolePolicy(context.Context, *iam.DetachRolePolicyInput, ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
}

type EKSAPI interface {
	CreatePodIdentityAssociation(context.Context, *eks.CreatePodIdentityAssociationInput, ...func(*eks.Options)) (*eks.CreatePodIdentityAssociationOutput, error)
	DescribePodIdentityAssociation(context.Context, *eks.DescribePodIdentityAssociationInput, ...func(*eks.Options)) (*eks.DescribePodIdentityAssociationOutput, error)
	UpdatePodIdentityAssociation(context.Context, *eks.UpdatePodIdentityAssociationInput, ...func(*eks.Options)) (*eks.UpdatePodIdentityAssociationOutput, error)
	DeletePodIdentityAssociation(context.Context, *eks.DeletePodIdentityAssociationInput, ...func(*eks.Options)) (*eks.DeletePodIdentityAssociationOutput, error)
	ListPodIdentityAssociations(context.Context, *eks.ListPodIdentityAssociationsInput, ...func(*eks.Options)) (*eks.ListPodIdentityAssociationsOutput, error)
}

// Config says which cluster EKS works on.
type Config struct {
	IAM IAM
	EKS EKSAPI
	// Cluster is the EKS cluster (cortex's cluster name); Namespace the APIs' namespace.
	Cluster, Namespace string
	// Partition, Region and AccountID are the cluster's (for its ARN in the trust policy).
	Partition, Region, AccountID string
	// RolePrefix names the roles cortex makes (RoleName).
	RolePrefix string
	// Allowed is what APIs may be given (the cluster admin's allowlist; empty: nothing).
	Allowed Allowed
}

// EKS is the Binder of an EKS cluster: EKS Pod Identity associations, and IAM roles for
// iam_policy_arns.
type EKS struct{ c Config }

var _ Binder = (*EKS)(nil)

// New checks cfg and returns its Binder.
func New(cfg Config) (*EKS, error) {
	for _, f := range []struct{ name, v string }{{"cluster", cfg.Cluster}, {"namespace", cfg.Namespace},
		{"partition", cfg.Partition}, {"region", cfg.Region}, {"account id", cfg.AccountID}, {"role prefix", cfg.RolePrefix}} {
		if f.v == "" {
			return nil, fmt.Errorf("api identities: %s is required", f.name)
		}
	}
	if cfg.IAM == nil || cfg.EKS == nil {
		return nil, errors.New("api identities: IAM and EKS clients are required")
	}
	if err := cfg.Allowed.Validate(""); err != nil {
		return nil, fmt.Errorf("api identities: %w", err)
	}
	return &EKS{c: cfg}, nil
}

// TrustPolicy is the trust policy of a role cortex makes: only EKS Pod Identity may assume it
// (with the session tags it always sends), only for this account's cluster, the APIs' namespace and
// the API's ServiceAccount, so another association in the account cannot borrow it.
func (e *EKS) TrustPolicy(serviceAccount string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "EKSPodIdentityForThisAPI",
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "pods.eks.amazonaws.com"},
			"Action":    []string{"sts:AssumeRole", "sts:TagSession"},
			"Condition": map[string]any{
				"StringEquals": map[string]string{
					"aws:SourceAccount":                         e.c.AccountID,
					"aws:RequestTag/eks-cluster-name":           e.c.Cluster,
					"aws:RequestTag/kubernetes-namespace":       e.c.Namespace,
					"aws:RequestTag/kubernetes-service-account": serviceAccount,
				},
				"ArnEquals": map[string]string{
					"aws:SourceArn": fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", e.c.Partition, e.c.Region, e.c.AccountID, e.c.Cluster),
				},
			},
		}},
	}
	data, _ := json.Marshal(doc) // maps marshal with sorted keys: a stable document
	return string(data)
}

// Check implements Binder.
func (e *EKS) Check(r Request) error { return e.c.Allowed.Check(r) }

// Bind implements Binder. Order: the role and its policies, then the association, so the pods'
// ServiceAccount never maps to a role that lacks what the spec asked for; a failure returns
// before the caller starts any pod.
func (e *EKS) Bind(ctx context.Context, r Request) (string, error) {
	if (r.RoleARN == "") == (len(r.PolicyARNs) == 0) {
		return "", errors.New("api identity: name a role or policies, not both or neither")
	}
	// First, before anything changes (the Kubernetes backend asked already; this is the binder's
	// own guarantee).
	if err := e.Check(r); err != nil {
		return "", err
	}
	own := RoleName(e.c.RolePrefix, r.API)
	role := r.RoleARN
	if role != "" {
		// A role under cortex's prefix belongs to another API (or the cluster): naming it would
		// borrow that identity. So does one of ANOTHER cortex cluster's in the account: its
		// operator's role trusts EKS Pod Identity without conditions, and this operator may pass
		// any role to EKS Pod Identity.
		if name := roleNameOf(role); strings.HasPrefix(name, e.c.RolePrefix+"-") || strings.Contains(role, ":role"+RolePath(e.c.RolePrefix)) ||
			cortexRoleNameRE.MatchString(name) || strings.Contains(role, ":role/cortex-apis/") {
			return "", fmt.Errorf("iam_role_arn: %s is a role cortex manages for a cluster; name a role of your own, or use iam_policy_arns", role)
		}
	} else {
		var err error
		if role, err = e.ensureRole(ctx, own, r); err != nil {
			return "", err
		}
	}
	if err := e.associate(ctx, r, role); err != nil {
		return "", err
	}
	if r.RoleARN != "" {
		// The API used to have a role of cortex's: it is no longer bound, remove it.
		if err := e.deleteOwnRole(ctx, own, r.API); err != nil {
			return "", err
		}
	}
	return role, nil
}

// Unbind implements Binder.
func (e *EKS) Unbind(ctx context.Context, api, serviceAccount string) error {
	ids, err := e.associations(ctx, serviceAccount)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := e.c.EKS.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{
			ClusterName: aws.String(e.c.Cluster), AssociationId: aws.String(id)}); err != nil && !IsCode(err, "ResourceNotFoundException") {
			return fmt.Errorf("delete the pod identity association %s of api %s: %w", id, api, err)
		}
	}
	return e.deleteOwnRole(ctx, RoleName(e.c.RolePrefix, api), api)
}

func (e *EKS) tags(api, resource string) map[string]string {
	return map[string]string{TagClusterName: e.c.Cluster, TagResource: resource, TagAPI: api}
}

// ensureRole creates or updates the role cortex makes for an API: trust policy, tags, and exactly
// the requested managed policies.
func (e *EKS) ensureRole(ctx context.Context, name string, r Request) (string, error) {
	trust := e.TrustPolicy(r.ServiceAccount)
	var arn string
	got, err := e.c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	switch {
	case err == nil:
		arn = aws.ToString(got.Role.Arn)
		ok, err := e.isOwnRole(ctx, name, r.API)
		ok = ok && aws.ToString(got.Role.Path) == RolePath(e.c.RolePrefix)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("iam_policy_arns: the role %s exists but was not made by cortex for api %s of cluster %s; cortex does not take it over", name, r.API, e.c.Cluster)
		}
		if doc, _ := url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument)); !sameJSON(doc, trust) {
			if _, err := e.c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(trust)}); err != nil {
				return "", fmt.Errorf("update the trust policy of role %s: %w", name, err)
			}
		}
	case IsCode(err, "NoSuchEntity"):
		c, err := e.c.IAM.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName:                 aws.String(name),
			Path:                     aws.String(RolePath(e.c.RolePrefix)),
			AssumeRolePolicyDocument: aws.String(trust),
			Description:              aws.String(fmt.Sprintf("cortex api %s of cluster %s (EKS Pod Identity)", r.API, e.c.Cluster)),
			Tags:                     iamTags(e.tags(r.API, ResourceAPIRole)),
		})
		if err != nil {
			return "", fmt.Errorf("create role %s for api %s: %w", name, r.API, err)
		}
		arn = aws.ToString(c.Role.Arn)
	default:
		return "", fmt.Errorf("get role %s: %w", name, err)
	}
	attached, err := e.attached(ctx, name)
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	for _, p := range r.PolicyARNs {
		want[p] = true
		if attached[p] {
			continue
		}
		if _, err := e.c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(p)}); err != nil {
			return "", fmt.Errorf("attach %s to role %s: %w", p, name, err)
		}
	}
	for _, p := range sortedKeys(attached) {
		if want[p] {
			continue
		}
		if _, err := e.c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(p)}); err != nil && !IsCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("detach %s from role %s: %w", p, name, err)
		}
	}
	return arn, nil
}

// associate makes the ServiceAccount's one association point at role.
func (e *EKS) associate(ctx context.Context, r Request, role string) error {
	ids, err := e.associations(ctx, r.ServiceAccount)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		_, err := e.c.EKS.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String(e.c.Cluster), Namespace: aws.String(e.c.Namespace),
			ServiceAccount: aws.String(r.ServiceAccount), RoleArn: aws.String(role),
			Tags: e.tags(r.API, ResourceAPIAssociation),
		})
		if err != nil {
			return fmt.Errorf("create the pod identity association of api %s (role %s): %w", r.API, role, err)
		}
		return nil
	}
	// EKS allows one association per ServiceAccount.
	d, err := e.c.EKS.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{
		ClusterName: aws.String(e.c.Cluster), AssociationId: aws.String(ids[0])})
	if err != nil {
		return fmt.Errorf("describe the pod identity association of api %s: %w", r.API, err)
	}
	if aws.ToString(d.Association.RoleArn) == role {
		return nil
	}
	if _, err := e.c.EKS.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{
		ClusterName: aws.String(e.c.Cluster), AssociationId: aws.String(ids[0]), RoleArn: aws.String(role)}); err != nil {
		return fmt.Errorf("update the pod identity association of api %s to role %s: %w", r.API, role, err)
	}
	return nil
}

// associations lists the ids of the ServiceAccount's associations in the APIs' namespace.
func (e *EKS) associations(ctx context.Context, serviceAccount string) ([]string, error) {
	var ids []string
	pg := eks.NewListPodIdentityAssociationsPaginator(e.c.EKS, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String(e.c.Cluster), Namespace: aws.String(e.c.Namespace), ServiceAccount: aws.String(serviceAccount)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the pod identity associations of %s/%s: %w", e.c.Namespace, serviceAccount, err)
		}
		for _, a := range page.Associations {
			ids = append(ids, aws.ToString(a.AssociationId))
		}
	}
	return ids, nil
}

// isOwnRole reports whether the role carries cortex's tags for this cluster and API.
func (e *EKS) isOwnRole(ctx context.Context, name, api string) (bool, error) {
	tags, err := roleTags(ctx, e.c.IAM, name)
	if err != nil {
		return false, err
	}
	return tags[TagClusterName] == e.c.Cluster && tags[TagResource] == ResourceAPIRole && tags[TagAPI] == api, nil
}

// deleteOwnRole deletes the API's role if cortex made it; a role of that name without cortex's
// tags is left alone.
func (e *EKS) deleteOwnRole(ctx context.Context, name, api string) error {
	ok, err := e.isOwnRole(ctx, name, api)
	if IsCode(err, "NoSuchEntity") {
		return nil
	}
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return DeleteRole(ctx, e.c.IAM, name)
}

func (e *EKS) attached(ctx context.Context, role string) (map[string]bool, error) {
	out := map[string]bool{}
	pg := iam.NewListAttachedRolePoliciesPaginator(e.c.IAM, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the policies of role %s: %w", role, err)
		}
		for _, a := range page.AttachedPolicies {
			out[aws.ToString(a.PolicyArn)] = true
		}
	}
	return out, nil
}

// DeleteRole detaches a role's managed policies, deletes its inline ones and deletes it; a role
// that is already gone is not an error.
func DeleteRole(ctx context.Context, c IAM, name string) error {
	e := &EKS{c: Config{IAM: c}}
	attached, err := e.attached(ctx, name)
	if IsCode(err, "NoSuchEntity") {
		return nil
	}
	if err != nil {
		return err
	}
	for _, p := range sortedKeys(attached) {
		if _, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(p)}); err != nil && !IsCode(err, "NoSuchEntity") {
			return fmt.Errorf("detach %s from role %s: %w", p, name, err)
		}
	}
	inline, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil && !IsCode(err, "NoSuchEntity") {
		return fmt.Errorf("list the inline policies of role %s: %w", name, err)
	}
	if inline != nil {
		for _, p := range inline.PolicyNames {
			if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)}); err != nil && !IsCode(err, "NoSuchEntity") {
				return fmt.Errorf("delete inline policy %s of role %s: %w", p, name, err)
			}
		}
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)}); err != nil && !IsCode(err, "NoSuchEntity") {
		return fmt.Errorf("delete role %s: %w", name, err)
	}
	return nil
}

func roleTags(ctx context.Context, c IAM, name string) (map[string]string, error) {
	out := map[string]string{}
	pg := iam.NewListRoleTagsPaginator(c, &iam.ListRoleTagsInput{RoleName: aws.String(name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Tags {
			out[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return out, nil
}

func iamTags(m map[string]string) []iamtypes.Tag {
	var t []iamtypes.Tag
	for _, k := range sortedKeys(m) {
		t = append(t, iamtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cortexRoleNameRE matches the names of the roles cortex makes for any cluster (the cluster's
// role prefix, clusterconfig.RolePrefix: cortex-<name>-<8 hex>, then -<kind>).
var cortexRoleNameRE = regexp.MustCompile(`^cortex-.+-[0-9a-f]{8}-`)

func roleNameOf(arn string) string {
	_, rest, _ := strings.Cut(arn, ":role/")
	return rest[strings.LastIndex(rest, "/")+1:]
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// IsCode reports whether err is an AWS API error with one of the codes.
func IsCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}
