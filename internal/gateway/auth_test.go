package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Credential finds the one credential of a request, or says why there is none to use.
func TestCredential(t *testing.T) {
	key := "cxk_0123456789abcdef_" + strings.Repeat("A", 43)
	for _, tc := range []struct {
		name      string
		h         http.Header
		kind, val string
	}{
		{"none", http.Header{}, CredNone, ""},
		{"bearer", http.Header{"Authorization": {"Bearer " + key}}, CredBearer, key},
		{"bearer, any case", http.Header{"Authorization": {"bEaReR " + key}}, CredBearer, key},
		{"x-api-key", http.Header{"X-Api-Key": {key}}, CredAPIKey, key},
		{"both", http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}, CredAmbiguous, ""},
		{"two authorization", http.Header{"Authorization": {"Bearer " + key, "Bearer " + key}}, CredMalformed, ""},
		{"two x-api-key", http.Header{"X-Api-Key": {key, key}}, CredMalformed, ""},
		{"basic", http.Header{"Authorization": {"Basic " + key}}, CredMalformed, ""},
		{"no scheme", http.Header{"Authorization": {key}}, CredMalformed, ""},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, CredMalformed, ""},
		{"two spaces", http.Header{"Authorization": {"Bearer  " + key}}, CredMalformed, ""},
		{"trailing junk", http.Header{"Authorization": {"Bearer " + key + " x"}}, CredMalformed, ""},
		{"tab", http.Header{"Authorization": {"Bearer\t" + key}}, CredMalformed, ""},
		{"control byte", http.Header{"X-Api-Key": {key + "\x01"}}, CredMalformed, ""},
		{"utf-8", http.Header{"X-Api-Key": {key + "é"}}, CredMalformed, ""},
		{"empty x-api-key", http.Header{"X-Api-Key": {""}}, CredMalformed, ""},
		{"17 KiB", http.Header{"X-Api-Key": {strings.Repeat("a", 17<<10)}}, CredMalformed, ""},
	} {
		kind, val := Credential(&http.Request{Header: tc.h})
		if kind != tc.kind || val != tc.val {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, kind, val, tc.kind, tc.val)
		}
	}
}

// A refused request never reaches a replica, is answered as JSON with the decision's status, and
// an allowed one arrives without credentials.
func TestAuthorizeHook(t *testing.T) {
	seen := make(chan http.Header, 10)
	f := newFixture(t, Options{Authorize: func(r *http.Request, api string) Decision {
		if r.Header.Get("X-Api-Key") == "good" {
			return Decision{Auth: "api_key", Principal: "key:0123456789abcdef", Reason: "api_key"}
		}
		return Decision{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "no", Auth: "api_key", Reason: "unknown_key"}
	}})
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		_, _ = w.Write([]byte("ok"))
	}))
	defer replica.Close()
	f.setTargets("echo", strings.TrimPrefix(replica.URL, "http://"))
	f.g.SetRoutes(map[string]string{"/echo": "echo"})
	for _, tc := range []struct {
		key    string
		status int
	}{{"bad", 401}, {"good", 200}} {
		req, _ := http.NewRequest("POST", f.url+"/echo", strings.NewReader("{}"))
		req.Header.Set("X-Api-Key", tc.key)
		req.Header.Set("Authorization", "Bearer x")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d, want %d", tc.key, resp.StatusCode, tc.status)
		}
		if tc.status == 401 && (resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("WWW-Authenticate") == "") {
			t.Errorf("401 headers: %v", resp.Header)
		}
	}
	if len(seen) != 1 {
		t.Fatalf("%d requests reached the replica, want 1", len(seen))
	}
	if h := <-seen; h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" {
		t.Fatalf("the replica saw credentials: %v", h)
	}
}
