// Package awstest sets up IAM identities in a moto server with auth on, for identity tests.
package awstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// FreeActions is the number of unauthenticated actions Bootstrap needs (CreateUser,
// CreateAccessKey, PutUserPolicy); start moto with it.
const FreeActions = 3

// Config returns an aws.Config that sends every request to moto with static creds.
func Config(s *motoserver.Server, creds aws.Credentials) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.StaticCredentialsProvider{Value: creds},
		BaseEndpoint: aws.String(s.URL),
	}
}

// Bootstrap spends moto's free actions on an administrator and returns its config.
func Bootstrap(t testing.TB, s *motoserver.Server) aws.Config {
	t.Helper()
	anon := Config(s, aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "bootstrap"})
	ctx := context.Background()
	c := iam.NewFromConfig(anon)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bootstrap-admin")}); err != nil {
		t.Fatalf("create admin: %v", err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bootstrap-admin")})
	if err != nil {
		t.Fatalf("create admin key: %v", err)
	}
	// An inline policy: moto does not load AWS managed policies unless asked to.
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bootstrap-admin"), PolicyName: aws.String("admin"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatalf("attach admin policy: %v", err)
	}
	return Config(s, aws.Credentials{AccessKeyID: *key.AccessKey.AccessKeyId, SecretAccessKey: *key.AccessKey.SecretAccessKey})
}

// User is an IAM user with an access key.
type User struct {
	Name  string
	ARN   string
	Creds aws.Credentials
}

// CreateUser makes an IAM user with an access key (no policies: no IAM permission is needed to
// prove who you are).
func CreateUser(t testing.TB, admin aws.Config, name string) User {
	t.Helper()
	ctx := context.Background()
	c := iam.NewFromConfig(admin)
	u, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatalf("create key for %s: %v", name, err)
	}
	return User{Name: name, ARN: *u.User.Arn, Creds: aws.Credentials{
		AccessKeyID: *key.AccessKey.AccessKeyId, SecretAccessKey: *key.AccessKey.SecretAccessKey, Source: "test"}}
}

// DeleteAccessKey removes a user's key (its tokens must stop working).
func DeleteAccessKey(t testing.TB, admin aws.Config, u User) {
	t.Helper()
	_, err := iam.NewFromConfig(admin).DeleteAccessKey(context.Background(), &iam.DeleteAccessKeyInput{
		UserName: aws.String(u.Name), AccessKeyId: aws.String(u.Creds.AccessKeyID)})
	if err != nil {
		t.Fatalf("delete key: %v", err)
	}
}

// AssumeRole creates a role that admin may assume and returns session credentials for it.
func AssumeRole(t testing.TB, admin aws.Config, role, session string) (roleARN string, creds aws.Credentials) {
	t.Helper()
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`
	r, err := iam.NewFromConfig(admin).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	out, err := sts.NewFromConfig(admin).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: r.Role.Arn, RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatalf("assume role: %v", err)
	}
	return *r.Role.Arn, aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey,
		SessionToken: *out.Credentials.SessionToken, Source: "test"}
}

// AssumeExistingRole starts another session of an existing role.
func AssumeExistingRole(t testing.TB, admin aws.Config, roleARN, session string) (string, aws.Credentials) {
	t.Helper()
	out, err := sts.NewFromConfig(admin).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatalf("assume role: %v", err)
	}
	return roleARN, aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey,
		SessionToken: *out.Credentials.SessionToken, Source: "test"}
}
