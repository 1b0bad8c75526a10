package operator

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apikey"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// apiAuth is who may call an API through the gateway: the operator's decision, made with the
// operator's own parts: its verifier (scoped to the gateway's public endpoints, sharing the
// cache), its access policy (for iam APIs without allow: whoever may read the cluster), its kind
// of failure limiter (its own instance: failures at the gateway count per client address like
// those at the operator), and the cluster's API keys.
type apiAuth struct {
	verifier *identity.Verifier // audiences: the gateway's public endpoints
	limiter  *failureLimiter
	auths    atomic.Pointer[map[string]apispec.Auth] // API name -> auth, from the workload manager
}

func (a *apiAuth) setAuths(m map[string]apispec.Auth) { a.auths.Store(&m) }

// authorizeAPI is gateway.Options.Authorize.
func (s *Server) authorizeAPI(r *http.Request, api string) gateway.Decision {
	var auth apispec.Auth
	if m := s.apiAuth.auths.Load(); m != nil {
		auth = (*m)[api]
	}
	d := gateway.Decision{Auth: auth.Type}
	deny := func(status int, code, reason, msg string) gateway.Decision {
		d.Status, d.Code, d.Reason, d.Message = status, code, reason, msg
		switch status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			d.RetryAfter = 5
		}
		return d
	}
	if auth.Type == apispec.AuthNone {
		d.Reason = "public" // credentials, if any, are stripped all the same
		return d
	}
	if auth.Type != apispec.AuthIAM && auth.Type != apispec.AuthAPIKey {
		// A route without a known auth (cannot happen: auths are published before routes). Closed.
		return deny(http.StatusServiceUnavailable, "not_ready", "no_auth", "API "+api+" is not ready")
	}
	client, now := clientKey(r), s.now()
	lim := s.apiAuth.limiter
	kind, cred := gateway.Credential(r)
	// As at the operator: a client key that keeps failing is answered 429 before its credentials
	// cost anything, except credentials that cost nothing to check and are known good, so that
	// others behind the same address are not locked out by a failing neighbour.
	if lim.blocked(client, now) && !s.knownGoodAtGateway(auth.Type, kind, cred, api) {
		return deny(http.StatusTooManyRequests, CodeRateLimited, "rate_limited", "too many failed authentication attempts; retry later")
	}
	unauthenticated := func(reason, msg string) gateway.Decision {
		lim.fail(client, now)
		return deny(http.StatusUnauthorized, CodeUnauthenticated, reason, msg)
	}
	switch kind {
	case gateway.CredNone:
		if auth.Type == apispec.AuthAPIKey {
			return unauthenticated("no_credentials", "this API needs an API key: send Authorization: Bearer <key> or X-Api-Key: <key> (cortex call --api-key, or CORTEX_API_KEY)")
		}
		return unauthenticated("no_credentials", "this API needs an identity token: send Authorization: Bearer <token> (cortex call and the Python client do this for you)")
	case gateway.CredMalformed:
		return unauthenticated("malformed_credentials", "malformed credentials: send one Authorization: Bearer <credential> header (or one X-Api-Key)")
	case gateway.CredAmbiguous:
		return unauthenticated("ambiguous_credentials", "send either Authorization or X-Api-Key, not both")
	}

	if auth.Type == apispec.AuthAPIKey {
		id, err := s.keys.Check(cred, api)
		if id != "" {
			d.Principal = "key:" + id
		}
		switch {
		case err == nil:
			d.Reason = "api_key"
			return d
		case errors.Is(err, apikey.ErrNotForAPI):
			return deny(http.StatusForbidden, CodeForbidden, apikey.Reason(err), "this API key is not valid for API "+api)
		case errors.Is(err, apikey.ErrMalformed) && strings.HasPrefix(cred, identity.TokenPrefix):
			return unauthenticated("wrong_credential_type", "this API takes API keys, not identity tokens")
		}
		return unauthenticated(apikey.Reason(err), "invalid API key: "+err.Error())
	}

	// iam
	switch {
	case kind == gateway.CredAPIKey || strings.HasPrefix(cred, apikey.Prefix):
		return unauthenticated("wrong_credential_type", "this API takes AWS identity tokens, not API keys")
	case strings.HasPrefix(cred, LocalTokenPrefix) && s.local != nil:
		// The local provider's admin credential may read the cluster, so it may call an iam API
		// that admits the cluster's readers, not one that names its callers.
		if _, err := s.local.authenticate(r.Context(), cred); err != nil {
			return unauthenticated("bad_local_token", "invalid credential: "+publicReason("bad_local_token"))
		}
		d.Principal = LocalAdminARN
		if auth.Allow != nil {
			return deny(http.StatusForbidden, CodeForbidden, "not_in_allow", "API "+api+" admits only the IAM principals its spec allows")
		}
		d.Reason = "local_admin"
		return d
	}
	id, err := awsAuth{s.apiAuth.verifier}.authenticate(r.Context(), cred)
	if err != nil {
		reason := identity.Code(err)
		if errors.Is(err, identity.ErrUnavailable) {
			s.log.Warn("identity provider unavailable", "reason", reason, "error", err.Error())
			return deny(http.StatusServiceUnavailable, CodeIDPUnavailable, reason, "the identity provider (AWS STS) is unavailable; retry later")
		}
		msg := publicReason(reason)
		if reason == "wrong_audience" {
			msg = "the token is bound to another endpoint than this gateway (mint it for the gateway's URL)"
		}
		return unauthenticated(reason, "invalid identity token: "+msg)
	}
	d.Principal = id.ARN
	if auth.Allow != nil {
		if allowed(auth.Allow, id) {
			d.Reason = "allow_list"
			return d
		}
		return deny(http.StatusForbidden, CodeForbidden, "not_in_allow", id.ARN+" is not allowed to call API "+api)
	}
	rd, err := s.decideRole(id)
	if err != nil {
		return deny(http.StatusInternalServerError, CodeInternal, "bind_failed", "could not record your principal's unique id; retry later")
	}
	if !rd.Role.Allows(access.RoleRead) {
		return deny(http.StatusForbidden, CodeForbidden, rd.Reason, id.ARN+" has no access to this cluster, so it may not call API "+api)
	}
	d.Reason = rd.Reason
	return d
}

// knownGoodAtGateway reports whether a request's credential is valid at no cost: an API key
// that checks for api (a hash and a lookup), the local admin secret, or an identity token whose
// verification for the gateway is cached. (Authorization still follows in full.)
func (s *Server) knownGoodAtGateway(authType, kind, cred, api string) bool {
	if kind != gateway.CredBearer && kind != gateway.CredAPIKey {
		return false
	}
	if authType == apispec.AuthAPIKey {
		_, err := s.keys.Check(cred, api)
		return err == nil
	}
	if kind != gateway.CredBearer {
		return false
	}
	if strings.HasPrefix(cred, LocalTokenPrefix) && s.local != nil {
		_, err := s.local.authenticate(context.Background(), cred)
		return err == nil
	}
	if s.apiAuth.verifier == nil {
		return false
	}
	_, ok := s.apiAuth.verifier.Cached(cred)
	return ok
}

// allowed reports whether an auth.allow list admits id: its canonical ARN (a role's sessions
// match the role), or its account, except the account's root, which only its own ARN admits.
func allowed(allow []string, id identity.Identity) bool {
	if slices.Contains(allow, id.CanonicalARN) {
		return true
	}
	return !strings.HasSuffix(id.CanonicalARN, ":root") && slices.Contains(allow, id.Account)
}
