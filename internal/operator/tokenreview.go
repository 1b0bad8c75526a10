package operator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	authnv1 "k8s.io/api/authentication/v1"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
)

// TokenReviewPath is the Kubernetes authentication webhook (kube-apiserver
// --authentication-token-webhook-config-file points at it).
const TokenReviewPath = "/v1/kubernetes/tokenreview"

// Extra keys of the user info the webhook returns (shown in the API server's audit log).
const (
	ExtraARN         = "cortex.dev/arn"
	ExtraSessionName = "cortex.dev/session-name"
)

// KubeUserLookup maps a verified identity to its Kubernetes user, as EKS's authenticator maps an
// IAM identity by its access entry (username and groups of the entry). found=false: no entry, not
// authenticated; an error is never a pass (the API server gets a 503 and retries).
type KubeUserLookup func(ctx context.Context, id *identity.Identity) (username string, groups []string, found bool, err error)

// maxTokenReview bounds a TokenReview request: a token is at most identity.MaxTokenSize.
const maxTokenReview = 64 << 10

// handleTokenReview answers a TokenReview (authentication.k8s.io/v1, or v1beta1, whose fields are
// the same): the token must be a cortex identity token for this cluster whose audience is one of
// the configured Kubernetes API servers, verified by the operator's own verifier. The user is the
// canonical ARN; the groups are those of the identity's role in the operator's own access
// decision, so a grant or revoke changes both answers at once. An identity without a role is not
// authenticated. The failure limiter does not apply: the caller is the API server, relaying
// everyone's tokens, and limiting it would lock everyone out.
func (s *Server) handleTokenReview(w http.ResponseWriter, r *http.Request) {
	a, _ := r.Context().Value(requestKey).(*requestState)
	if a == nil {
		a = &requestState{}
	}
	a.method = MethodAWS
	// Checked against the webhook's own CA: the server also asks for the remote gateway's.
	if s.webhookClientCAs != nil && !s.webhookClientCAs.issued(r) {
		a.decision, a.reason = "deny", "no_client_certificate"
		WriteError(w, http.StatusUnauthorized, CodeUnauthenticated, "the TokenReview webhook answers only the Kubernetes API server (a client certificate is required)")
		return
	}
	var review authnv1.TokenReview
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTokenReview))
	if err := dec.Decode(&review); err != nil || review.Kind != "TokenReview" ||
		(review.APIVersion != "authentication.k8s.io/v1" && review.APIVersion != "authentication.k8s.io/v1beta1") {
		a.decision, a.reason = "deny", "bad_review"
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "want a TokenReview of authentication.k8s.io/v1 or v1beta1")
		return
	}
	answer := func(status authnv1.TokenReviewStatus) {
		out := authnv1.TokenReview{TypeMeta: review.TypeMeta, Status: status}
		WriteJSON(w, http.StatusOK, out)
	}
	refuse := func(reason, msg string) {
		a.decision, a.reason = "deny", reason
		answer(authnv1.TokenReviewStatus{Authenticated: false, Error: msg})
	}
	token := review.Spec.Token
	if token == "" {
		refuse("no_token", "no token")
		return
	}
	id, err := s.kubeVerifier.Verify(r.Context(), token)
	if err != nil {
		reason := identity.Code(err)
		if errors.Is(err, identity.ErrUnavailable) {
			// Not the token's fault and never a pass: the API server answers 401 and kubectl retries.
			s.log.Warn("identity provider unavailable", "reason", reason, "error", err.Error())
			a.decision, a.reason = "deny", reason
			w.Header().Set("Retry-After", "5")
			WriteError(w, http.StatusServiceUnavailable, CodeIDPUnavailable, "the identity provider (AWS STS) is unavailable; retry later")
			return
		}
		msg := "invalid identity token: " + publicReason(reason)
		if reason == "wrong_audience" {
			msg = "invalid identity token: it is not bound to this Kubernetes API server (run cortex cluster kubeconfig; the token's audience is the server kubectl dials)"
		}
		refuse(reason, msg)
		return
	}
	a.arn = id.ARN
	extra := map[string]authnv1.ExtraValue{ExtraARN: {id.ARN}}
	if id.SessionName != "" {
		extra[ExtraSessionName] = authnv1.ExtraValue{id.SessionName}
	}
	if lookup := s.cfg.KubeUserLookup; lookup != nil {
		name, groups, found, err := lookup(r.Context(), &id)
		switch {
		case err != nil:
			s.log.Warn("kubernetes user lookup failed", "error", err.Error())
			a.decision, a.reason = "deny", "lookup_failed"
			WriteError(w, http.StatusServiceUnavailable, CodeIDPUnavailable, "the identity's Kubernetes user could not be looked up; retry later")
		case !found:
			refuse("no_access_entry", id.ARN+" has no access entry on this cluster (ask a cluster admin: cortex cluster access grant)")
		default:
			a.decision, a.reason = "allow", "access_entry"
			answer(authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{
				Username: name, UID: access.UniqueID(id.UserID), Groups: groups, Extra: extra}})
		}
		return
	}
	d, err := s.decideRole(id)
	if err != nil {
		a.decision, a.reason = "deny", "bind_failed"
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not record the principal's unique id; retry later")
		return
	}
	a.role = string(d.Role)
	if d.Role == access.RoleNone {
		refuse(d.Reason, id.ARN+" has no access to this cluster (ask a cluster admin: cortex cluster access grant)")
		return
	}
	a.decision, a.reason = "allow", d.Reason
	answer(authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{
		Username: id.CanonicalARN, UID: access.UniqueID(id.UserID), Groups: rbac.Groups(d.Role), Extra: extra}})
}
