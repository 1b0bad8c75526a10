package apiidentity

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Removed counts what RemoveAll deleted.
type Removed struct {
	Associations, Roles []string
}

// RemoveAll deletes every pod identity association cortex made in the cluster and every role it
// made for the cluster's APIs (both found by their tags; roles only under rolePrefix), without
// the operator: `cluster down` calls it before deleting the cluster. A cluster that is gone has no
// associations left.
func RemoveAll(ctx context.Context, iamc IAM, eksc EKSAPI, cluster, rolePrefix string) (Removed, error) {
	var out Removed
	pg := eks.NewListPodIdentityAssociationsPaginator(eksc, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if IsCode(err, "ResourceNotFoundException") {
			break
		}
		if err != nil {
			return out, fmt.Errorf("list the pod identity associations of cluster %s: %w", cluster, err)
		}
		for _, s := range page.Associations {
			d, err := eksc.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: s.AssociationId})
			if IsCode(err, "ResourceNotFoundException") {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("describe pod identity association %s: %w", aws.ToString(s.AssociationId), err)
			}
			if t := d.Association.Tags; t[TagClusterName] != cluster || t[TagResource] != ResourceAPIAssociation {
				continue
			}
			if _, err := eksc.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: s.AssociationId}); err != nil && !IsCode(err, "ResourceNotFoundException") {
				return out, fmt.Errorf("delete pod identity association %s: %w", aws.ToString(s.AssociationId), err)
			}
			out.Associations = append(out.Associations, fmt.Sprintf("%s/%s", aws.ToString(s.Namespace), aws.ToString(s.ServiceAccount)))
		}
	}
	rp := iam.NewListRolesPaginator(iamc, &iam.ListRolesInput{PathPrefix: aws.String(RolePath(rolePrefix))})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list roles: %w", err)
		}
		for _, r := range page.Roles {
			name := aws.ToString(r.RoleName)
			if !strings.HasPrefix(name, rolePrefix+"-") || aws.ToString(r.Path) != RolePath(rolePrefix) {
				continue
			}
			tags, err := roleTags(ctx, iamc, name)
			if IsCode(err, "NoSuchEntity") {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("list the tags of role %s: %w", name, err)
			}
			if tags[TagClusterName] != cluster || tags[TagResource] != ResourceAPIRole {
				continue
			}
			if err := DeleteRole(ctx, iamc, name); err != nil {
				return out, err
			}
			out.Roles = append(out.Roles, name)
		}
	}
	return out, nil
}
