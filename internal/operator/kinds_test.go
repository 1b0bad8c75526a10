package operator

import (
	"strings"
	"testing"
)

// The local provider runs no container images: a container API is refused at deploy time with a
// 400 that names the API and the field and says where it runs, and nothing is deployed. Code
// uploads are for clusters: a local operator reads the project directory.
func TestLocalRefusesContainerAndUploads(t *testing.T) {
	f := startAPIOperator(t, t.TempDir(), nil)
	container := `{"apis":[{"name":"web","kind":"RealtimeAPI","handler":{"type":"container","image":"registry.example.com/web:1"}}]}`
	code, body := f.do(t, "POST", "/v1/apis", container, f.token)
	if code != 400 || !strings.Contains(string(body), `"code":"bad_request"`) || !strings.Contains(string(body), `api \"web\": handler.type`) ||
		!strings.Contains(string(body), "--provider kubernetes") {
		t.Errorf("container on local: %d %s", code, body)
	}
	if code, body := f.do(t, "GET", "/v1/apis/web", "", f.token); code != 404 {
		t.Errorf("a refused container API exists: %d %s", code, body)
	}

	upload := `{"apis":[{"name":"c","kind":"RealtimeAPI","handler":{"type":"command","command":["x"]}}],` +
		`"projects":{"/p":{"hash":"` + strings.Repeat("a", 64) + `","files":[{"path":"x","data":"eA=="}]}}}`
	code, body = f.do(t, "POST", "/v1/apis", upload, f.token)
	if code != 400 || !strings.Contains(string(body), "send no files") {
		t.Errorf("upload to a local operator: %d %s", code, body)
	}
}
