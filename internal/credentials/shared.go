package credentials

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/cortexlabs-go/cortex/internal/awssdk"
)

// LoadSharedConfig resolves credentials from the shared credentials/config files (profiles,
// SSO, assume-role, credential_process) for profile ("" = AWS_PROFILE or default). Instance
// metadata is not consulted (a laptop has none and probing it is slow).
func LoadSharedConfig(ctx context.Context, profile string) (*Creds, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := awssdk.LoadConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("no credentials in the shared config")
	}
	v, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	name := profile
	if name == "" {
		name = "default"
	}
	return &Creds{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken,
		Profile: name, Source: SourceSharedConfig, Detail: "profile " + name, Provider: cfg.Credentials}, nil
}
