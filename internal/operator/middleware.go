package operator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/netlimit"
)

type ctxKey int

// requestKey holds the *requestState the middleware puts in every request's context; connKey the
// request's net.Conn (http.Server.ConnContext), to mark it trusted once it authenticates.
const (
	requestKey ctxKey = iota
	connKey
)

// Caller is the authenticated, authorized identity of a request.
type Caller struct {
	identity.Identity
	Method string
	Role   access.Role
}

// Info is the caller as /v1/info shows it.
func (c *Caller) Info() CallerInfo {
	if c == nil {
		return CallerInfo{}
	}
	return CallerInfo{ARN: c.ARN, CanonicalARN: c.CanonicalARN, Account: c.Account, UserID: c.UserID,
		SessionName: c.SessionName, Role: string(c.Role), Method: c.Method}
}

// CallerFrom returns the request's caller (nil on unauthenticated routes).
func CallerFrom(ctx context.Context) *Caller {
	if st, ok := ctx.Value(requestKey).(*requestState); ok {
		return st.caller
	}
	return nil
}

// requestState is what the layers of one request share: the caller, once authenticated, and what
// its audit line says. One context value for both keeps the hot path to one allocation.
type requestState struct {
	caller                              *Caller
	arn, role, decision, reason, method string
	// quiet keeps an allowed request out of the audit log: the remote gateway's calls, one per
	// request at the gateway, which its own access log records with the decision.
	quiet bool
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware wraps every request: request id, panic recovery, security headers, audit log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := newRequestID()
		w.Header().Set("X-Request-Id", reqID)
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		w.Header().Set("Cache-Control", "no-store")
		if len(r.Header.Values("Authorization")) == 0 {
			// A connection is kept only for clients that authenticate: one that only asks the
			// unauthenticated endpoints (or nothing that exists) gets one answer and is closed,
			// so unauthenticated clients cannot sit on connection slots.
			w.Header().Set("Connection", "close")
		}
		rec := &statusRecorder{ResponseWriter: w}
		a := &requestState{decision: "none"}
		ctx := context.WithValue(r.Context(), requestKey, a)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "request_id", reqID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					WriteError(rec, http.StatusInternalServerError, CodeInternal, "internal error (request id %s)", reqID)
				}
			}
			// Repeated identical denials from one address are counted, not each logged (denials.go).
			if a.quiet && a.decision == "allow" {
				return
			}
			key := denialKey{client: clientKey(r), decision: a.decision, reason: a.reason, status: rec.status, arn: a.arn, method: r.Method}
			if a.decision != "allow" && s.denials != nil && !s.denials.admit(key, r.URL.Path, start) {
				return
			}
			// The audit line: who (verified ARN only), what, the decision and why. Never the token.
			// Lines without a verified principal go to the denial log, apart from the audit trail
			// of principals, so that traffic anyone can send never rotates that trail away.
			log := s.log
			if a.arn == "" {
				log = s.anonLog
			}
			log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", reqID),
				slog.String("client", clientAddr(r)),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.String("arn", a.arn),
				slog.String("auth_method", a.method),
				slog.String("role", a.role),
				slog.String("decision", a.decision),
				slog.String("reason", a.reason),
				slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			)
		}()
		r = r.WithContext(ctx)
		s.bodyDeadline(w, r, start)
		next.ServeHTTP(rec, r)
	})
}

// bodyDeadline gives the request's body BodyTimeoutSeconds to arrive, then lifts the deadline
// once it has (so a long handler, or a long response, is not cut off). Requests without a body
// have no deadline after their headers. w must be the server's own ResponseWriter.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request, start time.Time) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(start.Add(time.Duration(s.cfg.Connections.BodyTimeoutSeconds)*time.Second)) != nil {
		return // not a real connection (tests that call the handler directly)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, done: func() { _ = rc.SetReadDeadline(time.Time{}) }}
}

// deadlineBody calls done when the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	done    func()
	seenEOF bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.seenEOF {
		b.seenEOF = true
		b.done()
	}
	return n, err
}

// authorize authenticates the request's bearer token and checks that its role includes need.
func (s *Server) authorize(need access.Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := r.Context().Value(requestKey).(*requestState)
		if a == nil { // a route served without the middleware (tests)
			a = &requestState{}
			r = r.WithContext(context.WithValue(r.Context(), requestKey, a))
		}
		deny := func(status int, code, reason, format string, args ...any) {
			a.decision, a.reason = "deny", reason
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="cortex"`)
			}
			if status == http.StatusUnauthorized || status == http.StatusTooManyRequests {
				// Answer, then close without reading the rest of the body. Connection: close alone
				// is not enough: after the handler, net/http closes the request body "regardless of
				// closeAfterReply" (server.go, finishRequest), which reads up to 256 KiB of it, at
				// whatever pace the unauthenticated client sends. A read deadline in the past makes
				// that read fail at once; the response is written all the same.
				w.Header().Set("Connection", "close")
				_ = http.NewResponseController(w).SetReadDeadline(time.Now())
			}
			if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "5")
			}
			WriteError(w, status, code, format, args...)
		}
		client := clientKey(r)
		now := s.now()
		token, ok := bearer(r)
		// A client key that keeps failing is answered 429 before its tokens cost anything, except
		// for credentials that cost nothing to check and are known good (a verified token still in
		// the cache, the local admin secret): others behind the same address (NAT, a bastion, every
		// client of a local cluster) are not locked out by an unauthenticated neighbour.
		if s.limiter.blocked(client, now) && !(ok && s.knownGood(token)) {
			deny(http.StatusTooManyRequests, CodeRateLimited, "rate_limited", "too many failed authentication attempts; retry later")
			return
		}
		if !ok {
			s.limiter.fail(client, now)
			deny(http.StatusUnauthorized, CodeUnauthenticated, "no_token", "no identity token: send Authorization: Bearer <token> (the cortex CLI and Python client do this for you)")
			return
		}
		var auth authenticator
		method := MethodAWS
		switch {
		case strings.HasPrefix(token, LocalTokenPrefix) && s.local != nil:
			auth, method = s.local, MethodLocal
		default:
			auth = awsAuth{s.verifier}
		}
		id, err := auth.authenticate(r.Context(), token)
		a.method = method
		if err != nil {
			reason := identity.Code(err)
			if errors.Is(err, identity.ErrUnavailable) {
				// Not the client's fault: never counted against it, never a pass.
				s.log.Warn("identity provider unavailable", "reason", reason, "error", err.Error())
				deny(http.StatusServiceUnavailable, CodeIDPUnavailable, reason, "the identity provider (AWS STS) is unavailable; retry later")
				return
			}
			s.limiter.fail(client, now)
			deny(http.StatusUnauthorized, CodeUnauthenticated, reason, "invalid identity token: %s", publicReason(reason))
			return
		}
		a.arn = id.ARN
		role, reason := access.RoleAdmin, "local_admin"
		if method == MethodAWS {
			d, err := s.decideRole(id)
			if err != nil {
				deny(http.StatusInternalServerError, CodeInternal, "bind_failed", "could not record your principal's unique id; retry later")
				return
			}
			role, reason = d.Role, d.Reason
		}
		a.role = string(role)
		if !role.Allows(need) {
			if reason == access.ReasonRecreated {
				deny(http.StatusForbidden, CodeForbidden, reason, "%s is not the principal that was granted access: it was deleted and re-created (its IAM unique id changed). A cluster admin must grant it again: cortex cluster access grant %s --role <role>", id.ARN, id.CanonicalARN)
			} else if role == access.RoleNone {
				deny(http.StatusForbidden, CodeForbidden, reason, "%s has no access to this cluster (ask a cluster admin: cortex cluster access grant)", id.ARN)
			} else {
				deny(http.StatusForbidden, CodeForbidden, "role_too_low", "%s has role %s; this needs %s", id.ARN, role, need)
			}
			return
		}
		a.decision, a.reason = "allow", reason
		a.caller = &Caller{Identity: id, Method: method, Role: role}
		if c, ok := r.Context().Value(connKey).(net.Conn); ok {
			netlimit.Trust(c) // an authenticated connection is never evicted at the total cap
		}
		next.ServeHTTP(w, r)
	})
}

// decideRole is the role of a verified AWS identity on this cluster, binding the grant that admits
// it to its unique id on first use (the operator's routes and the gateway's iam APIs both ask).
func (s *Server) decideRole(id identity.Identity) (access.Decision, error) {
	uid := access.UniqueID(id.UserID)
	s.mu.RLock()
	d := s.policy.Decide(id.CanonicalARN, id.Account, uid)
	s.mu.RUnlock()
	if !d.Bind {
		return d, nil
	}
	d, err := s.bind(id.CanonicalARN, id.Account, uid)
	if err != nil {
		// Fail closed: a grant that cannot be bound is not used unbound.
		s.log.Error("record the unique id of a principal", "principal", id.CanonicalARN, "error", err.Error())
	}
	return d, err
}

// publicReason is what a 401 tells the client: enough to fix its setup, nothing about the token.
func publicReason(code string) string {
	switch code {
	case "token_expired":
		return "the token has expired (check this machine's clock)"
	case "token_from_future":
		return "the token is dated in the future (check this machine's clock)"
	case "host_not_allowed":
		return "the token is signed for an STS endpoint this cluster does not accept"
	case "wrong_audience":
		return "the token is bound to another endpoint than this operator's public endpoints (configure the environment with the operator's own address; see docs/security.md)"
	case "old_token_version":
		return "the token uses an old contract: upgrade the cortex CLI or Python client"
	case "sts_rejected":
		return "AWS STS rejected the signature (wrong cluster, or invalid or deleted credentials)"
	case "bad_local_token":
		return "the local admin credential does not match"
	case "":
		return "malformed token"
	}
	return strings.ReplaceAll(code, "_", " ")
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// knownGood reports whether token is a credential that verifies without any cost: the local
// admin secret, or an identity token whose verification is cached.
func (s *Server) knownGood(token string) bool {
	if strings.HasPrefix(token, LocalTokenPrefix) && s.local != nil {
		_, err := s.local.authenticate(context.Background(), token)
		return err == nil
	}
	if s.verifier == nil {
		return false
	}
	_, ok := s.verifier.Cached(token)
	return ok
}

// clientKey is what failures and aggregated log lines are counted by: the peer's IPv4 address
// or IPv6 /64, the same key as the connection caps (netlimit.ClientKey).
func clientKey(r *http.Request) string { return netlimit.ClientKey(r.RemoteAddr) }

// clientAddr is the TCP peer's IP (forwarding headers are not trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
