package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/bundle"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/local"
)

// Environment variables the local provider sets on the operator process (see docs/local.md).
const (
	// EnvGatewayListen is the gateway's address (default 127.0.0.1:0, a free port).
	EnvGatewayListen = "CORTEX_GATEWAY_LISTEN"
)

// APIsConfig configures the API backend and gateway.
type APIsConfig struct {
	// GatewayListen is the gateway's HTTPS address (local provider). Default $CORTEX_GATEWAY_LISTEN,
	// else 127.0.0.1:0.
	GatewayListen string `json:"gateway_listen,omitempty"`
	// Python runs python handlers (default $CORTEX_PYTHON, else python3).
	Python string `json:"python,omitempty"`
	// PublicEndpoints are the URLs clients dial to reach the gateway: identity tokens for iam APIs
	// must be bound to one of them (and a token bound to the operator is refused there). Default:
	// https://localhost, 127.0.0.1 and [::1] at the gateway's port.
	PublicEndpoints []string `json:"public_endpoints,omitempty"`
	// PublicTLS says that clients reach PublicEndpoints through a load balancer that presents a
	// certificate from a public CA (ACM with ssl_certificate_arn): API statuses say so, and
	// clients verify those endpoints against their system roots instead of the cluster's CA.
	// Remote gateway only (the embedded gateway serves the cluster CA's certificate itself).
	PublicTLS bool `json:"public_tls,omitempty"`
	// MaxBodyBytes bounds request bodies at the gateway (default 32 MiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// AWSSettingsFile says whether APIs get AWS credentials and from which profile (a JSON
	// workload.AWSSettings, read at each deploy; the local provider writes it). Unset or
	// missing: no credentials.
	AWSSettingsFile string `json:"aws_settings_file,omitempty"`
	// Gateway is where the gateway runs: embedded (default: it listens in this process, at
	// GatewayListen) or remote (`cortex gateway serve` runs apart, e.g. as its own Deployment,
	// and asks this operator for every decision and for the routes over mutual TLS; see
	// gatewayremote.go). Remote needs PublicEndpoints (the gateway's URLs) and GatewayClientCAFile.
	Gateway string `json:"gateway,omitempty"`
	// GatewayClientCAFile is the CA of the remote gateway's client certificate (remote only).
	GatewayClientCAFile string `json:"gateway_client_ca_file,omitempty"`
	// Workloads replaces the backend (tests). Default: local processes for the local provider,
	// the kube backend for kubernetes, none for aws (the API routes then answer 501).
	Workloads workload.Backend `json:"-"`
}

// apiState is the server's API backend and gateway.
type apiState struct {
	mgr     *workload.Manager
	gw      *gateway.Gateway
	gwAddr  net.Addr
	logFile *os.File
}

// GatewayAddr is the gateway's listening address once Run has started it (nil otherwise).
func (s *Server) GatewayAddr() net.Addr { return s.apis.gwAddr }

func (s *Server) registerAPIRoutes() {
	s.handle("POST /v1/apis", access.RoleDeploy, s.handleDeployAPIs)
	s.handle("GET /v1/apis", access.RoleRead, s.handleListAPIs)
	s.handle("GET /v1/apis/{name}", access.RoleRead, s.handleGetAPI)
	s.handle("DELETE /v1/apis/{name}", access.RoleDeploy, s.handleDeleteAPI)
	s.handle("POST /v1/apis/{name}/restart", access.RoleDeploy, s.handleRestartAPI)
	s.handle("GET /v1/apis/{name}/logs", access.RoleRead, s.handleAPILogs)
}

func (s *Server) startAPIs(ctx context.Context) error {
	c := &s.cfg.APIs
	backend := c.Workloads
	if backend == nil && s.cfg.OnKubernetes() {
		b, err := s.kubeBackend(ctx)
		if err != nil {
			return err
		}
		backend = b
	}
	if backend == nil {
		if s.cfg.Provider != "local" {
			return nil
		}
		b, err := local.New(local.Options{
			Dir:    filepath.Join(s.cfg.StateDir, "workloads"),
			Python: c.Python,
			Logf:   func(format string, args ...any) { s.log.Info(fmt.Sprintf(format, args...)) },
		})
		if err != nil {
			return fmt.Errorf("local workloads: %w", err)
		}
		backend = b
	}
	remoteGW := c.Gateway == GatewayRemote
	if c.PublicTLS && !remoteGW {
		return errors.New("apis.public_tls: only a remote gateway behind a load balancer with a public certificate can have it; the embedded gateway serves the cluster CA's certificate")
	}
	listen := c.GatewayListen
	if listen == "" {
		listen = os.Getenv(EnvGatewayListen)
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	mgr, err := workload.NewManager(s.state.store, backend)
	if err != nil {
		return err
	}
	var logFile *os.File
	var ln net.Listener
	if !remoteGW {
		logDir := filepath.Join(s.cfg.StateDir, "logs")
		if err := fsutil.EnsurePrivateDir(logDir); err != nil {
			return err
		}
		logFile, err = os.OpenFile(filepath.Join(logDir, "gateway-access.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, fsutil.PrivateFile)
		if err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", listen); err != nil {
			logFile.Close()
			return fmt.Errorf("gateway: listen on %s: %w", listen, err)
		}
	}
	closeAll := func() {
		if ln != nil {
			ln.Close()
			logFile.Close()
		}
	}
	// The gateway's own audiences: a token minted for the operator does not open an API, nor a
	// token minted for the gateway the operator.
	endpoints := c.PublicEndpoints
	if len(endpoints) == 0 && !remoteGW { // remote: required by setDefaults
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		endpoints = loopbackEndpoints(port)
	}
	if endpoints, err = identity.NormalizeAudiences(endpoints); err == nil {
		if err = checkAudiencesDisjoint(s.cfg.audienceSets(endpoints)...); err == nil {
			s.apiAuth.verifier, err = s.verifier.ForAudiences(endpoints)
		}
	}
	if err != nil {
		closeAll()
		return fmt.Errorf("apis.public_endpoints: %w", err)
	}
	c.PublicEndpoints = endpoints
	// Each deployed version runs from a private snapshot of its project directory.
	mgr.BundleDir = filepath.Join(s.cfg.StateDir, "bundles")
	mgr.Logf = func(format string, args ...any) { s.log.Info(fmt.Sprintf(format, args...)) }
	mgr.OnAuth = s.apiAuth.setAuths
	mgr.SecretEnv = s.apiSecretEnv
	// Only the local provider's operator shares the user's disk; any other gets the code with
	// each deploy.
	mgr.Remote = s.cfg.Provider != "local"
	if remoteGW {
		// No listener here: the remote gateway follows the routes and asks for each decision.
		mgr.GatewayURL = endpoints[0]
		if c.PublicTLS {
			mgr.GatewayTLS = apitypes.EndpointTLSPublic
		}
		mgr.OnRoutes = s.routeHub.set
		s.apis = apiState{mgr: mgr}
		s.log.Info("remote gateway mode", "gateway", mgr.GatewayURL)
		if err := mgr.Restore(ctx); err != nil {
			s.log.Error("restoring APIs", "error", err.Error())
		}
		return nil
	}
	gw := gateway.New(gateway.Options{
		Targets:      backend.Targets,
		MaxBodyBytes: c.MaxBodyBytes,
		AccessLog:    logFile,
		ErrorLog:     func(format string, args ...any) { s.log.Warn(fmt.Sprintf(format, args...)) },
		Authorize:    s.authorizeAPI,
	})
	mgr.GatewayURL = "https://" + ln.Addr().String()
	mgr.OnRoutes = gw.SetRoutes
	gwTLS := s.tls.Clone() // now: the operator's own server changes s.tls when it starts
	go func() {
		if err := gw.Serve(ln, gwTLS); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("gateway stopped", "error", err.Error())
		}
	}()
	s.apis = apiState{mgr: mgr, gw: gw, gwAddr: ln.Addr(), logFile: logFile}
	s.log.Info("gateway listening", "addr", mgr.GatewayURL)
	if err := mgr.Restore(ctx); err != nil {
		s.log.Error("restoring APIs", "error", err.Error())
	}
	return nil
}

func (s *Server) stopAPIs(ctx context.Context) {
	a := s.apis
	if a.mgr == nil {
		return
	}
	if a.gw != nil {
		_ = a.gw.Shutdown(ctx)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.mgr.Close(stopCtx); err != nil {
		s.log.Error("stopping APIs", "error", err.Error())
	}
	if a.gw != nil {
		_ = a.gw.Close()
		_ = a.logFile.Close()
	}
}

// apiSecretEnv decides the AWS environment of an API's replicas from the settings file (read at
// each deploy, so `cortex env configure` takes effect on the next deploy).
func (s *Server) apiSecretEnv(ctx context.Context, spec apispec.Spec) (map[string]string, error) {
	path := s.cfg.APIs.AWSSettingsFile
	if path == "" || !spec.WantsAWSCredentials() {
		return workload.NoAWSEnv(), nil
	}
	set, err := workload.ReadAWSSettings(path)
	if err != nil {
		return nil, err
	}
	if !set.Enabled {
		return workload.NoAWSEnv(), nil
	}
	return workload.AWSEnv(ctx, set.Profile)
}

func (s *Server) apisOr501(w http.ResponseWriter) *workload.Manager {
	if s.apis.mgr == nil {
		WriteError(w, http.StatusNotImplemented, "not_implemented", "this cluster has no workload backend yet")
	}
	return s.apis.mgr
}

// DeployRequest is POST /v1/apis.
type DeployRequest struct {
	APIs []apispec.Spec `json:"apis"`
	// Projects is the code of the APIs' project directories, keyed by the specs' project_dir,
	// sent by the client when the operator is not on its machine (any provider but local).
	Projects map[string]bundle.Upload `json:"projects,omitempty"`
}

// maxDeployBody bounds POST /v1/apis, which may carry projects' code (base64: 4/3 of their size;
// each project at most bundle.MaxUploadBytes).
const maxDeployBody = 4 << 20

func (s *Server) handleDeployAPIs(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	var req DeployRequest
	if !decodeJSONLimit(w, r, &req, maxDeployBody) {
		return
	}
	results, err := mgr.ApplyUploaded(r.Context(), req.APIs, req.Projects)
	var ve *workload.ValidationError
	switch {
	case errors.As(err, &ve):
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "invalid spec: %v", ve.Err)
		return
	case err != nil && results == nil:
		WriteError(w, http.StatusInternalServerError, CodeInternal, "deploy failed: %v", err)
		return
	case err != nil:
		s.log.Warn("deploy: some APIs did not start", "error", err.Error())
	}
	WriteJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (s *Server) handleListAPIs(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"apis": mgr.List()})
}

func (s *Server) handleGetAPI(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	st, err := mgr.Get(r.PathValue("name"))
	if err != nil {
		WriteError(w, http.StatusNotFound, CodeNotFound, "api %q is not deployed", r.PathValue("name"))
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func (s *Server) handleDeleteAPI(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	name := r.PathValue("name")
	s.scopeMu.Lock()
	defer s.scopeMu.Unlock()
	if _, err := mgr.Get(name); err != nil {
		WriteError(w, http.StatusNotFound, CodeNotFound, "api %q is not deployed", name)
		return
	}
	// The API leaves every key's scope first: if that cannot be saved the API stays (and its keys
	// with it); if the delete then fails, the keys have lost an API that still exists (closed).
	if ids, err := s.keys.DropAPI(name); err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "delete %s: could not update its API keys", name)
		s.log.Error("drop a deleted API from its keys", "api", name, "error", err.Error())
		return
	} else if len(ids) > 0 {
		s.log.Info("API keys lost a deleted API", "api", name, "key_ids", ids)
	}
	if err := mgr.Delete(r.Context(), name); errors.Is(err, workload.ErrNotFound) {
		WriteError(w, http.StatusNotFound, CodeNotFound, "api %q is not deployed", name)
		return
	} else if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "delete %s: %v", name, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"name": name, "action": "deleted"})
}

func (s *Server) handleRestartAPI(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	name := r.PathValue("name")
	if err := mgr.Restart(r.Context(), name); errors.Is(err, workload.ErrNotFound) {
		WriteError(w, http.StatusNotFound, CodeNotFound, "api %q is not deployed", name)
		return
	} else if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "restart %s: %v", name, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"name": name, "action": "restarted"})
}

type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f flushWriter) Flush()                      { _ = f.rc.Flush() }

func (s *Server) handleAPILogs(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	name := r.PathValue("name")
	follow := r.URL.Query().Get("follow") == "true"
	if _, err := mgr.Get(name); err != nil {
		WriteError(w, http.StatusNotFound, CodeNotFound, "api %q is not deployed", name)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w: w, rc: http.NewResponseController(w)}
	fw.Flush()
	_ = mgr.Logs(r.Context(), name, follow, fw)
}
