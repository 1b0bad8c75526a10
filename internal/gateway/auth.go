package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// APIKeyHeader is the other header an API key may come in (besides Authorization: Bearer).
const APIKeyHeader = "X-Api-Key"

// Decision is the outcome of Options.Authorize for one request.
type Decision struct {
	// Status is 0 to let the request through, else the error status: 401 (no valid credential),
	// 403 (valid, not allowed for this API), 429 (too many failures from this address) or 503
	// (the identity provider is unavailable).
	Status int
	// Code and Message are the JSON error (the operator's codes: unauthenticated, forbidden, ...).
	Code, Message string
	// Auth is the API's auth type; Principal is who was verified (an ARN, or "key:<id>"), and
	// Reason a short code: all three go to the access log. Never a credential.
	Auth, Principal, Reason string
	// RetryAfter, when set, becomes a Retry-After header (seconds).
	RetryAfter int
}

// deny answers a refused request like the operator does. After a 401 or 429 the connection is
// closed without reading the rest of the body: an unauthenticated client does not get to make
// the gateway read (or buffer) its upload.
func (g *Gateway) deny(w http.ResponseWriter, d *Decision) {
	h := w.Header()
	if d.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="cortex"`)
	}
	if d.Status == http.StatusUnauthorized || d.Status == http.StatusTooManyRequests {
		h.Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now()) // HTTP/2: not supported, and not needed
	}
	if d.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(d.RetryAfter))
	}
	writeError(w, d.Status, d.Code, d.Message)
}

// Credential kinds found by Credential.
const (
	CredNone      = ""
	CredBearer    = "bearer"    // Authorization: Bearer <value>
	CredAPIKey    = "x-api-key" // X-Api-Key: <value>
	CredMalformed = "malformed" // present but unusable: several values, another scheme, empty
	CredAmbiguous = "ambiguous" // both headers: refused rather than picking one
)

// Credential returns the one credential a request carries and where it came from. More than one
// Authorization or X-Api-Key header, a scheme other than Bearer, an empty value or characters
// outside printable ASCII make it CredMalformed; both headers at once, CredAmbiguous.
func Credential(r *http.Request) (kind, value string) {
	auth, key := r.Header.Values("Authorization"), r.Header.Values(APIKeyHeader)
	switch {
	case len(auth) == 0 && len(key) == 0:
		return CredNone, ""
	case len(auth) > 0 && len(key) > 0:
		return CredAmbiguous, ""
	case len(auth) > 1 || len(key) > 1:
		return CredMalformed, ""
	case len(key) == 1:
		if !printable(key[0]) {
			return CredMalformed, ""
		}
		return CredAPIKey, key[0]
	}
	scheme, v, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !printable(v) {
		return CredMalformed, ""
	}
	return CredBearer, v
}

// printable: non-empty, at most 16 KiB, visible ASCII only (no spaces, controls or UTF-8).
func printable(s string) bool {
	if s == "" || len(s) > 16<<10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
