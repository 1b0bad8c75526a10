package kubeaccess

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
)

// EntryAPI is the part of the EKS API that access entries need (*eks.Client has it).
type EntryAPI interface {
	DescribeCluster(context.Context, *eks.DescribeClusterInput, ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
	CreateAccessEntry(context.Context, *eks.CreateAccessEntryInput, ...func(*eks.Options)) (*eks.CreateAccessEntryOutput, error)
	DescribeAccessEntry(context.Context, *eks.DescribeAccessEntryInput, ...func(*eks.Options)) (*eks.DescribeAccessEntryOutput, error)
	ListAccessEntries(context.Context, *eks.ListAccessEntriesInput, ...func(*eks.Options)) (*eks.ListAccessEntriesOutput, error)
	DeleteAccessEntry(context.Context, *eks.DeleteAccessEntryInput, ...func(*eks.Options)) (*eks.DeleteAccessEntryOutput, error)
	AssociateAccessPolicy(context.Context, *eks.AssociateAccessPolicyInput, ...func(*eks.Options)) (*eks.AssociateAccessPolicyOutput, error)
	DisassociateAccessPolicy(context.Context, *eks.DisassociateAccessPolicyInput, ...func(*eks.Options)) (*eks.DisassociateAccessPolicyOutput, error)
	ListAssociatedAccessPolicies(context.Context, *eks.ListAssociatedAccessPoliciesInput, ...func(*eks.Options)) (*eks.ListAssociatedAccessPoliciesOutput, error)
}

// TagRole marks the access entries cortex makes with the role they were made for.
const TagRole = "cortex.dev/role"

// AccessEntries keeps Kubernetes access as EKS access entries of one cluster: type STANDARD,
// username = the principal's ARN, groups = the role's cortex groups, and the role's access policy.
type AccessEntries struct {
	EKS     EntryAPI
	Cluster string
	// Namespaces scope the view and edit policies (the namespace where the APIs run).
	Namespaces []string
}

// Name implements Store.
func (a *AccessEntries) Name() string { return "EKS access entry" }

// Check implements Store: the cluster exists and its authentication mode includes the EKS API
// (in CONFIG_MAP mode EKS refuses every access entry operation).
func (a *AccessEntries) Check(ctx context.Context) error {
	d, err := a.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: &a.Cluster})
	if err != nil {
		return fmt.Errorf("describe EKS cluster %s: %w", a.Cluster, err)
	}
	if ac := d.Cluster.AccessConfig; ac == nil || ac.AuthenticationMode == "" || ac.AuthenticationMode == ekstypes.AuthenticationModeConfigMap {
		return fmt.Errorf("EKS cluster %s authenticates with the aws-auth ConfigMap only (authentication mode CONFIG_MAP), which has no access entries: "+
			"use --aws-auth --kubeconfig FILE, or switch the cluster to access entries with "+
			"`aws eks update-cluster-config --name %s --access-config authenticationMode=API_AND_CONFIG_MAP`", a.Cluster, a.Cluster)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *ekstypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// Put implements Store. An entry that already has the role's username, groups and type keeps
// existing and only its policies change (extra ones removed first, so access never exceeds
// role's in between); any other entry is deleted and made again.
func (a *AccessEntries) Put(ctx context.Context, principal string, role access.Role) error {
	want := PolicyFor(role, a.Namespaces)
	groups := rbac.Groups(role)
	d, err := a.EKS.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: &a.Cluster, PrincipalArn: &principal})
	switch {
	case isNotFound(err):
		err = a.create(ctx, principal, groups, role)
	case err != nil:
		return fmt.Errorf("describe the access entry of %s: %w", principal, err)
	case role == access.RoleAdmin && aws.ToString(d.AccessEntry.Type) == "STANDARD":
		// An entry that is cluster admin already (EKS's bootstrap entry of the creator) stays as it
		// is: replacing it would risk the creator's own access for nothing.
		pols, perr := a.policies(ctx, principal)
		if perr != nil {
			return perr
		}
		for _, p := range pols {
			if p.ARN == ClusterAdminPolicy && p.Scope == "cluster" {
				return nil
			}
		}
		if sameSet(d.AccessEntry.KubernetesGroups, groups) && aws.ToString(d.AccessEntry.Username) == principal {
			err = a.dropPoliciesExcept(ctx, principal, want.ARN)
		} else if _, err = a.Delete(ctx, principal); err == nil {
			err = a.create(ctx, principal, groups, role)
		}
	case aws.ToString(d.AccessEntry.Type) == "STANDARD" && aws.ToString(d.AccessEntry.Username) == principal && sameSet(d.AccessEntry.KubernetesGroups, groups):
		err = a.dropPoliciesExcept(ctx, principal, want.ARN)
	default:
		if _, err = a.Delete(ctx, principal); err == nil {
			err = a.create(ctx, principal, groups, role)
		}
	}
	if err != nil {
		return err
	}
	scope := &ekstypes.AccessScope{Type: ekstypes.AccessScopeType(want.Scope), Namespaces: want.Namespaces}
	if _, err := a.EKS.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: &a.Cluster, PrincipalArn: &principal,
		PolicyArn: aws.String(want.ARN), AccessScope: scope}); err != nil {
		return fmt.Errorf("associate %s with the access entry of %s: %w", want.ARN, principal, err)
	}
	return nil
}

func (a *AccessEntries) create(ctx context.Context, principal string, groups []string, role access.Role) error {
	_, err := a.EKS.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: &a.Cluster, PrincipalArn: &principal,
		Type: aws.String("STANDARD"), Username: aws.String(principal), KubernetesGroups: groups,
		Tags: map[string]string{TagRole: string(role)}})
	if err != nil {
		return fmt.Errorf("create the access entry of %s: %w", principal, err)
	}
	return nil
}

func (a *AccessEntries) dropPoliciesExcept(ctx context.Context, principal, keep string) error {
	pols, err := a.policies(ctx, principal)
	if err != nil {
		return err
	}
	for _, p := range pols {
		if p.ARN == keep {
			continue
		}
		if _, err := a.EKS.DisassociateAccessPolicy(ctx, &eks.DisassociateAccessPolicyInput{ClusterName: &a.Cluster, PrincipalArn: &principal,
			PolicyArn: aws.String(p.ARN)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("disassociate %s from the access entry of %s: %w", p.ARN, principal, err)
		}
	}
	return nil
}

func (a *AccessEntries) policies(ctx context.Context, principal string) ([]Policy, error) {
	var out []Policy
	pg := eks.NewListAssociatedAccessPoliciesPaginator(a.EKS, &eks.ListAssociatedAccessPoliciesInput{ClusterName: &a.Cluster, PrincipalArn: &principal})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the access policies of %s: %w", principal, err)
		}
		for _, p := range page.AssociatedAccessPolicies {
			pol := Policy{ARN: aws.ToString(p.PolicyArn)}
			if p.AccessScope != nil {
				pol.Scope, pol.Namespaces = string(p.AccessScope.Type), p.AccessScope.Namespaces
			}
			out = append(out, pol)
		}
	}
	return out, nil
}

// Delete implements Store (the entry's policies go with it).
func (a *AccessEntries) Delete(ctx context.Context, principal string) (bool, error) {
	_, err := a.EKS.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: &a.Cluster, PrincipalArn: &principal})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete the access entry of %s: %w", principal, err)
	}
	return true, nil
}

// List implements Store: every access entry of the cluster, with its policies.
func (a *AccessEntries) List(ctx context.Context) ([]Grant, error) {
	var out []Grant
	pg := eks.NewListAccessEntriesPaginator(a.EKS, &eks.ListAccessEntriesInput{ClusterName: &a.Cluster})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the access entries of EKS cluster %s: %w", a.Cluster, err)
		}
		for _, principal := range page.AccessEntries {
			d, err := a.EKS.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: &a.Cluster, PrincipalArn: aws.String(principal)})
			if isNotFound(err) {
				continue // deleted since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("describe the access entry of %s: %w", principal, err)
			}
			g := Grant{Principal: principal, Username: aws.ToString(d.AccessEntry.Username), Groups: d.AccessEntry.KubernetesGroups,
				Type: aws.ToString(d.AccessEntry.Type)}
			if g.Type == "STANDARD" {
				if g.Policies, err = a.policies(ctx, principal); err != nil {
					return nil, err
				}
				g.Role = roleOf(g, a.Namespaces)
			}
			out = append(out, g)
		}
	}
	return out, nil
}
