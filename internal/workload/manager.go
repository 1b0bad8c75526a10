package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/bundle"
	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// Actions reported by Manager.Apply.
// What Apply did to one API (wire values, see apitypes).
const (
	ActionCreated   = apitypes.ActionCreated
	ActionUpdated   = apitypes.ActionUpdated
	ActionUnchanged = apitypes.ActionUnchanged
)

// The wire types of the API routes live in apitypes, shared with the client.
type (
	// Result is what Apply did to one API.
	Result = apitypes.Result
	// Replicas is the replica count of an APIStatus.
	Replicas = apitypes.Replicas
	// APIStatus is an API as the operator reports it (GET /v1/apis).
	APIStatus = apitypes.APIStatus
)

// ErrNotFound is returned for an API that is not deployed.
var ErrNotFound = errors.New("api not found")

// Manager owns the desired state of a cluster's APIs: it validates deploys, persists the specs
// (statestore.DocAPIs: a private file, or a Kubernetes Secret) and drives a Backend; after a
// restart, Restore brings every API back.
type Manager struct {
	// GatewayURL is the https://host:port base of the gateway (for APIStatus.Endpoint).
	GatewayURL string
	// GatewayTLS is APIStatus.EndpointTLS: empty (the cluster's CA) or apitypes.EndpointTLSPublic.
	GatewayTLS string
	// SecretEnv returns the extra environment of an API's replicas (AWS credentials); nil: none.
	SecretEnv func(ctx context.Context, spec apispec.Spec) (map[string]string, error)
	// OnRoutes receives endpoint -> API name whenever the set of APIs changes.
	OnRoutes func(map[string]string)
	// OnAuth receives API name -> auth whenever the set of APIs changes, before OnRoutes: a
	// route never exists without its auth.
	OnAuth func(map[string]apispec.Auth)
	// Now is the clock (tests).
	Now func() time.Time
	// BundleDir holds the snapshots of the APIs' project directories (package bundle). Empty:
	// replicas run from the project directory itself and code changes are not detected.
	BundleDir string
	// Logf receives the manager's own events (never secrets); nil discards them.
	Logf func(format string, args ...any)
	// Remote says the operator is not on the user's machine (any provider but local): a spec's
	// project directory is a path on the client, never read here, and the code of handlers that
	// run the project (python, command) comes with the deploy request (ApplyUploaded). Without
	// Remote, uploads are refused and the project directory is read from disk.
	Remote bool

	mu      sync.Mutex
	doc     *statestore.Doc
	backend Backend
	apis    map[string]*stored
}

type stored struct {
	Spec apispec.Spec `json:"spec"`
	// Hash is the version: a digest of the spec and Code.
	Hash string `json:"hash"`
	// Code is the content hash of the project directory's bundle ("" without a bundle).
	Code      string    `json:"code,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// version digests a spec and its code hash.
func version(spec apispec.Spec, code string) string {
	if code == "" {
		return spec.Hash()
	}
	sum := sha256.Sum256([]byte(spec.Hash() + "\n" + code))
	return hex.EncodeToString(sum[:])
}

// snapshot bundles the spec's project directory (nothing without BundleDir or ProjectDir).
func (m *Manager) snapshot(spec apispec.Spec) (bundle.Bundle, error) {
	if m.BundleDir == "" || spec.ProjectDir == "" {
		return bundle.Bundle{}, nil
	}
	b, err := bundle.Snapshot(spec.ProjectDir, m.BundleDir)
	if err != nil {
		return b, fmt.Errorf("api %s: project directory: %w", spec.Name, err)
	}
	return b, nil
}

type stateFile struct {
	Version int       `json:"version"`
	APIs    []*stored `json:"apis"`
}

// NewManager loads the APIs' document of state (statestore.DocAPIs; missing is empty) without
// starting anything.
func NewManager(state statestore.Store, backend Backend) (*Manager, error) {
	m := &Manager{doc: statestore.NewDoc(state, statestore.DocAPIs), backend: backend, apis: map[string]*stored{}, Now: time.Now}
	data, ok, err := m.doc.Load(context.Background())
	if err != nil || !ok {
		return m, err
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%s: %w", m.doc.Describe(), err)
	}
	for _, s := range sf.APIs {
		if s != nil && s.Spec.Name != "" {
			m.apis[s.Spec.Name] = s
		}
	}
	return m, nil
}

// Restore starts every persisted API (after an operator restart). An API that fails to start
// is reported in the error but does not stop the others.
func (m *Manager) Restore(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	keep := map[string]bool{}
	upgraded := false
	for _, name := range m.namesLocked() {
		s := m.apis[name]
		if s.Code == "" && m.BundleDir != "" && s.Spec.ProjectDir != "" && !m.Remote {
			// Deployed before bundles existed: ship the project directory as it is now.
			b, err := m.snapshot(s.Spec)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.Code, s.Hash = b.Hash, version(s.Spec, b.Hash)
			upgraded = true
		}
		keep[s.Code] = true
		if err := m.applyLocked(ctx, s, nil); err != nil {
			errs = append(errs, fmt.Errorf("api %s: %w", name, err))
		}
	}
	if upgraded {
		if err := m.saveLocked(ctx, m.apis); err != nil {
			errs = append(errs, err)
		}
	}
	if m.BundleDir != "" {
		// Old versions' bundles: nothing runs them once the operator restarts.
		if n, err := bundle.Prune(m.BundleDir, keep); err != nil {
			errs = append(errs, err)
		} else if n > 0 {
			m.logf("removed %d bundle(s) of versions no longer deployed", n)
		}
	}
	m.publishRoutesLocked()
	return errors.Join(errs...)
}

func (m *Manager) logf(format string, args ...any) {
	if m.Logf != nil {
		m.Logf(format, args...)
	}
}

func (m *Manager) namesLocked() []string {
	names := make([]string, 0, len(m.apis))
	for n := range m.apis {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// applyLocked asks the backend to run s; files is the code uploaded with this deploy (nil: none,
// or a restore).
func (m *Manager) applyLocked(ctx context.Context, s *stored, files []bundle.File) error {
	var env map[string]string
	if m.SecretEnv != nil {
		var err error
		env, err = m.SecretEnv(ctx, s.Spec)
		if err != nil {
			return err
		}
	}
	d := Deployment{Spec: s.Spec, SecretEnv: env, UpdatedAt: s.UpdatedAt, Code: s.Code,
		Compute: ComputeOf(s.Spec), Files: files}
	if s.Code != "" && !m.Remote {
		dir, err := bundle.Path(m.BundleDir, s.Code)
		if err != nil {
			return err
		}
		d.CodeDir = dir
	}
	return m.backend.Apply(ctx, d)
}

// Apply validates all specs (nothing changes when one is invalid), persists them and asks the
// backend to run them. APIs not in specs are left alone.
func (m *Manager) Apply(ctx context.Context, specs []apispec.Spec) ([]Result, error) {
	return m.ApplyUploaded(ctx, specs, nil)
}

// ApplyUploaded is Apply with the projects' code sent by the client, keyed by the specs' project
// directories (Remote managers only). Every upload is verified (package bundle) before anything
// changes.
func (m *Manager) ApplyUploaded(ctx context.Context, specs []apispec.Spec, uploads map[string]bundle.Upload) ([]Result, error) {
	specs = append([]apispec.Spec(nil), specs...)
	// A remote operator never reads the client's paths.
	if err := apispec.ValidateList(specs, !m.Remote); err != nil {
		return nil, &ValidationError{Err: err}
	}
	if err := m.checkUploads(specs, uploads); err != nil {
		return nil, &ValidationError{Err: err}
	}
	if c, ok := m.backend.(SpecChecker); ok {
		var errs []error
		for _, s := range specs {
			if err := c.CheckSpec(s); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, &ValidationError{Err: err}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Endpoints must be unique across the cluster, not only within this deploy.
	incoming := map[string]bool{}
	for _, s := range specs {
		incoming[s.Name] = true
	}
	for _, s := range specs {
		for _, name := range m.namesLocked() {
			other := m.apis[name]
			if !incoming[name] && strings.EqualFold(other.Spec.Networking.Endpoint, s.Networking.Endpoint) {
				return nil, &ValidationError{Err: fmt.Errorf("api %q: networking.endpoint: %s is already used by API %q", s.Name, s.Networking.Endpoint, name)}
			}
		}
	}
	now := m.Now().UTC()
	results := make([]Result, len(specs))
	next := make(map[string]*stored, len(m.apis)+len(specs))
	for k, v := range m.apis {
		next[k] = v
	}
	var changed []*stored
	files := map[string][]bundle.File{}
	for i, s := range specs {
		var b bundle.Bundle
		if m.Remote {
			if u, ok := uploads[s.ProjectDir]; ok && s.RunsProjectCode() {
				b.Hash = u.Hash
				files[s.Name] = u.Files
			}
		} else {
			var err error
			if b, err = m.snapshot(s); err != nil {
				return nil, &ValidationError{Err: err}
			}
		}
		h := version(s, b.Hash)
		prev, ok := m.apis[s.Name]
		switch {
		case !ok:
			results[i] = Result{Name: s.Name, Action: ActionCreated}
		case prev.Hash != h:
			results[i] = Result{Name: s.Name, Action: ActionUpdated}
		default:
			results[i] = Result{Name: s.Name, Action: ActionUnchanged}
			continue
		}
		st := &stored{Spec: s, Hash: h, Code: b.Hash, UpdatedAt: now}
		next[s.Name] = st
		changed = append(changed, st)
	}
	if len(changed) == 0 {
		return results, nil
	}
	if err := m.saveLocked(ctx, next); err != nil {
		return nil, err
	}
	m.apis = next
	var errs []error
	for _, s := range changed {
		if err := m.applyLocked(ctx, s, files[s.Spec.Name]); err != nil {
			errs = append(errs, fmt.Errorf("api %s: %w", s.Spec.Name, err))
		}
	}
	m.publishRoutesLocked()
	return results, errors.Join(errs...)
}

// checkUploads verifies the uploaded projects: only a Remote manager takes them, each is verified,
// and every handler that runs the project's code has its project, holding a python handler's file.
func (m *Manager) checkUploads(specs []apispec.Spec, uploads map[string]bundle.Upload) error {
	if !m.Remote {
		if len(uploads) > 0 {
			return errors.New("this cluster's operator reads the project directory from its own disk (local provider): send no files")
		}
		return nil
	}
	for dir, u := range uploads {
		if err := bundle.Verify(u); err != nil {
			return fmt.Errorf("project %s: %w", dir, err)
		}
	}
	var errs []error
	for i, s := range specs {
		if !s.RunsProjectCode() {
			continue
		}
		u, ok := uploads[s.ProjectDir]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: handler: the project's code did not come with the deploy (a %s handler on a cluster runs the files cortex deploy sends; upgrade the client)", apispec.Subject(i, s.Name), s.Handler.Type))
			continue
		}
		if s.Handler.Type == apispec.HandlerPython && !u.Has(s.Handler.Path) {
			errs = append(errs, fmt.Errorf("%s: handler.path: %s is not among the project's files", apispec.Subject(i, s.Name), s.Handler.Path))
		}
	}
	return errors.Join(errs...)
}

// ValidationError marks an invalid deploy (HTTP 400).
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string { return e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// Restart replaces every replica of an API with a fresh process running the deployed version
// (ErrNotFound if it is not deployed).
func (m *Manager) Restart(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apis[name]; !ok {
		return ErrNotFound
	}
	return m.backend.Restart(ctx, name)
}

// Delete removes an API (ErrNotFound if it is not deployed).
func (m *Manager) Delete(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apis[name]; !ok {
		return ErrNotFound
	}
	next := make(map[string]*stored, len(m.apis))
	for k, v := range m.apis {
		if k != name {
			next[k] = v
		}
	}
	if err := m.saveLocked(ctx, next); err != nil {
		return err
	}
	m.apis = next
	m.publishRoutesLocked()
	return m.backend.Delete(ctx, name)
}

func (m *Manager) saveLocked(ctx context.Context, apis map[string]*stored) error {
	sf := stateFile{Version: 1}
	names := make([]string, 0, len(apis))
	for n := range apis {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sf.APIs = append(sf.APIs, apis[n])
	}
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	return m.doc.Save(ctx, data)
}

func (m *Manager) publishRoutesLocked() {
	if m.OnAuth != nil {
		auths := make(map[string]apispec.Auth, len(m.apis))
		for name, s := range m.apis {
			auths[name] = s.Spec.EffectiveAuth()
		}
		m.OnAuth(auths)
	}
	if m.OnRoutes == nil {
		return
	}
	routes := make(map[string]string, len(m.apis))
	for name, s := range m.apis {
		routes[s.Spec.Networking.Endpoint] = name
	}
	m.OnRoutes(routes)
}

// Get returns one API's status.
func (m *Manager) Get(name string) (APIStatus, error) {
	m.mu.Lock()
	s, ok := m.apis[name]
	m.mu.Unlock()
	if !ok {
		return APIStatus{}, ErrNotFound
	}
	return m.status(s), nil
}

// List returns every API's status, sorted by name.
func (m *Manager) List() []APIStatus {
	m.mu.Lock()
	all := make([]*stored, 0, len(m.apis))
	for _, n := range m.namesLocked() {
		all = append(all, m.apis[n])
	}
	m.mu.Unlock()
	out := make([]APIStatus, 0, len(all))
	for _, s := range all {
		out = append(out, m.status(s))
	}
	return out
}

func (m *Manager) status(s *stored) APIStatus {
	st := APIStatus{
		Name: s.Spec.Name, Kind: s.Spec.Kind, Endpoint: m.GatewayURL + s.Spec.Networking.Endpoint, EndpointTLS: m.GatewayTLS, Auth: apitypes.APIAuth(s.Spec.EffectiveAuth()),
		UpdatedAt: s.UpdatedAt, Replicas: Replicas{Requested: s.Spec.Replicas},
		Status: Updating, Reason: "starting", Version: s.Hash, CodeHash: s.Code,
	}
	if bs, ok := m.backend.Status(s.Spec.Name); ok {
		st.Status, st.Reason, st.Replicas.Ready, st.Details = bs.State, bs.Reason, bs.Ready, bs.Replicas
	}
	return st
}

// Logs streams an API's logs.
func (m *Manager) Logs(ctx context.Context, name string, follow bool, w io.Writer) error {
	m.mu.Lock()
	_, ok := m.apis[name]
	m.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	return m.backend.Logs(ctx, name, follow, w)
}

// Close stops every replica (the desired state stays on disk for the next start).
func (m *Manager) Close(ctx context.Context) error { return m.backend.Close(ctx) }
