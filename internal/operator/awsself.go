package operator

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AWSSelf is who the operator is on AWS, as CheckAWSCredentials found it.
type AWSSelf struct {
	ARN     string
	Account string
}

// CheckAWSCredentials is the operator's own first AWS call on EKS (cortex operator serve
// --check-aws-identity): with the credentials it was given (the cluster credentials' Secret, or
// its ServiceAccount's role through EKS Pod Identity) it asks STS who it is. It fails closed:
// credentials that do not work (a revoked or deleted key, an expired session) or that belong to
// another account than the cluster's stop the operator at start, with an error that names the
// cause and never a credential, rather than an operator that fails later, at its first real AWS
// task, in the middle of a user's deploy. sts:GetCallerIdentity needs no permission (AWS allows it
// even under an explicit deny) but does need valid credentials, which is the point.
func CheckAWSCredentials(ctx context.Context, cfg aws.Config, accountID string) (*AWSSelf, error) {
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("the operator's AWS credentials do not work (sts:GetCallerIdentity): %w", err)
	}
	self := &AWSSelf{ARN: aws.ToString(id.Arn), Account: aws.ToString(id.Account)}
	if accountID != "" && self.Account != accountID {
		return nil, fmt.Errorf("the operator's AWS credentials (%s) belong to account %s, not to the cluster's account %s", self.ARN, self.Account, accountID)
	}
	return self, nil
}
