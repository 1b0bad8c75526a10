// Package awssdk loads the AWS SDK's configuration the way cortex uses it. The SDK's default
// logger writes to standard error, where its notices ("falling back to IMDSv1", "Response has no
// supported checksum") would reach the user's terminal in the middle of cortex's own output; here
// the SDK never logs, and cortex reports what matters itself, through returned errors.
package awssdk

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// Quiet are the load options that turn the SDK's logging off: a logger that drops everything and
// no request/response/retry logging.
func Quiet() []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithLogger(logging.Nop{}),
		config.WithClientLogMode(0),
	}
}

// LoadConfig is config.LoadDefaultConfig with the SDK's logging off (opts come first; the quiet
// options are applied last so that no caller turns the logger back on by accident).
func LoadConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, append(append([]func(*config.LoadOptions) error(nil), opts...), Quiet()...)...)
}
