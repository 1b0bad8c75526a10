package workload

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apispec"
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
	m, err := NewManager(path, fb)
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
	m2, err := NewManager(path, fb2)
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
