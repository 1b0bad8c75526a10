package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AWSSelf is who the operator is on AWS, as CheckAWSCredentials found it.
type AWSSelf struct {
	ARN        string
	Account    string
	EKSCluster string
}

// CheckAWSCredentials is the operator's own first AWS call on EKS (cortex operator serve
// --eks-cluster): with the credentials it was given (the cluster credentials' Secret, or its
// ServiceAccount's role through EKS Pod Identity) it asks STS who it is and describes the EKS
// cluster it runs in. It fails closed: credentials that do not work (a revoked key), belong to
// another account than the cluster's, or cannot see the cluster stop the operator at start, with
// an error that names the cause and never a credential, rather than an operator that fails later
// at its first real AWS task. Both calls are in the operator policy (docs/aws.md).
func CheckAWSCredentials(ctx context.Context, cfg aws.Config, accountID, eksCluster string) (*AWSSelf, error) {
	if eksCluster == "" {
		return nil, errors.New("no EKS cluster to check the operator's AWS credentials against")
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("the operator's AWS credentials do not work (sts:GetCallerIdentity): %w", err)
	}
	self := &AWSSelf{ARN: aws.ToString(id.Arn), Account: aws.ToString(id.Account), EKSCluster: eksCluster}
	if accountID != "" && self.Account != accountID {
		return nil, fmt.Errorf("the operator's AWS credentials (%s) belong to account %s, not to the cluster's account %s", self.ARN, self.Account, accountID)
	}
	d, err := eks.NewFromConfig(cfg).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(eksCluster)})
	if err != nil {
		return nil, fmt.Errorf("the operator (%s) cannot describe its EKS cluster %s (eks:DescribeCluster): %w", self.ARN, eksCluster, err)
	}
	if s := d.Cluster.Status; s != ekstypes.ClusterStatusActive && s != ekstypes.ClusterStatusUpdating {
		return nil, fmt.Errorf("the operator's EKS cluster %s is %s", eksCluster, s)
	}
	return self, nil
}
