package workload

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apispec"

	"github.com/cortexlabs-go/cortex/internal/statestore"
)

type fakeBackend struct {
	mu      sync.Mutex
	applied map[string]Deployment
	deleted []string
}

func (f *fakeBackend) Apply(_ context.Context, d Deployment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		f.applied = map[string]Deployment{}
	}
	f.applied[d.Spec.Name] = d
	return nil
}
func (f *fakeBackend) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.applied, name)
	f.deleted = append(f.deleted, name)
	return nil
}
func (f *fakeBackend) Status(name string) (Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.applied[name]
	return Status{Name: name, State: Live, Requested: d.Spec.Replicas, Ready: d.Spec.Replicas}, ok
}
func (f *fakeBackend) Restart(context.Context, string) error               { return nil }
func (f *fakeBackend) Targets(string) []string                             { return nil }
func (f *fakeBackend) Logs(context.Context, string, bool, io.Writer) error { return nil }
func (f *fakeBackend) Close(context.Context) error                         { return nil }

func spec(name string, replicas int) apispec.Spec {
	return apispec.Spec{Name: name, Kind: apispec.KindRealtime, Replicas: replicas,
		Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{"x"}}}
}

func TestManagerApplyPersistRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apis.json")
	fb := &fakeBackend{}
	m, err := NewManager(statestore.NewFiles(filepath.Dir(path)), fb)
	if err != nil {
		t.Fatal(err)
	}
	m.GatewayURL = "https://127.0.0.1:9"
	var routes map[string]string
	m.OnRoutes = func(r map[string]string) { routes = r }
	ctx := context.Background()

	res, err := m.Apply(ctx, []apispec.Spec{spec("a", 1), spec("b", 1)})
	if err != nil || res[0].Action != ActionCreated || res[1].Action != ActionCreated {
		t.Fatalf("%v %v", res, err)
	}
	res, err = m.Apply(ctx, []apispec.Spec{spec("a", 2), spec("b", 1)})
	if err != nil || res[0].Action != ActionUpdated || res[1].Action != ActionUnchanged {
		t.Fatalf("%v %v", res, err)
	}
	if routes["/a"] != "a" || routes["/b"] != "b" {
		t.Fatalf("routes %v", routes)
	}
	st, err := m.Get("a")
	if err != nil || st.Endpoint != "https://127.0.0.1:9/a" || st.Replicas.Requested != 2 || st.Status != Live {
		t.Fatalf("%+v %v", st, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	// An invalid deploy changes nothing: not the file, not the backend.
	before, _ := os.ReadFile(path)
	bad := spec("c", 1)
	bad.Kind = "BatchAPI"
	if _, err := m.Apply(ctx, []apispec.Spec{spec("a", 3), bad}); err == nil {
		t.Fatal("invalid kind accepted")
	} else {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("want ValidationError, got %T", err)
		}
	}
	conflict := spec("d", 1)
	conflict.Networking.Endpoint = "/A"
	if _, err := m.Apply(ctx, []apispec.Spec{conflict}); err == nil {
		t.Fatal("endpoint conflict with a deployed API accepted")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) || fb.applied["a"].Spec.Replicas != 2 {
		t.Fatal("an invalid deploy changed the state")
	}

	if err := m.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// A new manager on the same file (operator restart) restores what was deployed.
	fb2 := &fakeBackend{}
	m2, err := NewManager(statestore.NewFiles(filepath.Dir(path)), fb2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fb2.applied) != 1 || fb2.applied["a"].Spec.Replicas != 2 {
		t.Fatalf("restored %v", fb2.applied)
	}
	if l := m2.List(); len(l) != 1 || l[0].Name != "a" {
		t.Fatalf("list %v", l)
	}
}

// The manager ships a snapshot of the project: the version follows the files, replicas get the
// bundle's directory, a restart of the operator keeps running the deployed code, and a state
// written before bundles existed is upgraded at restore.
func TestManagerVersionsFollowTheCode(t *testing.T) {
	dir := t.TempDir()
	project := filepath.Join(dir, "project")
	if err := os.MkdirAll(project, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(project, "server.py"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("v1")
	s := spec("api", 1)
	s.ProjectDir = project
	path := filepath.Join(dir, "apis.json")
	fb := &fakeBackend{}
	m, err := NewManager(statestore.NewFiles(filepath.Dir(path)), fb)
	if err != nil {
		t.Fatal(err)
	}
	m.BundleDir = filepath.Join(dir, "bundles")
	ctx := context.Background()
	if res, err := m.Apply(ctx, []apispec.Spec{s}); err != nil || res[0].Action != ActionCreated {
		t.Fatalf("%v %v", res, err)
	}
	st, _ := m.Get("api")
	v1, d1 := st.Version, fb.applied["api"]
	if data, err := os.ReadFile(filepath.Join(d1.CodeDir, "server.py")); err != nil || string(data) != "v1" || d1.Code != st.CodeHash {
		t.Fatalf("deployment %+v: %q %v", d1, data, err)
	}
	if res, _ := m.Apply(ctx, []apispec.Spec{s}); res[0].Action != ActionUnchanged {
		t.Fatalf("same files: %v", res)
	}
	write("v2")
	if res, _ := m.Apply(ctx, []apispec.Spec{s}); res[0].Action != ActionUpdated {
		t.Fatalf("edited file: %v", res)
	}
	st, _ = m.Get("api")
	if st.Version == v1 || fb.applied["api"].CodeDir == d1.CodeDir {
		t.Fatalf("the version did not follow the code: %+v", st)
	}
	// An operator restart with the project edited again: the deployed v2 runs, v1's bundle goes.
	write("v3")
	fb2 := &fakeBackend{}
	m2, err := NewManager(statestore.NewFiles(filepath.Dir(path)), fb2)
	if err != nil {
		t.Fatal(err)
	}
	m2.BundleDir = m.BundleDir
	if err := m2.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(fb2.applied["api"].CodeDir, "server.py")); string(data) != "v2" {
		t.Fatalf("after restore the replicas run %q, want the deployed v2", data)
	}
	if _, err := os.Stat(d1.CodeDir); !os.IsNotExist(err) {
		t.Errorf("v1's bundle was kept: %v", err)
	}
	// A state file from before bundles: restore snapshots the project as it is.
	legacy := `{"version":1,"apis":[{"spec":` + mustJSON(t, s) + `,"hash":"x"}]}`
	if err := os.WriteFile(path, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	fb3 := &fakeBackend{}
	m3, _ := NewManager(statestore.NewFiles(filepath.Dir(path)), fb3)
	m3.BundleDir = m.BundleDir
	if err := m3.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(fb3.applied["api"].CodeDir, "server.py")); string(data) != "v3" {
		t.Fatalf("legacy restore runs %q", data)
	}
	if st, _ := m3.Get("api"); st.CodeHash == "" || st.Version == "x" {
		t.Fatalf("legacy entry not upgraded: %+v", st)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
