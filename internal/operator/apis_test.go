package operator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/pyruntime"
)

type apiFixture struct {
	srv           *Server
	base, gateway string
	client        *http.Client
	token         string
	stop          func()
}

func echoDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "examples", "echo")
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func startAPIOperator(t *testing.T, stateDir string, mutate func(*Config)) *apiFixture {
	t.Helper()
	cfg := Config{StateDir: stateDir, Listen: "127.0.0.1:0", Provider: "local",
		LocalTokenFile: filepath.Join(stateDir, "..", "admin.token"),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.APIs.GatewayListen = "127.0.0.1:0"
	cfg.APIs.Python = pyruntime.Python(t) // python handlers need waitress (the .venv has it)
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("operator exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("operator did not start")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	secret, err := LoadOrCreateLocalToken(cfg.LocalTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{
		srv:    s,
		base:   "https://" + addr.String(),
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second},
		token:  LocalTokenPrefix + secret,
	}
	stopped := false
	f.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("operator did not stop")
		}
	}
	if a := s.GatewayAddr(); a != nil { // nil: a remote gateway (the test starts it)
		f.gateway = "https://" + a.String()
	}
	t.Cleanup(f.stop)
	return f
}

func (f *apiFixture) do(t *testing.T, method, path, body, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (f *apiFixture) waitLive(t *testing.T, name string, ready int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var st map[string]any
	for time.Now().Before(deadline) {
		code, body := f.do(t, "GET", "/v1/apis/"+name, "", f.token)
		if code == 200 {
			st = map[string]any{}
			_ = json.Unmarshal(body, &st)
			reps, _ := st["replicas"].(map[string]any)
			if st["status"] == "live" && reps["ready"] == float64(ready) {
				return st
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("api %s not live with %d ready: %v", name, ready, st)
	return nil
}

func deployBody(t *testing.T, replicas int, extra string) string {
	return `{"apis":[{"name":"echo","kind":"RealtimeAPI","replicas":` + itoa(replicas) + `,"project_dir":` + jsonStr(echoDir(t)) +
		`,"handler":{"type":"python","path":"handler.py","config":{"greeting":"hi"}}` + extra + `}]}`
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAPIRoutesDeployCallDeleteRestore(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	f := startAPIOperator(t, state, nil)

	code, body := f.do(t, "POST", "/v1/apis", deployBody(t, 1, ""), f.token)
	if code != 200 || !strings.Contains(string(body), `"action": "created"`) {
		t.Fatalf("deploy: %d %s", code, body)
	}
	code, body = f.do(t, "POST", "/v1/apis", deployBody(t, 1, ""), f.token)
	if code != 200 || !strings.Contains(string(body), `"action": "unchanged"`) {
		t.Fatalf("redeploy: %d %s", code, body)
	}
	st := f.waitLive(t, "echo", 1)
	if st["endpoint"] != f.gateway+"/echo" || st["kind"] != "RealtimeAPI" || st["updated_at"] == "" {
		t.Fatalf("status %v", st)
	}
	// The spec says no auth: iam, which admits whoever may read the cluster (the local admin here).
	callReq, _ := http.NewRequest("POST", f.gateway+"/echo", strings.NewReader(`{"x":1}`))
	callReq.Header.Set("Content-Type", "application/json")
	callReq.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.client.Do(callReq)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(data), `"payload": {"x": 1}`) || !strings.Contains(string(data), `"greeting": "hi"`) {
		t.Fatalf("call: %d %s", resp.StatusCode, data)
	}

	// Invalid specs are 400 naming the field, and change nothing.
	for _, bad := range []string{
		strings.Replace(deployBody(t, 1, ""), "RealtimeAPI", "BatchAPI", 1),
		strings.Replace(deployBody(t, 1, ""), `"replicas":1`, `"replicas":1,"networking":{"endpoint":"/../etc"}`, 1),
		`{"apis":[` + strings.TrimSuffix(strings.TrimPrefix(deployBody(t, 2, ""), `{"apis":[`), "]}") + "," + strings.TrimSuffix(strings.TrimPrefix(deployBody(t, 2, ""), `{"apis":[`), "]}") + `]}`,
		strings.Replace(deployBody(t, 1, ""), `"project_dir":`, `"project_dir":"/nonexistent","x":`, 1),
	} {
		code, body := f.do(t, "POST", "/v1/apis", bad, f.token)
		if code != 400 || !strings.Contains(string(body), `"code":"bad_request"`) {
			t.Errorf("bad spec: %d %s", code, body)
		}
	}
	code, body = f.do(t, "GET", "/v1/apis", "", f.token)
	if code != 200 || strings.Count(string(body), `"name"`) != 1 || !strings.Contains(string(body), `"requested": 1`) {
		t.Fatalf("list after bad deploys: %d %s", code, body)
	}

	// Logs.
	code, body = f.do(t, "GET", "/v1/apis/echo/logs?follow=false", "", f.token)
	if code != 200 || !strings.Contains(string(body), "[echo-0] cortex: echo serving") {
		t.Fatalf("logs: %d %s", code, body)
	}
	// Follow streams until the client goes away.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.base+"/v1/apis/echo/logs?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err = f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || !bytes.HasPrefix(buf, []byte("[echo-0]")) {
		t.Fatalf("follow: %q %v", buf, err)
	}
	cancel()
	resp.Body.Close()

	// Restart: the API comes back.
	f.stop()
	f2 := startAPIOperator(t, state, nil)
	f2.waitLive(t, "echo", 1)

	code, _ = f2.do(t, "DELETE", "/v1/apis/echo", "", f2.token)
	if code != 200 {
		t.Fatalf("delete: %d", code)
	}
	code, _ = f2.do(t, "DELETE", "/v1/apis/echo", "", f2.token)
	if code != 404 {
		t.Fatalf("second delete: %d", code)
	}
	resp, err = f2.client.Get(f2.gateway + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("gateway after delete: %d", resp.StatusCode)
	}
	if code, _ := f2.do(t, "GET", "/v1/apis", "", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if fi, err := os.Stat(filepath.Join(state, "apis.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("apis.json: %v %v", fi, err)
	}
}

// A caller whose role is read may list and get, not deploy or delete.
func TestAPIRoutesReadRoleCannotDeployOrDelete(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	reader := awstest.CreateUser(t, admin, "reader")
	state := filepath.Join(t.TempDir(), "state")
	f := startAPIOperator(t, state, func(c *Config) {
		c.STSTestEndpoint = moto.URL
		c.AccountID = "123456789012"
		c.AccountRole = "read"
	})
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var clusterID string
	{
		code, body := f.do(t, "GET", "/v1/auth", "", "")
		var p AuthParams
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("auth params: %d %s", code, body)
		}
		clusterID = p.ClusterID
	}
	tok, err := identity.Mint(context.Background(), reader.Creds, identity.MintInput{Endpoint: hosts[moto.Host], ClusterID: clusterID, Audience: f.base, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// The admin deploys an API; the reader sees it but cannot change it.
	if code, body := f.do(t, "POST", "/v1/apis", deployBody(t, 1, ""), f.token); code != 200 {
		t.Fatalf("admin deploy: %d %s", code, body)
	}
	if code, body := f.do(t, "GET", "/v1/apis", "", tok); code != 200 || !strings.Contains(string(body), `"echo"`) {
		t.Fatalf("reader list: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", "/v1/apis/echo/logs", "", tok); code != 200 {
		t.Fatalf("reader logs: %d", code)
	}
	if code, body := f.do(t, "POST", "/v1/apis", deployBody(t, 2, ""), tok); code != 403 {
		t.Fatalf("reader deploy: %d %s", code, body)
	}
	if code, body := f.do(t, "DELETE", "/v1/apis/echo", "", tok); code != 403 {
		t.Fatalf("reader delete: %d %s", code, body)
	}
	code, body := f.do(t, "GET", "/v1/apis/echo", "", f.token)
	if code != 200 || !strings.Contains(string(body), `"requested": 1`) {
		t.Fatalf("the reader changed the API: %s", body)
	}
}

// AWS credentials reach an API through its environment only: never in the operator's logs, the
// replica logs, the state file or argv; an API can opt out.
func TestAPIAWSCredentialsPassedNeverLogged(t *testing.T) {
	const keyID, secret = "AKIAEXAMPLEAPIS00001", "s3cr3t/VALUE+for-apis-only"
	awsDir := t.TempDir()
	writeTestFile(t, filepath.Join(awsDir, "credentials"), "[apis]\naws_access_key_id = "+keyID+"\naws_secret_access_key = "+secret+"\n")
	writeTestFile(t, filepath.Join(awsDir, "config"), "[profile apis]\nregion = eu-west-1\n")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(awsDir, "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(awsDir, "config"))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")

	settings := filepath.Join(t.TempDir(), "apis-aws.json")
	writeTestFile(t, settings, `{"enabled": true, "profile": "apis"}`)
	proj := t.TempDir()
	writeTestFile(t, filepath.Join(proj, "handler.py"), `import hashlib, os
class Handler:
    def __init__(self, config):
        print("starting", flush=True)
    def handle_post(self, payload):
        s = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        return {"key_id": os.environ.get("AWS_ACCESS_KEY_ID"), "region": os.environ.get("AWS_REGION"),
                "secret_sha": hashlib.sha256(s.encode()).hexdigest() if s else None,
                "shared_file": os.environ.get("AWS_SHARED_CREDENTIALS_FILE")}
`)
	var logBuf syncBuf
	state := filepath.Join(t.TempDir(), "state")
	f := startAPIOperator(t, state, func(c *Config) {
		c.APIs.AWSSettingsFile = settings
		c.Logger = slog.New(slog.NewJSONHandler(&logBuf, nil))
	})
	spec := func(name string, optOut bool) string {
		s := `{"name":"` + name + `","kind":"RealtimeAPI","project_dir":` + jsonStr(proj) + `,"handler":{"type":"python","path":"handler.py"},"auth":{"type":"none"}`
		if optOut {
			s += `,"aws_credentials":false`
		}
		return s + "}"
	}
	if code, body := f.do(t, "POST", "/v1/apis", `{"apis":[`+spec("withcreds", false)+","+spec("optout", true)+`]}`, f.token); code != 200 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	call := func(name string) map[string]any {
		f.waitLive(t, name, 1)
		resp, err := f.client.Post(f.gateway+"/"+name, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	got := call("withcreds")
	sum := sha256.Sum256([]byte(secret))
	if got["key_id"] != keyID || got["secret_sha"] != hex.EncodeToString(sum[:]) || got["region"] != "eu-west-1" {
		t.Fatalf("API with credentials saw %v", got)
	}
	if got := call("optout"); got["key_id"] != nil || got["secret_sha"] != nil || got["shared_file"] != "/dev/null" {
		t.Fatalf("opted-out API saw %v", got)
	}
	_, logs := f.do(t, "GET", "/v1/apis/withcreds/logs", "", f.token)
	f.stop()
	// Nothing the operator wrote anywhere holds the secret.
	var leaks []string
	_ = filepath.Walk(state, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(secret)) {
				leaks = append(leaks, p)
			}
		}
		return nil
	})
	if strings.Contains(logBuf.String(), secret) || strings.Contains(string(logs), secret) || len(leaks) > 0 {
		t.Fatalf("secret leaked: operator log %v, api logs %v, files %v", strings.Contains(logBuf.String(), secret), strings.Contains(string(logs), secret), leaks)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
