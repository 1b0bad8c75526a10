package operator

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Red team probes of the gateway's auth that held: raw HTTP/1.1 requests (paths and headers
// exactly as written, no client normalization) against a real operator and real replicas; and
// HTTP/2. Each one must be refused, or reach only the API whose auth passed, without credentials.
func TestRedteamGatewayPathAndHeaderTricksHold(t *testing.T) {
	f := startAPIOperator(t, filepath.Join(t.TempDir(), "state"), nil)
	apis := `{"apis":[` + authSpec(t, "open", `{"type":"none"}`) + `,` + authSpec(t, "keyed", `{"type":"api_key"}`) + `]}`
	if code, body := f.do(t, "POST", "/v1/apis", apis, f.token); code != 200 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	f.waitLive(t, "open", 1)
	f.waitLive(t, "keyed", 1)
	key, _ := f.createKey(t, "k", `["keyed"]`, 0)
	host := strings.TrimPrefix(f.gateway, "https://")
	tr := f.client.Transport.(*http.Transport)
	raw := func(t *testing.T, path string, headers ...string) (int, string) {
		t.Helper()
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n"
		for _, h := range headers {
			req += h + "\r\n"
		}
		if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Paths that try to leave the public API for the keyed one (testdata/headers echoes the path
	// and the headers it got, so a 200 says which replica answered).
	for _, p := range []string{"/open/../keyed", "/open/%2e%2e/keyed", "/open/..%2fkeyed", "/open/%2E%2E%2Fkeyed",
		"/open/..", "/Keyed", "//keyed", "/./keyed", "/open%2f..%2fkeyed"} {
		if code, body := raw(t, p); code != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", p, code, body)
		}
	}
	for _, tc := range []struct {
		name    string
		path    string
		headers []string
		want    int
	}{
		{"encoded slash into keyed", "/keyed%2f", nil, 401},
		{"mixed-case duplicate X-Api-Key", "/keyed", []string{"X-Api-Key: " + key, "x-api-key: " + key}, 401},
		{"mixed-case duplicate Authorization", "/keyed", []string{"authorization: Bearer " + key, "AUTHORIZATION: Bearer " + key}, 401},
		{"underscore header name", "/keyed", []string{"X_Api_Key: " + key}, 401},
		{"key in Proxy-Authorization", "/keyed", []string{"Proxy-Authorization: Bearer " + key}, 401},
		{"valid key, upper-case header name", "/keyed", []string{"X-API-KEY: " + key}, 200},
	} {
		if code, body := raw(t, tc.path, tc.headers...); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		} else if code == 200 && strings.Contains(body, key) {
			t.Errorf("%s: the replica saw the key: %s", tc.name, body)
		}
	}
	// A none API never sees a credential, whatever its header's spelling.
	code, body := raw(t, "/open", "X-API-KEY: "+key, "aUtHoRiZaTiOn: Bearer "+key)
	if code != 200 || strings.Contains(body, key) {
		t.Errorf("open with credentials: %d %s", code, body)
	}
	// HTTP/2: lower-case header names, the same decisions.
	h2 := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: tr.TLSClientConfig.Clone()}}
	for _, tc := range []struct {
		hdr  map[string]string
		want int
	}{{nil, 401}, {map[string]string{"x-api-key": key}, 200}, {map[string]string{"x-api-key": key, "authorization": "Bearer " + key}, 401}} {
		req, _ := http.NewRequest("GET", f.gateway+"/keyed", nil)
		for k, v := range tc.hdr {
			req.Header[k] = []string{v} // as sent, not canonicalized
		}
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/2.0" || resp.StatusCode != tc.want || strings.Contains(string(b), key) {
			t.Errorf("HTTP/2 %v: %s %d %s, want %d", tc.hdr, resp.Proto, resp.StatusCode, b, tc.want)
		}
	}
}
