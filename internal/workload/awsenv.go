package workload

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/cortexlabs-go/cortex/internal/awssdk"
)

// NoAWSEnv stops the AWS SDKs in an API from finding credentials on their own (shared files,
// instance metadata): what an API gets when credentials are not passed or it opted out.
func NoAWSEnv() map[string]string {
	return map[string]string{
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// AWSEnv resolves credentials from profile (empty: the default chain) and returns the standard
// AWS variables for an API process. The values are secrets: pass them only as a child's
// environment, never log them.
func AWSEnv(ctx context.Context, profile string) (map[string]string, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := awssdk.LoadConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials for APIs: %w", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials for APIs (profile %q): %w", profile, err)
	}
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":     creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		// The variables are the only source: no shared files, no instance metadata.
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
	if creds.SessionToken != "" {
		env["AWS_SESSION_TOKEN"] = creds.SessionToken
	}
	if cfg.Region != "" {
		env["AWS_REGION"] = cfg.Region
		env["AWS_DEFAULT_REGION"] = cfg.Region
	}
	return env, nil
}
