package identity

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/cortexlabs-go/cortex/internal/awsarn"
)

// STSBackoff is how long uncached tokens are answered ErrUnavailable, without an STS call, after
// STS could not answer.
const STSBackoff = 2 * time.Second

// Freshness window of a token's date, checked before any network call.
const (
	MaxTokenAge  = TokenLifetime
	MaxClockSkew = time.Minute
)

// Identity is a verified caller.
type Identity struct {
	Account      string    `json:"account"`
	ARN          string    `json:"arn"`
	CanonicalARN string    `json:"canonical_arn"`
	UserID       string    `json:"user_id"`
	SessionName  string    `json:"session_name,omitempty"`
	Expires      time.Time `json:"-"` // when this verification stops being reusable
	// Audience is the endpoint the verified token was bound to (one of the verifier's audiences).
	Audience string `json:"-"`
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Hosts     HostTable // allowed STS hosts: PartitionHosts or TestEndpointHosts
	ClusterID string    // this cluster's id: the only value the rebuilt request carries
	// Audiences are this server's public endpoints (NormalizeAudience form). A token must name one
	// of them; the rebuilt request carries the server's own copy.
	Audiences []string
	Partition string // ARNs from STS must be in this partition (default aws)
	// HTTPClient calls STS. Default: NewSTSClient().
	HTTPClient *http.Client
	Now        func() time.Time
	// CacheTTL bounds how long a verification is reused (default 5m; never beyond the token's expiry).
	CacheTTL time.Duration
	// CacheSize bounds the number of cached verifications (default 10000).
	CacheSize int
}

// Verifier checks identity tokens. It is safe for concurrent use.
type Verifier struct {
	cfg       VerifierConfig
	audiences map[string]string
	*shared
}

// shared is what the verifiers of one server (ForAudiences) have in common: the cache of
// verifications, the STS call deduplication and the count of STS calls.
type shared struct {
	group    singleflight.Group
	mu       sync.RWMutex
	cache    map[[32]byte]Identity
	stsCalls atomic.Int64
	// stsDownUntil (UnixNano) is set for STSBackoff after STS could not answer (throttling, an
	// outage): until then a token that is not cached is answered ErrUnavailable without calling
	// STS, so that nobody (an attacker sending forged tokens, or everyone retrying) can keep a
	// throttled STS throttled. Outages are still never cached per token, and never a pass.
	stsDownUntil atomic.Int64
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("identity verifier: no STS hosts allowed")
	}
	if cfg.ClusterID == "" {
		return nil, errors.New("identity verifier: cluster id is empty")
	}
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("identity verifier: no public endpoints (audiences) configured")
	}
	audiences := map[string]string{}
	for _, a := range cfg.Audiences {
		n, err := NormalizeAudience(a)
		if err != nil || n != a {
			return nil, fmt.Errorf("identity verifier: audience %q is not in normalized form", a)
		}
		audiences[a] = a
	}
	if cfg.Partition == "" {
		cfg.Partition = PartitionAWS
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewSTSClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	return &Verifier{cfg: cfg, audiences: audiences, shared: &shared{cache: map[[32]byte]Identity{}}}, nil
}

// ForAudiences returns a verifier for another set of public endpoints of the same server (the
// gateway's, next to the operator's): same cluster, STS hosts and client, and the same cache, but
// it accepts only tokens bound to audiences, so a token minted for one endpoint set never passes
// the other, from the cache or not.
func (v *Verifier) ForAudiences(audiences []string) (*Verifier, error) {
	if len(audiences) == 0 {
		return nil, errors.New("identity verifier: no public endpoints (audiences) configured")
	}
	m := map[string]string{}
	for _, a := range audiences {
		n, err := NormalizeAudience(a)
		if err != nil || n != a {
			return nil, fmt.Errorf("identity verifier: audience %q is not in normalized form", a)
		}
		m[a] = a
	}
	return &Verifier{cfg: v.cfg, audiences: m, shared: v.shared}, nil
}

// STSCalls is the number of requests sent to STS so far (for tests and metrics).
func (v *Verifier) STSCalls() int64 { return v.stsCalls.Load() }

// NewSTSClient returns the hardened client used to call STS: no redirects, short timeouts for
// every phase and overall (which also bounds a slow drip), small header limit, TLS 1.2+.
func NewSTSClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			TLSHandshakeTimeout:    3 * time.Second,
			ResponseHeaderTimeout:  4 * time.Second,
			MaxResponseHeaderBytes: 16 << 10,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
		},
	}
}

// Verify checks token and returns the caller's identity. Errors wrap ErrInvalid or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if len(token) > MaxTokenSize {
		return Identity{}, invalid("token_too_large", "token is larger than %d bytes", MaxTokenSize)
	}
	key := cacheKey(v.cfg.ClusterID, token)
	now := v.cfg.Now()
	if id, ok := v.cached(key, now); ok {
		return id, nil
	}
	// On a miss, or a hit bound to another verifier's audiences, the token is checked in full
	// (and then refused with wrong_audience).
	req, expires, err := v.precheck(token, now)
	if err != nil {
		return Identity{}, err
	}
	if until := v.stsDownUntil.Load(); until != 0 && now.UnixNano() < until {
		return Identity{}, unavailable("sts_backoff", "STS was unavailable moments ago; retry in a few seconds")
	}
	// Identical tokens arriving together make one STS call; the call is detached from any one
	// caller's cancellation so that the others still get an answer.
	res, err, _ := v.group.Do(string(key[:]), func() (any, error) {
		if id, ok := v.cached(key, v.cfg.Now()); ok {
			return id, nil
		}
		id, err := v.callSTS(context.WithoutCancel(ctx), req)
		if errors.Is(err, ErrUnavailable) {
			v.stsDownUntil.Store(v.cfg.Now().Add(STSBackoff).UnixNano())
		}
		if err != nil {
			return Identity{}, err
		}
		id.Expires, id.Audience = expires, req.audience
		if ttl := v.cfg.Now().Add(v.cfg.CacheTTL); ttl.Before(expires) {
			id.Expires = ttl
		}
		v.store(key, id)
		return id, nil
	})
	if err != nil {
		return Identity{}, err
	}
	return res.(Identity), nil
}

// stsRequest is what the operator rebuilds from a token: only these values come from the client.
type stsRequest struct {
	endpoint      STSEndpoint
	audience      string // the verifier's own copy of one of its audiences
	date          string
	authorization string
	securityToken string
}

// precheck does every check that needs no network: structure and every field's characters, host
// allowlist, audience, credential scope, signed headers, signature shape, freshness. It returns the request to send and the token's expiry.
func (v *Verifier) precheck(raw string, now time.Time) (stsRequest, time.Time, error) {
	t, err := decodeToken(raw)
	if err != nil {
		return stsRequest{}, time.Time{}, err
	}
	ep, ok := v.cfg.Hosts[t.Host]
	if !ok {
		return stsRequest{}, time.Time{}, invalid("host_not_allowed", "STS host is not allowed for this cluster")
	}
	audience, ok := v.audiences[t.Audience]
	if !ok {
		return stsRequest{}, time.Time{}, invalid("wrong_audience", "token is bound to another endpoint, not one of this server's public endpoints")
	}
	date, err := time.Parse(amzDateFormat, t.Date)
	if err != nil || date.Format(amzDateFormat) != t.Date {
		return stsRequest{}, time.Time{}, invalid("bad_date", "token date is not in X-Amz-Date format")
	}
	a, err := parseAuthorization(t.Authorization)
	if err != nil {
		return stsRequest{}, time.Time{}, err
	}
	switch {
	case a.service != "sts":
		return stsRequest{}, time.Time{}, invalid("bad_scope", "credential scope is not for sts")
	case a.region != ep.Region:
		return stsRequest{}, time.Time{}, invalid("bad_scope", "credential scope region does not match the STS host")
	case a.date != t.Date[:8]:
		return stsRequest{}, time.Time{}, invalid("bad_scope", "credential scope date does not match the token date")
	}
	want := signedHeaders
	if t.SecurityToken != "" {
		want = signedHeadersSession
	}
	if a.signedHeaders != want {
		return stsRequest{}, time.Time{}, invalid("bad_signed_headers", "signed headers must be exactly %s", want)
	}
	if age := now.Sub(date); age > MaxTokenAge {
		return stsRequest{}, time.Time{}, invalid("token_expired", "token is older than %s", MaxTokenAge)
	} else if age < -MaxClockSkew {
		return stsRequest{}, time.Time{}, invalid("token_from_future", "token date is more than %s in the future", MaxClockSkew)
	}
	return stsRequest{endpoint: ep, audience: audience, date: t.Date, authorization: t.Authorization, securityToken: t.SecurityToken},
		date.Add(TokenLifetime), nil
}

func (v *Verifier) callSTS(ctx context.Context, r stsRequest) (Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint.URL(), strings.NewReader(stsBody))
	if err != nil {
		// Every value comes from the allowlist or passed precheck: this is a bug, not an outage.
		return Identity{}, invalid("bad_request", "build STS request: %v", err)
	}
	req.Host = r.endpoint.Host
	req.ContentLength = int64(len(stsBody))
	req.Header = http.Header{}
	req.Header.Set("Content-Type", stsContentType)
	req.Header.Set("Content-Length", strconv.Itoa(len(stsBody)))
	req.Header.Set("X-Amz-Date", r.date)
	req.Header.Set(ClusterIDHeader, v.cfg.ClusterID)
	req.Header.Set(AudienceHeader, r.audience)
	req.Header.Set("Authorization", r.authorization)
	if r.securityToken != "" {
		req.Header.Set("X-Amz-Security-Token", r.securityToken)
	}
	req.Header.Set("User-Agent", "cortex-operator")
	v.stsCalls.Add(1)
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return Identity{}, unavailable("sts_unreachable", "call STS at %s: %v", r.endpoint.Host, redactURLError(err))
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, maxSTSResponse)
	if err != nil {
		return Identity{}, unavailable("sts_bad_response", "read STS response: %v", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		id, err := parseCallerIdentity(resp.Header.Get("Content-Type"), body)
		if err != nil {
			return Identity{}, unavailable("sts_bad_response", "STS response: %v", err)
		}
		return v.checkIdentity(id)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Identity{}, unavailable("sts_unavailable", "STS answered %d", resp.StatusCode)
	case resp.StatusCode == http.StatusBadRequest && isThrottling(body):
		return Identity{}, unavailable("sts_throttled", "STS is throttling requests")
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest:
		return Identity{}, invalid("sts_rejected", "STS rejected the token (%d)", resp.StatusCode)
	}
	return Identity{}, unavailable("sts_unexpected_status", "STS answered an unexpected status %d", resp.StatusCode)
}

// checkIdentity enforces consistency of what STS said and derives the canonical identity.
func (v *Verifier) checkIdentity(id Identity) (Identity, error) {
	if !awsarn.IsAccountID(id.Account) {
		return Identity{}, unavailable("sts_bad_response", "STS returned an account that is not 12 digits")
	}
	p, err := awsarn.Parse(id.ARN)
	if err != nil {
		return Identity{}, unavailable("sts_bad_response", "STS returned an unusable ARN: %v", err)
	}
	if p.Account != id.Account {
		return Identity{}, unavailable("sts_bad_response", "STS returned an ARN whose account disagrees with the account")
	}
	if p.Partition != v.cfg.Partition {
		return Identity{}, invalid("wrong_partition", "identity is in partition %s, not %s", p.Partition, v.cfg.Partition)
	}
	if id.UserID == "" {
		return Identity{}, unavailable("sts_bad_response", "STS returned no user id")
	}
	id.CanonicalARN = p.Canonical()
	id.SessionName = p.Session
	return id, nil
}

// Cached returns the identity of token if its verification is cached and still valid, without
// any other work (for callers that must not spend a verification, e.g. a rate-limited client).
func (v *Verifier) Cached(token string) (Identity, bool) {
	if len(token) > MaxTokenSize {
		return Identity{}, false
	}
	return v.cached(cacheKey(v.cfg.ClusterID, token), v.cfg.Now())
}

func (v *Verifier) cached(key [32]byte, now time.Time) (Identity, bool) {
	v.mu.RLock()
	id, ok := v.cache[key]
	v.mu.RUnlock()
	if !ok || !now.Before(id.Expires) {
		return Identity{}, false // an expired entry is replaced by the next store or swept when full
	}
	if _, mine := v.audiences[id.Audience]; !mine {
		return Identity{}, false // verified for another endpoint set sharing this cache
	}
	return id, true
}

func (v *Verifier) store(key [32]byte, id Identity) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= v.cfg.CacheSize {
		now := v.cfg.Now()
		for k, e := range v.cache {
			if !now.Before(e.Expires) {
				delete(v.cache, k)
			}
		}
		// Still full: drop arbitrary entries (map order) rather than grow without bound.
		for k := range v.cache {
			if len(v.cache) < v.cfg.CacheSize {
				break
			}
			delete(v.cache, k)
		}
	}
	v.cache[key] = id
}

var hashers = sync.Pool{New: func() any { return sha256.New() }}

// cacheKey is SHA-256(cluster id, 0, token): the cache never holds a token itself.
func cacheKey(clusterID, token string) [32]byte {
	h := hashers.Get().(hash.Hash)
	h.Reset()
	_, _ = io.WriteString(h, clusterID)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, token)
	var k [32]byte
	h.Sum(k[:0])
	hashers.Put(h)
	return k
}

// redactURLError keeps the failure but not the request details of a transport error.
func redactURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return fmt.Errorf("%s", err.Error())
}
