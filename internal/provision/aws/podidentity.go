package aws

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Roles for pods through EKS Pod Identity: the operator's own role (operatorcreds.go) and, reused
// by per-API roles, the helpers to make and remove a role that pods assume, its association with a
// ServiceAccount, and the agent add-on without which no association gives a pod credentials. Each
// helper is idempotent (find, else create; a second run changes nothing) and takes names, so a
// caller's step decides what to record.

// PodIdentityAgentAddon is the EKS add-on that hands pods of an associated ServiceAccount the
// credentials of their role.
const PodIdentityAgentAddon = "eks-pod-identity-agent"

// PodIdentityTrustPolicy lets EKS Pod Identity (and nothing else) assume a role, and only for one
// ServiceAccount: AssumeRole for the credentials, TagSession for the session tags it adds
// (cluster, namespace, ServiceAccount), which the conditions pin, with this account's cluster as
// the source. Without them any pod identity association in the account could name the role (the
// red team's finding: another cortex cluster's API by iam_role_arn ran as this operator). The
// same conditions as the per-API roles (apiidentity.EKS.TrustPolicy).
func PodIdentityTrustPolicy(partition, account, region, eksCluster, namespace, serviceAccount string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "pods.eks.amazonaws.com"},
			"Action":    []string{"sts:AssumeRole", "sts:TagSession"},
			"Condition": map[string]any{
				"StringEquals": map[string]string{
					"aws:SourceAccount":                         account,
					"aws:RequestTag/eks-cluster-name":           eksCluster,
					"aws:RequestTag/kubernetes-namespace":       namespace,
					"aws:RequestTag/kubernetes-service-account": serviceAccount,
				},
				"ArnEquals": map[string]string{
					"aws:SourceArn": fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", partition, region, account, eksCluster),
				},
			},
		}},
	}
	data, _ := json.Marshal(doc) // maps marshal with sorted keys: a stable document
	return string(data)
}

// PodRole is a role that pods assume.
type PodRole struct {
	Name        string
	Description string
	// TrustPolicy is the role's trust policy (PodIdentityTrustPolicy): required.
	TrustPolicy string
	// InlinePolicyName/InlinePolicy, when set, is the role's own policy (deleted with the role).
	InlinePolicyName, InlinePolicy string
	// ManagedPolicies are attached (and never detached here: a caller that changes the list
	// detaches what it dropped).
	ManagedPolicies []string
	Tags            map[string]string
}

func iamTags(tags map[string]string) []iamtypes.Tag {
	var t []iamtypes.Tag
	for _, k := range sortedTagKeys(tags) {
		t = append(t, iamtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return t
}

// sameJSON reports whether two policy documents are the same JSON (IAM returns them URL-encoded
// and reformatted).
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// EnsurePodRole creates the role with r.TrustPolicy, or brings an existing one back to it (trust
// policy, inline policy, attached policies), and returns its ARN.
func (p *Provisioner) EnsurePodRole(ctx context.Context, r PodRole) (string, error) {
	if r.TrustPolicy == "" {
		return "", fmt.Errorf("role %s: a trust policy is required", r.Name)
	}
	var arn string
	got, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
	switch {
	case err == nil:
		arn = aws.ToString(got.Role.Arn)
		trust, derr := decodePolicyDocument(aws.ToString(got.Role.AssumeRolePolicyDocument))
		if derr != nil || !sameJSON(trust, r.TrustPolicy) {
			// A trust policy someone widened is put back: only EKS Pod Identity may assume it.
			if _, err := p.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(r.Name), PolicyDocument: aws.String(r.TrustPolicy)}); err != nil {
				return "", fmt.Errorf("reset the trust policy of role %s: %w", r.Name, err)
			}
		}
	case isCode(err, "NoSuchEntity"):
		in := &iam.CreateRoleInput{RoleName: aws.String(r.Name), AssumeRolePolicyDocument: aws.String(r.TrustPolicy), Tags: iamTags(r.Tags)}
		if r.Description != "" {
			in.Description = aws.String(r.Description)
		}
		c, err := p.iam.CreateRole(ctx, in)
		if isCode(err, "EntityAlreadyExists") { // made concurrently: use it
			g, gerr := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
			if gerr != nil {
				return "", fmt.Errorf("get role %s: %w", r.Name, gerr)
			}
			arn = aws.ToString(g.Role.Arn)
		} else if err != nil {
			return "", fmt.Errorf("create role %s: %w", r.Name, err)
		} else {
			arn = aws.ToString(c.Role.Arn)
		}
	default:
		return "", fmt.Errorf("get role %s: %w", r.Name, err)
	}
	if r.InlinePolicyName != "" {
		cur, err := p.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(r.InlinePolicyName)})
		same := false
		if err == nil {
			doc, derr := decodePolicyDocument(aws.ToString(cur.PolicyDocument))
			same = derr == nil && sameJSON(doc, r.InlinePolicy)
		} else if !isCode(err, "NoSuchEntity") {
			return "", fmt.Errorf("get policy %s of role %s: %w", r.InlinePolicyName, r.Name, err)
		}
		if !same {
			if _, err := p.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(r.InlinePolicyName), PolicyDocument: aws.String(r.InlinePolicy)}); err != nil {
				return "", fmt.Errorf("put policy %s on role %s: %w", r.InlinePolicyName, r.Name, err)
			}
		}
	}
	if err := p.ensureRolePolicies(ctx, r.Name, r.ManagedPolicies); err != nil {
		return "", err
	}
	return arn, nil
}

// DeletePodRole removes a role made by EnsurePodRole: its attached and inline policies, then the
// role. A role that does not exist is not an error (found reports whether it did).
func (p *Provisioner) DeletePodRole(ctx context.Context, name string) (found bool, err error) {
	attached, err := p.attachedRolePolicies(ctx, name)
	if isCode(err, "NoSuchEntity") {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for arn := range attached {
		if err := p.detachRolePolicy(ctx, name, arn); err != nil {
			return true, err
		}
	}
	pg := iam.NewListRolePoliciesPaginator(p.iam, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if isCode(err, "NoSuchEntity") {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("list inline policies of role %s: %w", name, err)
		}
		for _, pol := range page.PolicyNames {
			if _, err := p.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pol)}); err != nil && !isCode(err, "NoSuchEntity") {
				return true, fmt.Errorf("delete policy %s of role %s: %w", pol, name, err)
			}
		}
	}
	if _, err := p.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)}); err != nil && !isCode(err, "NoSuchEntity") {
		return true, fmt.Errorf("delete role %s: %w", name, err)
	}
	return true, nil
}

// findPodIdentityAssociation returns the association of namespace/serviceAccount (nil if none).
func (p *Provisioner) findPodIdentityAssociation(ctx context.Context, cluster, namespace, serviceAccount string) (*ekstypes.PodIdentityAssociationSummary, error) {
	pg := eks.NewListPodIdentityAssociationsPaginator(p.eks, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String(cluster), Namespace: aws.String(namespace), ServiceAccount: aws.String(serviceAccount)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list pod identity associations of %s: %w", cluster, err)
		}
		for _, a := range page.Associations {
			if aws.ToString(a.Namespace) == namespace && aws.ToString(a.ServiceAccount) == serviceAccount {
				return &a, nil
			}
		}
	}
	return nil, nil
}

// EnsurePodIdentityAssociation binds namespace/serviceAccount of the EKS cluster to roleARN and
// returns the association's id. An association of the same ServiceAccount with another role is
// replaced (deleted, then created), so the ServiceAccount never has two.
func (p *Provisioner) EnsurePodIdentityAssociation(ctx context.Context, cluster, namespace, serviceAccount, roleARN string, tags map[string]string) (string, error) {
	cur, err := p.findPodIdentityAssociation(ctx, cluster, namespace, serviceAccount)
	if err != nil {
		return "", err
	}
	if cur != nil {
		d, err := p.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: cur.AssociationId})
		if err != nil {
			return "", fmt.Errorf("describe pod identity association %s: %w", aws.ToString(cur.AssociationId), err)
		}
		if aws.ToString(d.Association.RoleArn) == roleARN {
			return aws.ToString(cur.AssociationId), nil
		}
		if _, err := p.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: cur.AssociationId}); err != nil && !isCode(err, "ResourceNotFoundException") {
			return "", fmt.Errorf("replace pod identity association of %s/%s: %w", namespace, serviceAccount, err)
		}
	}
	out, err := p.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(cluster), Namespace: aws.String(namespace), ServiceAccount: aws.String(serviceAccount),
		RoleArn: aws.String(roleARN), Tags: tags})
	if err != nil {
		return "", fmt.Errorf("associate %s/%s with role %s: %w", namespace, serviceAccount, roleARN, err)
	}
	return aws.ToString(out.Association.AssociationId), nil
}

// DeletePodIdentityAssociation removes the association of namespace/serviceAccount, if any (also
// when the EKS cluster is gone: EKS deleted its associations with it).
func (p *Provisioner) DeletePodIdentityAssociation(ctx context.Context, cluster, namespace, serviceAccount string) (found bool, err error) {
	cur, err := p.findPodIdentityAssociation(ctx, cluster, namespace, serviceAccount)
	if isCode(err, "ResourceNotFoundException") {
		return false, nil
	}
	if err != nil || cur == nil {
		return false, err
	}
	if _, err := p.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: cur.AssociationId}); err != nil && !isCode(err, "ResourceNotFoundException") {
		return true, fmt.Errorf("delete pod identity association of %s/%s: %w", namespace, serviceAccount, err)
	}
	return true, nil
}

// EnsureAddon creates an EKS add-on if the cluster lacks it and waits until it is active
// (reported under step). It returns the add-on's version.
func (p *Provisioner) EnsureAddon(ctx context.Context, step, cluster, name string, tags map[string]string) (string, error) {
	_, err := p.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(cluster), AddonName: aws.String(name)})
	if isCode(err, "ResourceNotFoundException") {
		_, err = p.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String(cluster), AddonName: aws.String(name), Tags: tags})
		if err != nil && !isCode(err, "ResourceInUseException") {
			return "", fmt.Errorf("create add-on %s: %w", name, err)
		}
	} else if err != nil {
		return "", fmt.Errorf("describe add-on %s: %w", name, err)
	}
	var version string
	err = p.wait(ctx, step, "add-on "+name+" to be active", func(ctx context.Context) (bool, error) {
		d, err := p.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(cluster), AddonName: aws.String(name)})
		if err != nil {
			return false, fmt.Errorf("describe add-on %s: %w", name, err)
		}
		switch d.Addon.Status {
		case ekstypes.AddonStatusActive:
			version = aws.ToString(d.Addon.AddonVersion)
			return true, nil
		case ekstypes.AddonStatusCreateFailed, ekstypes.AddonStatusDeleting, ekstypes.AddonStatusDeleteFailed:
			return false, fmt.Errorf("add-on %s is %s", name, d.Addon.Status)
		}
		return false, nil // CREATING, UPDATING, DEGRADED (its DaemonSet not yet on every node)
	})
	return version, err
}
