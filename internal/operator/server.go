package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apikey"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/buildinfo"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/netlimit"
	"github.com/cortexlabs-go/cortex/internal/statestore"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// Server is a configured operator. Create it with New, then Run it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	state *stateDocs
	// kube is the Kubernetes client of provider kubernetes (state store, kube backend); else nil.
	kube     kubernetes.Interface
	cluster  ClusterRecord
	sts      identity.STSEndpoint // what clients sign for (advertised at /v1/auth)
	stsTable identity.HostTable   // the STS hosts tokens may name
	verifier *identity.Verifier   // nil until the public endpoints are known (New, or Run for port 0)
	// kubeVerifier verifies the tokens of the TokenReview webhook: the same verifier, for the
	// Kubernetes API servers' audiences only (nil: the webhook is off).
	kubeVerifier *identity.Verifier
	// webhookClientCAs, when set, is the CA the webhook's callers must present a certificate of.
	webhookClientCAs clientCAs
	// gatewayClientCAs is the CA of the remote gateway's client certificate (remote mode only);
	// routeHub publishes the routing table to it.
	gatewayClientCAs clientCAs
	routeHub         *routeHub
	clientCAs        *x509.CertPool // both of the above: what the TLS handshake asks for
	local            *localAuth
	limiter          *failureLimiter
	denials          *denialLog
	anonLog          *slog.Logger // unauthenticated requests and connection refusals (Config.DenialLogger)
	tls              *tls.Config
	caPEM            []byte
	mux              *http.ServeMux
	now              func() time.Time

	// mu guards policy, which holds the live unique-id bindings (the creator's too: s.cluster is
	// only read after New, and cluster.json is rewritten from it under mu).
	mu     sync.RWMutex
	policy access.Policy

	// guard wraps every authenticated route: s.authorize, or (benchmarks only) a stand-in that
	// measures what authentication costs on the same routes.
	guard func(need access.Role, next http.Handler) http.Handler

	apis    apiState
	apiAuth apiAuth
	keys    *apikey.Store
	// scopeMu orders creating a key (which checks its APIs exist) against deleting an API (which
	// drops it from every key): a key is never created for an API being deleted.
	scopeMu sync.Mutex

	addrMu sync.Mutex
	addr   net.Addr
}

// New validates cfg, loads or creates the cluster's state and TLS material, and builds the routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("operator config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), now: time.Now,
		limiter: newFailureLimiter(0.5, 20, 10000)}
	store, err := s.stateStore()
	if err != nil {
		return nil, err
	}
	s.state = newStateDocs(store)
	s.anonLog = cfg.DenialLogger
	s.denials = newDenialLog(s.log, s.anonLog, time.Duration(cfg.DenialLogWindowSeconds)*time.Second)
	if s.cluster, err = loadOrCreateCluster(s.state, &s.cfg); err != nil {
		return nil, err
	}
	hosts, err := s.stsHosts()
	if err != nil {
		return nil, err
	}
	s.stsTable = hosts
	if len(s.cfg.KubernetesAPIServers) > 0 {
		if s.kubeVerifier, err = identity.NewVerifier(identity.VerifierConfig{Hosts: s.stsTable, ClusterID: s.cluster.ID,
			Partition: s.cfg.Partition, Audiences: s.cfg.KubernetesAPIServers}); err != nil {
			return nil, err
		}
	}
	if len(s.cfg.PublicEndpoints) > 0 { // else Run sets the defaults once it knows the port
		if err := s.newVerifier(); err != nil {
			return nil, err
		}
	}
	if cfg.LocalTokenFile != "" {
		secret, err := LoadOrCreateLocalToken(cfg.LocalTokenFile)
		if err != nil {
			return nil, fmt.Errorf("local_token_file: %w", err)
		}
		s.local = &localAuth{secret: []byte(secret)}
	}
	var rules accessFile
	if _, err := s.state.read(statestore.DocAccess, &rules); err != nil {
		return nil, err
	}
	s.policy = access.Policy{Mode: access.Mode(cfg.AuthMode), AccountID: s.cluster.AccountID, AccountRole: access.Role(cfg.AccountRole),
		CreatorARN: s.cluster.CreatorARN, CreatorUniqueID: s.cluster.CreatorUniqueID, Rules: rules.Rules}
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	s.clientCAs = x509.NewCertPool()
	if f := cfg.KubernetesWebhookClientCAFile; f != "" {
		if s.webhookClientCAs, err = s.loadClientCA("kubernetes_webhook_client_ca_file", f); err != nil {
			return nil, err
		}
	}
	if cfg.APIs.Gateway == GatewayRemote {
		if s.gatewayClientCAs, err = s.loadClientCA("apis.gateway_client_ca_file", cfg.APIs.GatewayClientCAFile); err != nil {
			return nil, err
		}
		s.routeHub = newRouteHub()
	}
	if s.keys, err = apikey.Open(s.state.store, func() time.Time { return s.now() }); err != nil {
		return nil, err
	}
	s.apiAuth.limiter = newFailureLimiter(0.5, 20, 10000)
	s.guard = s.authorize
	s.routes()
	return s, nil
}

// loadClientCA reads a PEM file of client CA certificates (field names it in errors) and adds
// them to s.clientCAs, the pool the TLS handshake verifies client certificates against.
func (s *Server) loadClientCA(field, file string) (clientCAs, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	var cas clientCAs
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", field, file, err)
		}
		cas = append(cas, c)
		s.clientCAs.AddCert(c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", field, file)
	}
	return cas, nil
}

// newVerifier builds the token verifier for this cluster id and these public endpoints.
func (s *Server) newVerifier() error {
	v, err := identity.NewVerifier(identity.VerifierConfig{Hosts: s.stsTable, ClusterID: s.cluster.ID,
		Partition: s.cfg.Partition, Audiences: s.cfg.PublicEndpoints})
	if err != nil {
		return err
	}
	s.verifier = v
	return nil
}

// stsHosts returns the STS hosts tokens may name and sets the one clients are told to sign for:
// the partition's official hosts, or, in test mode, exactly the test endpoint.
func (s *Server) stsHosts() (identity.HostTable, error) {
	if s.cfg.STSTestEndpoint == "" {
		ep, err := identity.RegionalHost(s.cfg.Partition, s.cfg.Region)
		if err != nil {
			return nil, err
		}
		s.sts = ep
		return identity.PartitionHosts(s.cfg.Partition)
	}
	hosts, err := identity.TestEndpointHosts(s.cfg.STSTestEndpoint, s.cfg.Region)
	if err != nil {
		return nil, err
	}
	for _, ep := range hosts {
		s.sts = ep
	}
	s.log.Warn("STS TEST ENDPOINT MODE: identity tokens are verified against a test endpoint, not AWS STS",
		"sts_test_endpoint", s.cfg.STSTestEndpoint)
	return hosts, nil
}

func (s *Server) loadTLS() error {
	var cert tls.Certificate
	if s.cfg.TLSCertFile != "" {
		c, err := tlsutil.LoadServer(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return err
		}
		cert = c
	} else {
		host, _, _ := net.SplitHostPort(s.cfg.Listen)
		names := append([]string{}, s.cfg.DNSNames...)
		for _, ep := range s.cfg.PublicEndpoints { // clients must be able to verify every public name
			if u, err := url.Parse(ep); err == nil {
				names = append(names, u.Hostname())
			}
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			names = append(names, host)
		}
		b, err := tlsutil.EnsureSelfManaged(filepath.Join(s.cfg.StateDir, "tls"), names)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		cert, s.caPEM = b.Server, b.CAPEM
	}
	s.tls = tlsutil.ServerConfig(cert)
	return nil
}

// Cluster returns the cluster record.
func (s *Server) Cluster() ClusterRecord { return s.cluster }

// CAPEM is the cluster CA's certificate (nil when the user brought their own certificate).
func (s *Server) CAPEM() []byte { return s.caPEM }

// TLSConfig is the server's TLS configuration (the gateway serves with the same certificate).
func (s *Server) TLSConfig() *tls.Config { return s.tls }

// Handler is the operator's HTTP handler (without TLS), for tests and embedding.
func (s *Server) Handler() http.Handler { return s.middleware(s.mux) }

// Addr is the address the server listens on, once Run has started listening.
func (s *Server) Addr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// Run listens on cfg.Listen and serves HTTPS until ctx is done, then shuts down gracefully.
// ready, if not nil, is called with the listening address once the server accepts connections.
func (s *Server) Run(ctx context.Context, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.addrMu.Lock()
	s.addr = ln.Addr()
	s.addrMu.Unlock()
	if s.verifier == nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		s.cfg.PublicEndpoints, _ = identity.NormalizeAudiences(loopbackEndpoints(port))
		if err := checkAudiencesDisjoint(s.cfg.audienceSets(s.cfg.APIs.PublicEndpoints)...); err != nil {
			ln.Close()
			return err
		}
		if err := s.newVerifier(); err != nil {
			ln.Close()
			return err
		}
	}
	if err := s.startAPIs(ctx); err != nil {
		ln.Close()
		return err
	}
	lim := s.cfg.Connections
	limited := netlimit.NewListener(ln, netlimit.Limits{PerClient: lim.MaxConnsPerClient, Total: lim.MaxConns,
		EvictUntrusted: true, OnRefuse: s.logRefusal})
	// HTTP/1.1 only: a connection is one client's request at a time, so the caps, the timeouts and
	// closing a connection after a failed authentication mean what they say. (The CLI asks for
	// HTTP/2 and falls back through ALPN.)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	serverTLS := s.tls
	if s.webhookClientCAs != nil || s.gatewayClientCAs != nil {
		// Ask for, never require, a client certificate: only the webhook and the remote gateway's
		// routes insist on one, each of its own CA (clientCAs.issued); CLI clients present none. The
		// embedded gateway keeps s.tls unchanged.
		serverTLS = s.tls.Clone()
		serverTLS.ClientCAs = s.clientCAs
		serverTLS.ClientAuth = tls.VerifyClientCertIfGiven
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         serverTLS,
		Protocols:         &protocols,
		ReadHeaderTimeout: time.Duration(lim.HeaderTimeoutSeconds) * time.Second,
		// No ReadTimeout: it would also end long responses (log streams). The middleware bounds
		// bodies instead (bodyDeadline).
		IdleTimeout:    time.Duration(lim.IdleTimeoutSeconds) * time.Second,
		MaxHeaderBytes: 64 << 10,
		ConnContext:    func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey, c) },
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	denialsCtx, stopDenials := context.WithCancel(context.Background())
	denialsDone := make(chan struct{})
	go func() { s.denials.run(denialsCtx); close(denialsDone) }()
	defer func() { stopDenials(); <-denialsDone }() // the last summaries are written before Run returns
	keysDone := make(chan struct{})
	go func() { s.flushKeys(denialsCtx); close(keysDone) }()
	defer func() { stopDenials(); <-keysDone }() // the last last-used times are written too
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(limited, "", "") }()
	s.log.Info("operator listening", "addr", "https://"+ln.Addr().String(), "cluster_id", s.cluster.ID,
		"provider", s.cfg.Provider, "auth_mode", s.cfg.AuthMode, "sts_host", s.sts.Host,
		"public_endpoints", s.cfg.PublicEndpoints, "kubernetes_api_servers", s.cfg.KubernetesAPIServers)
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		s.stopAPIs(context.Background())
		return err
	case <-ctx.Done():
	}
	if s.routeHub != nil {
		s.routeHub.stop() // before Shutdown, which waits for the long polls to end
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	s.stopAPIs(shutdownCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("operator stopped")
	return err
}

// routes registers every endpoint with the role it needs.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /v1/auth", s.handleAuthParams)
	s.handle("GET /v1/info", access.RoleRead, s.handleInfo)
	s.handle("GET /v1/access", access.RoleAdmin, s.handleAccessList)
	s.handle("PUT /v1/access", access.RoleAdmin, s.handleAccessGrant)
	s.handle("DELETE /v1/access", access.RoleAdmin, s.handleAccessRevoke)
	s.registerAPIRoutes()
	if s.kubeVerifier != nil {
		s.mux.HandleFunc("POST "+TokenReviewPath, s.handleTokenReview)
	}
	s.registerAPIKeyRoutes()
	if s.routeHub != nil {
		s.registerGatewayRoutes()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
}

// handle registers h behind authentication and an authorization check for role.
func (s *Server) handle(pattern string, role access.Role, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.guard(role, h))
}

func (s *Server) handleAuthParams(w http.ResponseWriter, r *http.Request) {
	methods := []string{MethodAWS}
	if s.local != nil {
		methods = append(methods, MethodLocal)
	}
	WriteJSON(w, http.StatusOK, AuthParams{ClusterID: s.cluster.ID, STSHost: s.sts.Host, STSRegion: s.sts.Region,
		STSScheme: s.sts.Scheme, Methods: methods})
}

// The wire types of /v1/auth and /v1/info live in apitypes, shared with the client.
type (
	AuthParams  = apitypes.AuthParams
	Info        = apitypes.Info
	ClusterInfo = apitypes.ClusterInfo
	CallerInfo  = apitypes.CallerInfo
)

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	c := CallerFrom(r.Context())
	WriteJSON(w, http.StatusOK, Info{
		Version: buildinfo.Version,
		Cluster: ClusterInfo{ID: s.cluster.ID, Name: s.cluster.Name, Provider: s.cluster.Provider, AccountID: s.cluster.AccountID,
			Region: s.cluster.Region, CreatorARN: s.cluster.CreatorARN, AuthMode: s.cfg.AuthMode, STSTestEndpoint: s.cfg.STSTestEndpoint,
			PublicEndpoints: s.cfg.PublicEndpoints},
		Caller: c.Info(),
	})
}

// STSCalls is the number of requests the operator has sent to STS (tests, metrics).
func (s *Server) STSCalls() int64 {
	if s.verifier == nil {
		return 0
	}
	return s.verifier.STSCalls()
}

// logRefusal logs a connection refused by a cap, aggregated like denials: the first of a client
// and reason in a window, then a count.
func (s *Server) logRefusal(remote net.Addr, reason string) {
	ip := netlimit.ClientKey(remote.String())
	reason = "conn_limit_" + strings.ReplaceAll(reason, "-", "_") // conn_limit_per_client, _total, _evicted
	if s.denials.admit(denialKey{client: ip, decision: "refuse", reason: reason}, "", time.Now()) {
		s.anonLog.Warn("connection refused", "client", ip, "reason", reason)
	}
}
