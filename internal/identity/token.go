// Package identity mints and verifies cortex identity tokens (DESIGN §2): a header-signed STS
// GetCallerIdentity request, bound to one cluster by a signed x-cortex-cluster-id header and to the
// endpoint the client dialed by a signed x-cortex-audience header, that the operator rebuilds and
// sends to STS to learn who the caller is.
package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

const (
	// TokenPrefix starts every AWS identity token (after "Bearer "). v2 added the audience.
	TokenPrefix = "cortex-aws-v2."
	// tokenPrefixV1 is the retired contract (no audience): refused with a reason that says so.
	tokenPrefixV1 = "cortex-aws-v1."
	// MaxTokenSize bounds the whole token, prefix included.
	MaxTokenSize = 16 << 10

	// The fixed request the token signs.
	stsBody        = "Action=GetCallerIdentity&Version=2011-06-15"
	stsContentType = "application/x-www-form-urlencoded; charset=utf-8"
	// ClusterIDHeader binds the signature to one cluster.
	ClusterIDHeader = "X-Cortex-Cluster-Id"
)

// Token is the decoded payload. Field order is the wire order (Go and Python produce the same bytes).
type Token struct {
	Host          string `json:"host"`
	Date          string `json:"date"`
	Audience      string `json:"audience"`
	Authorization string `json:"authorization"`
	SecurityToken string `json:"security_token,omitempty"`
}

// Encode serializes the token with its prefix.
func (t Token) Encode() (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(data), nil
}

// decodeToken parses a token strictly: prefix, size, unpadded base64url with no stray bits, and a
// JSON object with exactly the known keys, each once, each a non-empty string.
func decodeToken(s string) (Token, error) {
	if len(s) > MaxTokenSize {
		return Token{}, invalid("token_too_large", "token is larger than %d bytes", MaxTokenSize)
	}
	payload, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok && strings.HasPrefix(s, tokenPrefixV1) {
		return Token{}, invalid("old_token_version", "token uses contract v1 (no audience binding): upgrade the cortex CLI or Python client")
	}
	if !ok {
		return Token{}, invalid("bad_prefix", "token does not start with %q", TokenPrefix)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil || payload == "" {
		return Token{}, invalid("bad_encoding", "token payload is not unpadded base64url")
	}
	fields, err := strictStringObject(raw)
	if err != nil {
		return Token{}, invalid("bad_json", "token payload: %v", err)
	}
	var t Token
	for k, v := range fields {
		switch k {
		case "host":
			t.Host = v
		case "date":
			t.Date = v
		case "audience":
			t.Audience = v
		case "authorization":
			t.Authorization = v
		case "security_token":
			t.SecurityToken = v
		default:
			return Token{}, invalid("bad_json", "token payload has unknown key %q", k)
		}
	}
	for k, v := range map[string]string{"host": t.Host, "date": t.Date, "audience": t.Audience, "authorization": t.Authorization} {
		if v == "" {
			return Token{}, invalid("bad_json", "token payload lacks %q", k)
		}
	}
	if _, ok := fields["security_token"]; ok && t.SecurityToken == "" {
		return Token{}, invalid("bad_json", "token payload has an empty security_token")
	}
	if t.SecurityToken != "" && !validSecurityToken(t.SecurityToken) {
		return Token{}, invalid("bad_security_token", "security_token is not a well-formed AWS session token")
	}
	return t, nil
}

// maxSecurityToken bounds a session token; AWS's are at most a few KiB.
const maxSecurityToken = 8 << 10

// validSecurityToken accepts what AWS session tokens are made of (base64, either alphabet). Every
// field of a token is checked before any request is built from it: a control character here would
// otherwise fail inside the operator's own HTTP client and look like an STS outage.
func validSecurityToken(s string) bool {
	if len(s) > maxSecurityToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// strictStringObject decodes one JSON object whose values are all strings, rejecting duplicate
// keys and anything after the object. (encoding/json silently keeps the last duplicate.)
func strictStringObject(raw []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	out := map[string]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON")
		}
		key, _ := kt.(string)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON")
		}
		val, ok := vt.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q is not a string", key)
		}
		out[key] = val
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return out, nil
}
