// Package client is the Go client of the operator's HTTPS API: it verifies the operator's
// certificate against the environment's CA, attaches an identity token to every request, and
// turns the API's JSON errors into *APIError.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// Client talks to one operator.
type Client struct {
	base   *url.URL
	http   *http.Client
	tokens TokenSource
	// publicRoots verify API endpoints whose certificates are from a public CA (nil: the
	// system roots); publicHTTP is their client, made on first use. Never the cluster's CA.
	publicRoots *x509.CertPool
	publicOnce  sync.Once
	publicHTTP  *http.Client
	// gatewayTokens returns the token source for an iam API at the gateway audience (nil: the
	// client has no identity to send to APIs).
	gatewayTokens func(audience string) TokenSource
}

// APIError is an error answer of the operator.
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("operator answered %d", e.Status)
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// ValidateEndpoint checks an operator URL: https, or http only when allowed and on loopback.
func ValidateEndpoint(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("invalid operator endpoint %q: want https://host[:port]", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTP {
			return nil, fmt.Errorf("refusing plain http:// for %s: tokens would travel unencrypted (use https, or --insecure-http for a loopback address)", raw)
		}
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("--insecure-http is allowed only for a loopback address, not %s", u.Hostname())
		}
	default:
		return nil, fmt.Errorf("invalid operator endpoint %q: the scheme must be https", raw)
	}
	u.Path = ""
	return u, nil
}

// Options say how to reach one operator.
type Options struct {
	// Endpoint is the operator's URL, https://host[:port] (http:// only for loopback).
	Endpoint string
	// CAPEM is the CA the operator's certificate must chain to (empty: the system roots).
	CAPEM []byte
	// Tokens produce the bearer token of each request (nil: unauthenticated calls only).
	Tokens TokenSource
	// Transport replaces the default transport (which verifies against CAPEM). It is the seam
	// for tests: wrap NewTransport's result to inject errors or count requests.
	Transport http.RoundTripper
	// SystemRoots verify API endpoints that the operator says have public certificates
	// (apitypes.EndpointTLSPublic). Nil: this machine's system roots. The seam of tests.
	SystemRoots *x509.CertPool
}

// NewTransport is the client's default transport: TLS verified against caPEM (empty: the system
// roots), bounded dial and handshake times, HTTP/2 when the server offers it.
func NewTransport(caPEM []byte) (*http.Transport, error) {
	tlsCfg, err := tlsutil.ClientConfig(caPEM)
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tlsCfg,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     true,
	}, nil
}

// New returns a client of the operator o.Endpoint.
func New(o Options) (*Client, error) {
	base, err := ValidateEndpoint(o.Endpoint, true)
	if err != nil {
		return nil, err
	}
	rt := o.Transport
	if rt == nil {
		t, err := NewTransport(o.CAPEM)
		if err != nil {
			return nil, err
		}
		rt = t
	}
	// No overall timeout: log streams are long; requests are bounded through their contexts.
	return &Client{base: base, tokens: o.Tokens, http: &http.Client{Transport: rt}, publicRoots: o.SystemRoots}, nil
}

// SetSystemRoots replaces the roots that verify API endpoints with public certificates (tests;
// call it before the first call).
func (c *Client) SetSystemRoots(pool *x509.CertPool) { c.publicRoots = pool }

// apiHTTP is the HTTP client that verifies an API endpoint as its status says: the pinned
// cluster CA (the operator's own client) when endpointTLS is empty, the system roots (and only
// them) when it is public. Anything else is refused: a client never guesses a weaker trust.
func (c *Client) apiHTTP(endpointTLS string) (*http.Client, error) {
	switch endpointTLS {
	case "":
		return c.http, nil
	case apitypes.EndpointTLSPublic:
		c.publicOnce.Do(func() {
			t, _ := NewTransport(nil) // no CA: cannot fail
			t.TLSClientConfig.RootCAs = c.publicRoots
			c.publicHTTP = &http.Client{Transport: t}
		})
		return c.publicHTTP, nil
	default:
		return nil, fmt.Errorf("the operator says the API endpoint's certificate is %q, unknown to this client: upgrade cortex", endpointTLS)
	}
}

// ForEnvironment builds the client of a configured environment with its token source; transport
// may be nil (the default, verifying against the environment's CA).
func ForEnvironment(configDir string, env *cliconfig.Environment, now func() time.Time, transport http.RoundTripper) (*Client, error) {
	var ts TokenSource
	var gw func(string) TokenSource
	switch env.Auth {
	case cliconfig.AuthLocal:
		ts = LocalTokens{File: env.LocalTokenFile}
		gw = func(string) TokenSource { return ts }
	default:
		ts = &AWSTokens{Env: env, Audience: env.OperatorEndpoint, CacheFile: TokenCacheFile(configDir, env.Name), Now: now}
		// Tokens for the gateway are bound to the gateway's URL, and cached apart from the
		// operator's (each cache holds one audience).
		gw = func(audience string) TokenSource {
			return &AWSTokens{Env: env, Audience: audience, CacheFile: TokenCacheFile(configDir, env.Name+".gateway"), Now: now}
		}
	}
	c, err := New(Options{Endpoint: env.OperatorEndpoint, CAPEM: []byte(env.CACert), Tokens: ts, Transport: transport})
	if err != nil {
		return nil, err
	}
	c.gatewayTokens = gw
	return c, nil
}

// Endpoint is the operator's base URL.
func (c *Client) Endpoint() string { return c.base.String() }

// Tokens is the client's token source.
func (c *Client) Tokens() TokenSource { return c.tokens }

// Do sends a JSON request (in may be nil) and decodes the JSON answer into out (may be nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode operator answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Stream sends a request and returns the answer's body for the caller to read and close.
func (c *Client) Stream(ctx context.Context, method, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send makes the request with a token; on a 401 it mints a fresh token and tries once more
// (the cached one may have been minted for credentials that changed or a clock that drifted).
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	p, query, _ := strings.Cut(path, "?")
	target := c.base.JoinPath(p)
	target.RawQuery = query
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("User-Agent", "cortex-cli")
		if c.tokens != nil {
			tok, err := c.tokens.Token(ctx)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, describeTransportError(c.base, err)
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := decodeError(resp)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && c.tokens != nil {
			c.tokens.Invalidate()
			continue
		}
		return nil, apiErr
	}
}

func decodeError(resp *http.Response) *APIError {
	defer resp.Body.Close()
	e := &APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var body apitypes.ErrorBody
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	return e
}

func describeTransportError(base *url.URL, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return fmt.Errorf("the operator at %s presented a certificate this environment does not trust: %v (re-run `cortex env configure` if the cluster was re-created)", base, verr.Err)
	}
	return &ConnectionError{Endpoint: base.String(), Err: err}
}

// ConnectionError: the server could not be reached (refused, reset, timed out). Unlike an answer
// of the operator, it may pass: a watch retries it.
type ConnectionError struct {
	Endpoint string
	Err      error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot reach the operator at %s: %v", e.Endpoint, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// AuthParams fetches what a client needs to mint tokens (no authentication).
func (c *Client) AuthParams(ctx context.Context) (*apitypes.AuthParams, error) {
	var p apitypes.AuthParams
	resp, err := c.sendUnauthenticated(ctx, "/v1/auth")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p); err != nil {
		return nil, fmt.Errorf("decode /v1/auth: %w", err)
	}
	return &p, nil
}

func (c *Client) sendUnauthenticated(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.JoinPath(path).String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, describeTransportError(c.base, err)
	}
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp)
	}
	return resp, nil
}

// Health is GET /healthz (no authentication): nil when the operator answers 200.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.sendUnauthenticated(ctx, "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Close releases the client's idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	if c.publicHTTP != nil {
		c.publicHTTP.CloseIdleConnections()
	}
}

// APIPath is the operator path of one API, its name escaped as a single path segment.
func APIPath(name string) string { return "/v1/apis/" + url.PathEscape(name) }

// Auth types of an API (apispec.Auth.Type), as the operator reports them.
const (
	APIAuthIAM    = apitypes.APIAuthIAM
	APIAuthAPIKey = apitypes.APIAuthAPIKey
	APIAuthNone   = apitypes.APIAuthNone
)

// APICredentials say how CallAPI authenticates to the gateway.
type APICredentials struct {
	// Auth is the API's auth type (from its status): iam sends an identity token bound to the
	// gateway's URL, api_key sends APIKey, none sends nothing.
	Auth string
	// APIKey is the key for an api_key API.
	APIKey string
	// EndpointTLS is the API status's endpoint_tls: what the gateway's certificate is verified
	// against (empty: the environment's CA; apitypes.EndpointTLSPublic: the system roots).
	EndpointTLS string
}

// CallAPI sends a request to a deployed API's endpoint (an https URL of the cluster's gateway).
// The gateway's certificate is verified against the same CA as the operator's, or, when the
// operator (over that pinned channel) says the endpoint has a public certificate, against the
// system roots alone. The operator's credential is not sent to the API: an iam API gets a
// token minted for the gateway's own URL.
func (c *Client) CallAPI(ctx context.Context, method, endpoint, contentType string, body io.Reader, creds APICredentials) (*http.Response, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("API endpoint %q is not an https URL", endpoint)
	}
	hc, err := c.apiHTTP(creds.EndpointTLS)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "cortex-cli")
	switch creds.Auth {
	case APIAuthNone:
	case "":
		// An operator from before API auth: its gateway is open and forwards headers to the
		// replica, so no credential is sent.
	case APIAuthAPIKey:
		if creds.APIKey == "" {
			return nil, errors.New("this API needs an API key: pass --api-key or set CORTEX_API_KEY (cortex api-key create)")
		}
		req.Header.Set("Authorization", "Bearer "+creds.APIKey)
	case APIAuthIAM:
		tok, err := c.GatewayToken(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	default:
		return nil, fmt.Errorf("the API's auth type %q is unknown to this client: upgrade cortex", creds.Auth)
	}
	// Never follow a redirect: the replica chooses it, and Go would carry Authorization (which
	// the gateway keeps from the replica) to the same host name on another port or to any
	// subdomain, with public roots any such name with a public certificate. The 3xx is the answer
	// (as in the Python client, allow_redirects=False).
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		if creds.EndpointTLS == apitypes.EndpointTLSPublic {
			return nil, describePublicTransportError(u, err)
		}
		return nil, describeTransportError(u, err)
	}
	return resp, nil
}

// describePublicTransportError is describeTransportError for an endpoint with a public
// certificate: what usually goes wrong is DNS or the certificate's names, not the pinned CA.
func describePublicTransportError(u *url.URL, err error) error {
	var verr *tls.CertificateVerificationError
	var herr x509.HostnameError
	if errors.As(err, &verr) || errors.As(err, &herr) {
		return fmt.Errorf("the API endpoint %s presented a certificate that this machine's system roots do not verify for %s: %v (the name must point at the cluster's API load balancer, whose certificate must cover it; see docs/aws.md)", u.Scheme+"://"+u.Host, u.Hostname(), err)
	}
	return &ConnectionError{Endpoint: u.Scheme + "://" + u.Host, Err: err}
}

// Info is GET /v1/info.
func (c *Client) Info(ctx context.Context) (*apitypes.Info, error) {
	var info apitypes.Info
	return &info, c.Do(ctx, http.MethodGet, "/v1/info", nil, &info)
}

// AccessList is GET /v1/access.
func (c *Client) AccessList(ctx context.Context) (*apitypes.AccessList, error) {
	var l apitypes.AccessList
	return &l, c.Do(ctx, http.MethodGet, "/v1/access", nil, &l)
}

// Grant is PUT /v1/access.
func (c *Client) Grant(ctx context.Context, principal, role string) (map[string]any, error) {
	var out map[string]any
	return out, c.Do(ctx, http.MethodPut, "/v1/access", apitypes.GrantRequest{Principal: principal, Role: role}, &out)
}

// Revoke is DELETE /v1/access?principal=...
func (c *Client) Revoke(ctx context.Context, principal string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/access?principal="+url.QueryEscape(principal), nil, nil)
}

// GatewayToken returns an identity token for an iam API at endpoint (an https URL of the
// gateway): bound to this cluster and to the gateway's scheme://host:port, never the operator's.
func (c *Client) GatewayToken(ctx context.Context, endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("API endpoint %q is not an https URL", endpoint)
	}
	if c.gatewayTokens == nil {
		return "", errors.New("this API needs an identity token and this client has no identity for APIs")
	}
	return c.gatewayTokens(u.Scheme + "://" + u.Host).Token(ctx)
}

// CreateAPIKey is POST /v1/api-keys: the answer holds the key, shown this once.
func (c *Client) CreateAPIKey(ctx context.Context, req apitypes.CreateAPIKeyRequest) (*apitypes.CreatedAPIKey, error) {
	var out apitypes.CreatedAPIKey
	return &out, c.Do(ctx, http.MethodPost, "/v1/api-keys", req, &out)
}

// ListAPIKeys is GET /v1/api-keys (no secrets).
func (c *Client) ListAPIKeys(ctx context.Context) (*apitypes.APIKeyList, error) {
	var out apitypes.APIKeyList
	return &out, c.Do(ctx, http.MethodGet, "/v1/api-keys", nil, &out)
}

// RevokeAPIKey is DELETE /v1/api-keys/NAME|ID.
func (c *Client) RevokeAPIKey(ctx context.Context, ref string) (*apitypes.APIKey, error) {
	var out apitypes.RevokedAPIKey
	return &out.Revoked, c.Do(ctx, http.MethodDelete, "/v1/api-keys/"+url.PathEscape(ref), nil, &out)
}
