package root

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cortexlabs-go/cortex/internal/client"
)

func asAPIError(err error, target **client.APIError) bool { return errors.As(err, target) }

// assumeForeignRole returns session credentials of a role in another account (moto hands out
// credentials of the account named in the role ARN).
func assumeForeignRole(t *testing.T, admin aws.Config) (string, aws.Credentials) {
	t.Helper()
	arn := "arn:aws:iam::111122223333:role/outsider"
	out, err := sts.NewFromConfig(admin).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("x-account")})
	if err != nil {
		t.Fatalf("assume foreign role: %v", err)
	}
	return arn, aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
}
