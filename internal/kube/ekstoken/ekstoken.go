// Package ekstoken mints the bearer token EKS clusters accept (the aws-iam-authenticator format
// that `aws eks get-token` makes): a presigned STS GetCallerIdentity URL whose signature covers an
// x-k8s-aws-id header naming the cluster, so a token for one cluster is refused by another.
package ekstoken

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cortexlabs-go/cortex/internal/identity"
)

const (
	// Prefix starts every EKS token.
	Prefix = "k8s-aws-v1."
	// ClusterHeader is the signed header that binds the token to one cluster (by its name).
	ClusterHeader = "x-k8s-aws-id"
	// PresignExpiry is the X-Amz-Expires of the URL, as the AWS CLI sets it. (EKS itself accepts a
	// token for 15 minutes after its date, whatever this says.)
	PresignExpiry = 60 * time.Second
	// Lifetime is the expirationTimestamp the AWS CLI reports: 14 minutes, one under what EKS
	// accepts, so kubectl asks for a new token before the old one is refused.
	Lifetime = 14 * time.Minute
)

// emptyPayloadHash is the SHA-256 of an empty body (a GET has none).
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// clusterNameRE is EKS's rule for cluster names.
var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)

// Input says what to sign for.
type Input struct {
	ClusterName string
	Region      string
	Partition   string // default aws
	Now         time.Time
}

// Mint presigns GET https://sts.<region>.<suffix>/?Action=GetCallerIdentity&Version=2011-06-15
// with x-k8s-aws-id signed and returns the token and when it should be replaced.
func Mint(ctx context.Context, creds aws.Credentials, in Input) (string, time.Time, error) {
	if !clusterNameRE.MatchString(in.ClusterName) {
		return "", time.Time{}, fmt.Errorf("EKS token: invalid cluster name %q", in.ClusterName)
	}
	partition := in.Partition
	if partition == "" {
		partition = identity.PartitionAWS
	}
	ep, err := identity.RegionalHost(partition, in.Region)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("EKS token: %w", err)
	}
	q := url.Values{}
	q.Set("Action", "GetCallerIdentity")
	q.Set("Version", "2011-06-15")
	q.Set("X-Amz-Expires", fmt.Sprint(int(PresignExpiry/time.Second)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+ep.Host+"/?"+q.Encode(), nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("EKS token: %w", err)
	}
	req.Header.Set(ClusterHeader, in.ClusterName)
	now := in.Now.UTC()
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, emptyPayloadHash, "sts", ep.Region, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("EKS token: presign: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString([]byte(signed)), now.Add(Lifetime), nil
}
