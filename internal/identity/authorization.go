package identity

import (
	"regexp"
	"strings"
)

// SignedHeaders a token must sign: exactly these, in this order (SigV4 sorts them).
const (
	signedHeaders        = "content-length;content-type;host;x-amz-date;x-cortex-audience;x-cortex-cluster-id"
	signedHeadersSession = "content-length;content-type;host;x-amz-date;x-amz-security-token;x-cortex-audience;x-cortex-cluster-id"
)

// authRE is the exact shape aws-sdk-go-v2 and botocore produce:
// AWS4-HMAC-SHA256 Credential=<akid>/<yyyymmdd>/<region>/sts/aws4_request, SignedHeaders=<list>, Signature=<64 hex>
var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})/([0-9]{8})/([a-z0-9-]{1,32})/([a-z0-9-]{1,32})/aws4_request, SignedHeaders=([a-z0-9;-]{1,256}), Signature=([0-9a-f]{64})$`)

type authorization struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders string
}

func parseAuthorization(s string) (authorization, error) {
	if !strings.HasPrefix(s, "AWS4-HMAC-SHA256 ") {
		return authorization{}, invalid("bad_algorithm", "authorization does not use AWS4-HMAC-SHA256")
	}
	m := authRE.FindStringSubmatch(s)
	if m == nil {
		return authorization{}, invalid("bad_authorization", "authorization is not a well-formed SigV4 header")
	}
	return authorization{accessKeyID: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5]}, nil
}
