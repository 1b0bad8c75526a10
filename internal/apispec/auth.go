package apispec

import (
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// Auth types: who may call an API through the gateway.
const (
	// AuthIAM: callers prove an AWS identity with a cortex identity token bound to the gateway.
	AuthIAM = "iam"
	// AuthAPIKey: callers send an API key created with `cortex api-key create` for this API.
	AuthAPIKey = "api_key"
	// AuthNone: anyone who can reach the gateway. Only when a spec says so.
	AuthNone = "none"
)

// DefaultAuth is the auth of a spec that says nothing: no API is public unless its spec says
// so, and iam without allow admits exactly who may already read the cluster.
const DefaultAuth = AuthIAM

// MaxAllow bounds auth.allow.
const MaxAllow = 100

// Auth is the API's `auth` field.
type Auth struct {
	// Type is iam, api_key or none (default iam).
	Type string `json:"type"`
	// Allow (iam only) lists the IAM user or role ARNs and 12-digit account ids that may call the
	// API. Absent: every identity with at least the read role on the cluster may.
	Allow []string `json:"allow,omitempty"`
}

// ValidateAuth checks a and fills its default; ARNs in Allow are put in canonical form (an
// assumed-role ARN is refused: name the role). Errors are *FieldError naming auth.*.
func ValidateAuth(a *Auth) error {
	fe := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if a.Type == "" {
		a.Type = DefaultAuth
	}
	switch a.Type {
	case AuthIAM:
	case AuthAPIKey, AuthNone:
		if a.Allow != nil {
			return fe("auth.allow", "only for type iam (API keys are scoped with `cortex api-key create --api`)")
		}
		return nil
	default:
		return fe("auth.type", "unknown auth type %q (iam, api_key or none)", a.Type)
	}
	if a.Allow == nil {
		return nil
	}
	if len(a.Allow) == 0 {
		return fe("auth.allow", "empty: list principals, or leave allow out to admit whoever may read the cluster")
	}
	if len(a.Allow) > MaxAllow {
		return fe("auth.allow", "too many entries (%d, at most %d)", len(a.Allow), MaxAllow)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(a.Allow))
	for i, p := range a.Allow {
		c, err := access.NormalizePrincipal(p)
		if err != nil {
			return fe(fmt.Sprintf("auth.allow[%d]", i), "%v", err)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	a.Allow = out
	return nil
}

// EffectiveAuth is the spec's auth with the default filled in (specs persisted before the auth
// field existed have none).
func (s *Spec) EffectiveAuth() Auth {
	a := s.Auth
	if a.Type == "" {
		a.Type = DefaultAuth
	}
	return a
}
