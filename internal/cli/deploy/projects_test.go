package deploy

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// The project is sent only to an operator that is not on this machine, and only for handlers that
// run it. The server below answers GET /v1/info alone, the one call projectsFor makes: a real
// operator of another provider needs IAM and STS (moto) to start, which this unit does not need
// (the operator's side of an upload is tested against real servers in internal/workload/kube).
func TestProjectsAreSentToClustersOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte("class Handler: pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	py := apispec.Spec{Name: "py", Kind: apispec.KindRealtime, ProjectDir: dir, Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py"}}
	web := apispec.Spec{Name: "web", Kind: apispec.KindRealtime, ProjectDir: dir, Handler: apispec.Handler{Type: apispec.HandlerContainer, Image: "nginx"}}
	for _, c := range []struct {
		provider string
		specs    []apispec.Spec
		want     int // projects sent
		infos    int // /v1/info calls
	}{
		{"local", []apispec.Spec{py}, 0, 1},
		{"aws", []apispec.Spec{py, web}, 1, 1},
		{"aws", []apispec.Spec{web}, 0, 0}, // nothing runs the project: not even asked
	} {
		infos := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/info" {
				http.NotFound(w, r)
				return
			}
			infos++
			_ = json.NewEncoder(w).Encode(apitypes.Info{Cluster: apitypes.ClusterInfo{Provider: c.provider}})
		}))
		cl, err := client.New(client.Options{Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		projects, err := projectsFor(context.Background(), cl, c.specs)
		srv.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.provider, err)
		}
		if len(projects) != c.want || infos != c.infos {
			t.Errorf("%s %d specs: %d projects, %d info calls; want %d, %d", c.provider, len(c.specs), len(projects), infos, c.want, c.infos)
		}
		if u, ok := projects[dir]; c.want == 1 && (!ok || len(u.Files) != 1 || u.Files[0].Path != "handler.py" || len(u.Hash) != 64) {
			t.Errorf("project %+v", u)
		}
	}
}
