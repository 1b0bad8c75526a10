package operator_test

// Abuse cases found by the red team (security round 2 review): each comment says what an attacker
// could do before the fix; each test asserts what holds now.

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// One IPv6 host owns a whole /64 (the gateway's and the operator's connection caps already key
// IPv6 clients by their /64). The failure limiter and the denial aggregation key by the full
// address, so an attacker who walks its /64 is never rate limited and gets one full audit line per
// request; with rotation bounding the disk, those lines push every earlier audit line (allowed
// requests included) out of the retained files.
//
// The requests go through the operator's handler with RemoteAddr set as net/http sets it from the
// TCP peer (this machine has only ::1 on loopback, so real sockets from 2^64 addresses are not
// available; the operator's own code path is the same).
func TestOneIPv6Slash64IsOneClient(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	logPath := filepath.Join(logDir, "operator.log")
	w, err := operator.OpenLogFile(logPath, 1, 1) // 1 MB, one backup: a scaled-down 20 MB x 5
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "admin-token")
	srv, err := operator.New(operator.Config{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0",
		STSTestEndpoint: "http://127.0.0.1:9", AccountID: "123456789012", LocalTokenFile: tokenFile,
		Logger: slog.New(slog.NewJSONHandler(w, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	secret, _ := os.ReadFile(tokenFile)
	admin := operator.LocalTokenPrefix + strings.TrimSpace(string(secret))

	// The allowed request the attacker wants gone from the audit trail.
	req := httptest.NewRequest("GET", "/v1/info", nil)
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("Authorization", "Bearer "+admin)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("admin request: %d", rec.Code)
	}
	allowedID := rec.Header().Get("X-Request-Id")

	// The attacker: one host, one /64, no credential.
	const n = 20000
	statuses := map[int]int{}
	for i := 0; i < n; i++ {
		req := httptest.NewRequest("GET", "/v1/info", nil)
		req.RemoteAddr = fmt.Sprintf("[2001:db8:0:1:%x:%x::1]:443", i>>16, i&0xffff)
		req.Header.Set("Authorization", "Bearer not-a-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		statuses[rec.Code]++
	}
	_ = w.Close()

	full, allowedKept := 0, false
	files, _ := filepath.Glob(filepath.Join(logDir, "*"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, `"client":"2001:db8:0:1:`) && strings.Contains(l, `"msg":"request"`) {
				full++
			}
			if strings.Contains(l, allowedID) {
				allowedKept = true
			}
		}
		fh.Close()
	}
	t.Logf("%d bad-token requests from one /64: statuses %v; %d full audit lines on disk; allowed request %s kept: %v",
		n, statuses, full, allowedID, allowedKept)
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("one /64 sent %d failed authentications and was never answered 429", n)
	}
	if full > 100 {
		t.Errorf("one /64 wrote %d full denial lines in one aggregation window (one address writes one)", full)
	}
	if !allowedKept {
		t.Errorf("the allowed request's audit line (%s) is gone: unauthenticated traffic rotated it away", allowedID)
	}
}

// The failure limiter blocks an address, not a credential: a client with no credential at all
// that shares the legitimate user's address (every client of a local cluster is 127.0.0.1; NAT,
// a bastion, a VPN egress) locks that user out with 20 bad requests, and keeps them out with one
// every 2 s. The admin's valid credential is answered 429 before it is even looked at.
func TestBlockedAddressStillServesKnownGoodCredentials(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(dir, "state"), STSTestEndpoint: closedPort(t),
		AccountID: "123456789012", LocalTokenFile: tokenFile})
	c := httpsClient(t, op.CAFile)
	secret, _ := os.ReadFile(tokenFile)
	admin := operator.LocalTokenPrefix + strings.TrimSpace(string(secret))
	if a := call(t, c, "GET", op.URL+"/v1/info", admin, nil); a.status != 200 {
		t.Fatalf("admin before: %d", a.status)
	}
	for i := 0; i < 21; i++ { // the neighbour: no credential, same address
		call(t, c, "GET", op.URL+"/v1/info", "garbage", nil)
	}
	if a := call(t, c, "GET", op.URL+"/v1/info", admin, nil); a.status != 200 {
		t.Errorf("the admin's valid credential after a neighbour's 21 bad requests: %d %s, want 200", a.status, a.code)
	}
}

// The denial aggregation key is (client IP, decision, reason, status): neither the verified ARN
// nor the method and path. So the first 403 of one principal hides every later 403 of any other
// principal from the same address for the whole window (every client of a local cluster is
// 127.0.0.1; NAT, bastions and VPN egresses share addresses too), and a principal's harmless
// first denial hides its own later attempts at other endpoints: an attempt to make oneself admin
// (PUT /v1/access) leaves no line with the ARN, the method or the path.
func TestDenialAggregationKeepsEachPrincipalsDenials(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	adminCfg := awstest.Bootstrap(t, moto)
	creator := awstest.CreateUser(t, adminCfg, "creator")
	alice := awstest.CreateUser(t, adminCfg, "alice")
	mallory := awstest.CreateUser(t, adminCfg, "mallory")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(t.TempDir(), "state"), STSTestEndpoint: moto.URL,
		AccountID: "123456789012", CreatorARN: creator.ARN, AuthMode: "rules"})
	c := httpsClient(t, op.CAFile)

	// Alice, who has no access yet, looks at the cluster once: 403, logged in full.
	if a := call(t, c, "GET", op.URL+"/v1/info", mintAs(t, op, moto, alice.Creds), nil); a.status != 403 {
		t.Fatalf("alice: %d", a.status)
	}
	// Mallory, from the same address, tries to grant herself admin, several times.
	body := `{"principal":"` + mallory.ARN + `","role":"admin"}`
	for i := 0; i < 5; i++ {
		if a := call(t, c, "PUT", op.URL+"/v1/access", mintAs(t, op, moto, mallory.Creds), strings.NewReader(body)); a.status != 403 {
			t.Fatalf("mallory: %d", a.status)
		}
	}
	op.Stop()
	log := op.Log.String()
	var malloryLines, putLines int
	for _, m := range logLines(t, log) {
		if m["arn"] == mallory.ARN {
			malloryLines++
		}
		if m["msg"] == "request" && m["method"] == "PUT" && m["path"] == "/v1/access" {
			putLines++
		}
	}
	t.Logf("audit lines naming mallory: %d; lines for PUT /v1/access: %d", malloryLines, putLines)
	if malloryLines == 0 {
		t.Errorf("mallory's 5 attempts to make herself admin left no audit line with her ARN:\n%s", log)
	}
	if putLines == 0 {
		t.Errorf("no audit line records a PUT /v1/access at all")
	}
}
