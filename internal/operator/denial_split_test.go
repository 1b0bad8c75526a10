package operator_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// Lines of requests without a verified principal go to the denial logger; the audit trail of
// principals (allowed requests) to the main one: unauthenticated traffic, which anyone can send,
// never rotates that trail away.
func TestUnauthenticatedLinesGoToTheDenialLog(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	denials := &opserver.SyncBuffer{}
	op := opserver.Start(t, operator.Config{LocalTokenFile: tokenFile, DenialLogger: slog.New(slog.NewJSONHandler(denials, nil))})
	c := httpsClient(t, op.CAFile)
	secret, _ := os.ReadFile(tokenFile)
	if a := call(t, c, "GET", op.URL+"/v1/info", operator.LocalTokenPrefix+strings.TrimSpace(string(secret)), nil); a.status != 200 {
		t.Fatalf("admin: %d", a.status)
	}
	if a := call(t, c, "GET", op.URL+"/v1/info", "", nil); a.status != 401 {
		t.Fatalf("no token: %d", a.status)
	}
	main, deny := op.Log.String(), denials.String()
	if !strings.Contains(main, `"decision":"allow"`) || strings.Contains(main, `"reason":"no_token"`) {
		t.Fatalf("main log should hold the allowed request only:\n%s", main)
	}
	if !strings.Contains(deny, `"reason":"no_token"`) || strings.Contains(deny, `"decision":"allow"`) {
		t.Fatalf("denial log should hold the unauthenticated denial only:\n%s", deny)
	}
}
