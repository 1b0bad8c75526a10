package operator

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

func headersDir(t *testing.T) string {
	abs, err := filepath.Abs(filepath.Join("testdata", "headers"))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// authSpec is an API served by testdata/headers (it answers with the headers it got).
func authSpec(t *testing.T, name, auth string) string {
	s := `{"name":"` + name + `","kind":"RealtimeAPI","project_dir":` + jsonStr(headersDir(t)) +
		`,"handler":{"type":"command","command":["python3","server.py"]}`
	if auth != "" {
		s += `,"auth":` + auth
	}
	return s + "}"
}

// gatewayCall is one request to the gateway; it returns the status, the error code (refusals) and
// the headers the replica saw (passes).
func (f *apiFixture) gatewayCall(t *testing.T, path string, set func(h http.Header)) (int, string, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.gateway+path, strings.NewReader(`{"x":1}`))
	req.Header.Set("Content-Type", "application/json")
	if set != nil {
		set(req.Header)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error   struct{ Code string } `json:"error"`
		Headers map[string]string     `json:"headers"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("%s: answer is not JSON: %d %q", path, resp.StatusCode, data)
	}
	return resp.StatusCode, body.Error.Code, body.Headers
}

func withBearer(v string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", "Bearer "+v) }
}

func (f *apiFixture) createKey(t *testing.T, name, apis string, expires int) (string, string) {
	t.Helper()
	body := `{"name":"` + name + `","apis":` + apis
	if expires > 0 {
		body += `,"expires_in_seconds":` + itoa(expires)
	}
	code, out := f.do(t, "POST", "/v1/api-keys", body+"}", f.token)
	var c CreatedAPIKey
	if code != 201 || json.Unmarshal(out, &c) != nil {
		t.Fatalf("create key %s: %d %s", name, code, out)
	}
	return c.Key, c.APIKey.ID
}

// The gateway's decision for every kind of caller, against a real operator, real replicas and
// moto's STS (IAM auth on); then a restart keeps keys and rules, and the access log holds every
// decision and no credential.
func TestGatewayAuthDecisions(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	bob := awstest.CreateUser(t, admin, "bob")
	state := filepath.Join(t.TempDir(), "state")
	withMoto := func(c *Config) {
		c.STSTestEndpoint = moto.URL
		c.AccountID = "123456789012"
		c.AccountRole = "read"
	}
	f := startAPIOperator(t, state, withMoto)
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	_, authBody := f.do(t, "GET", "/v1/auth", "", "")
	var params AuthParams
	if err := json.Unmarshal(authBody, &params); err != nil {
		t.Fatal(err)
	}
	mint := func(creds aws.Credentials, cluster, audience string) string {
		tok, err := identity.Mint(context.Background(), creds, identity.MintInput{Endpoint: hosts[moto.Host], ClusterID: cluster, Audience: audience, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	apis := `{"apis":[` + strings.Join([]string{
		authSpec(t, "open", `{"type":"none"}`),
		authSpec(t, "keyed", `{"type":"api_key"}`),
		authSpec(t, "other", `{"type":"api_key"}`),
		authSpec(t, "readers", ""), // the default: iam, whoever may read the cluster
		authSpec(t, "alice-only", `{"type":"iam","allow":[`+jsonStr(alice.ARN)+`]}`),
	}, ",") + `]}`
	if code, body := f.do(t, "POST", "/v1/apis", apis, f.token); code != 200 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	for _, name := range []string{"open", "keyed", "other", "readers", "alice-only"} {
		st := f.waitLive(t, name, 1)
		if name == "readers" && st["auth"].(map[string]any)["type"] != "iam" {
			t.Fatalf("default auth: %v", st["auth"])
		}
	}
	key, keyID := f.createKey(t, "ci", `["keyed"]`, 0)
	otherKey, _ := f.createKey(t, "other-ci", `["other"]`, 0)
	shortKey, _ := f.createKey(t, "short", `["keyed"]`, 1)
	revoked, _ := f.createKey(t, "gone", `["keyed"]`, 0)
	if code, _ := f.do(t, "DELETE", "/v1/api-keys/gone", "", f.token); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, body := f.do(t, "POST", "/v1/api-keys", `{"name":"x","apis":["missing"]}`, f.token); code != 400 {
		t.Fatalf("key for an API that is not deployed: %d %s", code, body)
	}
	aliceTok := mint(alice.Creds, params.ClusterID, f.gateway)
	bobTok := mint(bob.Creds, params.ClusterID, f.gateway)
	opTok := mint(alice.Creds, params.ClusterID, f.base)

	// The key that expires in a second: poll until it is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, errCode, _ := f.gatewayCall(t, "/keyed", withBearer(shortKey))
		if code == 401 && errCode == "unauthenticated" {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("short-lived key: %d %s", code, errCode)
		}
		time.Sleep(100 * time.Millisecond)
	}

	rows := []struct {
		name   string
		path   string
		set    func(http.Header)
		status int
	}{
		{"no credentials", "/keyed", nil, 401},
		{"no credentials, iam", "/readers", nil, 401},
		{"malformed: Basic", "/keyed", func(h http.Header) { h.Set("Authorization", "Basic "+key) }, 401},
		{"malformed: no scheme", "/keyed", func(h http.Header) { h.Set("Authorization", key) }, 401},
		{"malformed: empty bearer", "/keyed", func(h http.Header) { h.Set("Authorization", "Bearer ") }, 401},
		{"wrong key", "/keyed", withBearer(key[:len(key)-2] + "AA"), 401},
		{"key for another API", "/keyed", withBearer(otherKey), 403},
		{"expired key", "/keyed", withBearer(shortKey), 401},
		{"revoked key", "/keyed", withBearer(revoked), 401},
		{"identity token on an api_key API", "/keyed", withBearer(aliceTok), 401},
		{"API key on an iam API", "/readers", withBearer(key), 401},
		{"iam token for another cluster", "/readers", withBearer(mint(alice.Creds, "another-cluster", f.gateway)), 401},
		{"iam token for the operator", "/readers", withBearer(opTok), 401},
		{"identity not in allow", "/alice-only", withBearer(bobTok), 403},
		{"local admin on an allow list", "/alice-only", withBearer(f.token), 403},
		{"hostile: two Authorization headers", "/keyed", func(h http.Header) { h.Add("Authorization", "Bearer "+key); h.Add("Authorization", "Bearer "+key) }, 401},
		{"hostile: Authorization and X-Api-Key", "/keyed", func(h http.Header) { h.Set("Authorization", "Bearer "+key); h.Set("X-Api-Key", key) }, 401},
		{"hostile: UTF-8 in the key", "/keyed", func(h http.Header) { h.Set("X-Api-Key", key+"é") }, 401},
		{"hostile: 10 KiB key", "/keyed", withBearer("cxk_" + strings.Repeat("a", 10<<10)), 401},
		{"hostile: key with a space", "/keyed", func(h http.Header) { h.Set("Authorization", "Bearer "+key+" x") }, 401},
		{"valid key", "/keyed", withBearer(key), 200},
		{"valid key in X-Api-Key", "/keyed", func(h http.Header) { h.Set("x-api-key", key) }, 200},
		{"valid key, lower-case bearer", "/keyed", func(h http.Header) { h.Set("Authorization", "bearer "+key) }, 200},
		{"reader", "/readers", withBearer(bobTok), 200},
		{"local admin reads the cluster", "/readers", withBearer(f.token), 200},
		{"allowed", "/alice-only", withBearer(aliceTok), 200},
		{"none with credentials", "/open", func(h http.Header) { h.Set("Authorization", "Bearer "+aliceTok); h.Set("X-Api-Key", key) }, 200},
		{"none without credentials", "/open", nil, 200},
	}
	for _, r := range rows {
		code, errCode, seen := f.gatewayCall(t, r.path, r.set)
		if code != r.status {
			t.Errorf("%s: %d %s, want %d", r.name, code, errCode, r.status)
			continue
		}
		if code == 200 && (seen["authorization"] != "" || seen["x-api-key"] != "") {
			t.Errorf("%s: the replica saw credentials: %v", r.name, seen)
		}
	}
	// A token bound to the gateway does not open the operator either.
	if code, _ := f.do(t, "GET", "/v1/info", "", aliceTok); code != 401 {
		t.Errorf("gateway token at the operator: %d, want 401", code)
	}

	// Keys of a deleted API stop working, also when an API of the same name comes back.
	if code, _ := f.do(t, "DELETE", "/v1/apis/other", "", f.token); code != 200 {
		t.Fatal("delete other")
	}
	if code, body := f.do(t, "POST", "/v1/apis", `{"apis":[`+authSpec(t, "other", `{"type":"api_key"}`)+`]}`, f.token); code != 200 {
		t.Fatalf("redeploy other: %d %s", code, body)
	}
	f.waitLive(t, "other", 1)
	if code, _, _ := f.gatewayCall(t, "/other", withBearer(otherKey)); code != 403 {
		t.Errorf("key of a deleted API: %d, want 403", code)
	}

	// Listing shows no secret, the creator and the last use.
	code, list := f.do(t, "GET", "/v1/api-keys", "", f.token)
	if code != 200 || strings.Contains(string(list), key) || !strings.Contains(string(list), `"created_by": "cortex:local:admin"`) ||
		!strings.Contains(string(list), `"last_used"`) || strings.Contains(string(list), "sha256") {
		t.Fatalf("list: %d %s", code, list)
	}

	// A restart keeps keys, revocations and rules.
	f.stop()
	f = startAPIOperator(t, state, withMoto)
	for _, name := range []string{"keyed", "alice-only", "readers"} {
		f.waitLive(t, name, 1)
	}
	for _, r := range []struct {
		name, path string
		tok        string
		status     int
	}{
		{"key after restart", "/keyed", key, 200},
		{"revoked after restart", "/keyed", revoked, 401},
		{"allow after restart", "/alice-only", mint(bob.Creds, params.ClusterID, f.gateway), 403},
	} {
		if code, errCode, _ := f.gatewayCall(t, r.path, withBearer(r.tok)); code != r.status {
			t.Errorf("%s: %d %s, want %d", r.name, code, errCode, r.status)
		}
	}
	// Revocation takes effect on the next request.
	if code, _ := f.do(t, "DELETE", "/v1/api-keys/"+keyID, "", f.token); code != 200 {
		t.Fatal("revoke by id")
	}
	if code, _, _ := f.gatewayCall(t, "/keyed", withBearer(key)); code != 401 {
		t.Errorf("revoked key: %d", code)
	}

	// Repeated failures from one address: 429 before any check, for anything but a credential
	// that is known good at no cost (as at the operator: a neighbour behind the same address is
	// not locked out).
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		code, _, _ := f.gatewayCall(t, "/keyed", withBearer(revoked))
		limited = code == 429
	}
	if !limited {
		t.Fatal("40 failures from one address were never limited")
	}
	if code, errCode, _ := f.gatewayCall(t, "/readers", withBearer(mint(alice.Creds, "another-cluster", f.gateway))); code != 429 || errCode != "rate_limited" {
		t.Errorf("an unverified token after the limit: %d %s, want 429", code, errCode)
	}
	if code, errCode, _ := f.gatewayCall(t, "/readers", withBearer(f.token)); code != 200 {
		t.Errorf("the local admin credential after the limit: %d %s, want 200", code, errCode)
	}
	f.stop()

	// The access log: JSON lines, each decision with its reason, principals by ARN or key id, and
	// no key or token anywhere.
	logPath := filepath.Join(state, "logs", "gateway-access.log")
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	principals := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("access log line is not JSON: %q", sc.Text())
		}
		if r, _ := e["reason"].(string); r != "" {
			reasons[r] = true
		}
		if p, _ := e["principal"].(string); p != "" {
			principals[p] = true
		}
	}
	for _, want := range []string{"no_credentials", "malformed_credentials", "ambiguous_credentials", "unknown_key", "key_expired",
		"key_not_for_api", "wrong_credential_type", "sts_rejected", "wrong_audience", "not_in_allow", "api_key", "allow_list",
		"account_mode", "local_admin", "public", "rate_limited"} {
		if !reasons[want] {
			t.Errorf("access log has no decision with reason %s (has %v)", want, reasons)
		}
	}
	if !principals["key:"+keyID] || !principals[alice.ARN] {
		t.Errorf("access log principals: %v", principals)
	}
	for _, secret := range []string{key, key[len(key)-43:], otherKey, shortKey, revoked, aliceTok, bobTok, opTok, strings.TrimPrefix(f.token, LocalTokenPrefix)} {
		if strings.Contains(string(data), secret) {
			t.Fatalf("the access log holds a credential")
		}
	}
	for _, p := range []string{logPath, filepath.Join(state, "api-keys.json")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi, err)
		}
	}
}
