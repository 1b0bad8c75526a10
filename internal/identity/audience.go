package identity

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// AudienceHeader binds a token to the endpoint the client dialed (contract v2): a token handed to
// one operator or gateway cannot be replayed to another, because the receiving server rebuilds
// the request with one of its own public endpoints, never with a value it was merely sent.
const AudienceHeader = "X-Cortex-Audience"

// maxAudienceLen bounds an audience; a real scheme://host:port is far shorter.
const maxAudienceLen = 300

// NormalizeAudience turns an endpoint URL into the canonical audience string both sides sign and
// compare: scheme://host:port with the scheme and host lower-cased, the port always explicit
// (443/80 filled in), an IPv6 literal in brackets, and nothing else (no user info, path, query or
// fragment). Clients pass the URL they dial; the operator passes each of its public endpoints.
func NormalizeAudience(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("endpoint %q: want https://host[:port]", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	var defPort string
	switch scheme {
	case "https":
		defPort = "443"
	case "http":
		defPort = "80"
	default:
		return "", fmt.Errorf("endpoint %q: the scheme must be https (or http)", raw)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || !validAudienceHost(host) {
		return "", fmt.Errorf("endpoint %q: invalid host", raw)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", fmt.Errorf("endpoint %q: empty port", raw)
		}
		port = defPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", fmt.Errorf("endpoint %q: invalid port", raw)
	}
	aud := scheme + "://" + net.JoinHostPort(host, port)
	if len(aud) > maxAudienceLen {
		return "", fmt.Errorf("endpoint %q is too long", raw)
	}
	return aud, nil
}

// validAudienceHost accepts a DNS name (letters, digits, '-', '.') or an IP literal.
func validAudienceHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return !strings.Contains(h, "%") // no IPv6 zones
	}
	if len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// NormalizeAudiences normalizes a list of public endpoints, dropping duplicates.
func NormalizeAudiences(raws []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range raws {
		a, err := NormalizeAudience(r)
		if err != nil {
			return nil, err
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}
