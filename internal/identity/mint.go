package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// amzDateFormat is SigV4's X-Amz-Date layout.
const amzDateFormat = "20060102T150405Z"

// TokenLifetime is how long the operator accepts a token after its signing date.
const TokenLifetime = 5 * time.Minute

var bodyHash = func() string { h := sha256.Sum256([]byte(stsBody)); return hex.EncodeToString(h[:]) }()

// MintInput says what to sign for.
type MintInput struct {
	Endpoint  STSEndpoint
	ClusterID string
	// Audience is the URL of the server the token is for, as the client dials it (normalized by
	// NormalizeAudience): the operator's or the gateway's endpoint, never what a server announces.
	Audience string
	Now      time.Time
}

// Mint signs the cluster- and audience-bound GetCallerIdentity request with creds and returns the
// token. The request is built by hand so that the SDK's signer signs exactly content-length,
// content-type, host, x-amz-date, x-cortex-audience, x-cortex-cluster-id (and x-amz-security-token).
func Mint(ctx context.Context, creds aws.Credentials, in MintInput) (string, error) {
	if in.ClusterID == "" {
		return "", fmt.Errorf("mint identity token: cluster id is empty")
	}
	if in.Endpoint.Host == "" || in.Endpoint.Region == "" {
		return "", fmt.Errorf("mint identity token: STS host and region are required")
	}
	audience, err := NormalizeAudience(in.Audience)
	if err != nil {
		return "", fmt.Errorf("mint identity token: audience: %w", err)
	}
	scheme := in.Endpoint.Scheme
	if scheme == "" {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+in.Endpoint.Host+"/", strings.NewReader(stsBody))
	if err != nil {
		return "", fmt.Errorf("mint identity token: %w", err)
	}
	req.Header = http.Header{}
	req.Header.Set("Content-Type", stsContentType)
	req.Header.Set("Content-Length", strconv.Itoa(len(stsBody)))
	req.Header.Set(ClusterIDHeader, in.ClusterID)
	req.Header.Set(AudienceHeader, audience)
	req.ContentLength = int64(len(stsBody))
	now := in.Now.UTC()
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, bodyHash, "sts", in.Endpoint.Region, now); err != nil {
		return "", fmt.Errorf("mint identity token: sign: %w", err)
	}
	return Token{
		Host:          in.Endpoint.Host,
		Date:          req.Header.Get("X-Amz-Date"),
		Audience:      audience,
		Authorization: req.Header.Get("Authorization"),
		SecurityToken: req.Header.Get("X-Amz-Security-Token"),
	}.Encode()
}

// TokenExpiry returns when the operator stops accepting token (its date plus TokenLifetime).
// It parses only the date; it does not verify anything.
func TokenExpiry(token string) (time.Time, error) {
	t, err := decodeToken(token)
	if err != nil {
		return time.Time{}, err
	}
	d, err := time.Parse(amzDateFormat, t.Date)
	if err != nil {
		return time.Time{}, invalid("bad_date", "token date is not in X-Amz-Date format")
	}
	return d.Add(TokenLifetime), nil
}

// Binding is what a token is bound to, read from its payload without verifying anything: the STS
// host and signing region, the audience, and the access key id of the credentials (none secret).
// Clients compare it with what they would sign for now before reusing a cached token.
type Binding struct {
	Host, Region, Audience, AccessKeyID string
}

// TokenBinding parses a token's binding (not its cluster id, which is only inside the signature).
func TokenBinding(token string) (Binding, error) {
	t, err := decodeToken(token)
	if err != nil {
		return Binding{}, err
	}
	a, err := parseAuthorization(t.Authorization)
	if err != nil {
		return Binding{}, err
	}
	return Binding{Host: t.Host, Region: a.region, Audience: t.Audience, AccessKeyID: a.accessKeyID}, nil
}
