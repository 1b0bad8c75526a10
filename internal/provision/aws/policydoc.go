package aws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
)

// decodePolicyDocument turns IAM's URL-encoded policy document into compact JSON.
func decodePolicyDocument(s string) (string, error) {
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return "", fmt.Errorf("policy document is not JSON: %w", err)
	}
	return buf.String(), nil
}
