package operator_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// logLines parses the operator's JSON log.
func logLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// 1,000 identical denials from one address cost a few lines, not 1,000; every allowed request and
// the first denial of each kind keep their full audit line.
func TestRepeatedDenialsAreAggregatedAllowsAreNot(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(dir, "state"), STSTestEndpoint: closedPort(t),
		AccountID: "123456789012", LocalTokenFile: tokenFile})
	c := httpsClient(t, op.CAFile)
	secret, _ := os.ReadFile(tokenFile)
	admin := operator.LocalTokenPrefix + strings.TrimSpace(string(secret))
	const denials, allows = 1000, 50
	// Allowed first: after 20 failures the address is answered 429 whatever it sends.
	for i := 0; i < allows; i++ {
		if a := call(t, c, "GET", op.URL+"/v1/info", admin, nil); a.status != 200 {
			t.Fatalf("allow %d: %d", i, a.status)
		}
	}
	for i := 0; i < denials; i++ {
		if a := call(t, c, "GET", op.URL+"/v1/info", "", nil); a.status != 401 && a.status != 429 {
			t.Fatalf("denial %d: %d", i, a.status)
		}
	}
	op.Stop() // flushes the open windows' summaries

	full, suppressed, allowed := 0, 0, 0
	reasons := map[string]bool{}
	for _, m := range logLines(t, op.Log.String()) {
		switch m["msg"] {
		case "request":
			switch m["decision"] {
			case "deny":
				full++
				reasons[m["reason"].(string)] = true
			case "allow":
				allowed++
			}
		case "denials suppressed":
			suppressed += int(m["denials_suppressed"].(float64))
			if m["client"] != "127.0.0.1" || m["reason"] == "" {
				t.Errorf("summary without its key: %v", m)
			}
		}
	}
	t.Logf("%d denials: %d full audit lines (reasons %v), %d counted in summaries; %d allows logged", denials, full, reasons, suppressed, allowed)
	if !reasons["no_token"] || full > 2*len(reasons) {
		t.Errorf("full denial lines = %d for reasons %v: want the first of each kind", full, reasons)
	}
	if full+suppressed != denials {
		t.Errorf("full (%d) + suppressed (%d) != %d denials: some went unaccounted", full, suppressed, denials)
	}
	if allowed != allows {
		t.Errorf("allowed lines = %d, want %d", allowed, allows)
	}
}
