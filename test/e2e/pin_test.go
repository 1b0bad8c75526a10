package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// An explicit pin always wins over the system roots. The "system" of the cortex process is made
// to trust the operator's chain through SSL_CERT_FILE/SSL_CERT_DIR (Go reads its Linux roots from
// them), as a TLS-inspection root would be trusted on a corporate machine: a --ca-fingerprint or
// --ca-file that does not match is refused and shows the fingerprint seen; one that matches pins
// that CA instead of recording "system roots".
func TestExplicitCAPinWinsOverSystemRoots(t *testing.T) {
	op := opserver.Start(t, operator.Config{STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012"})
	opCAPEM, err := os.ReadFile(op.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	opCA, err := tlsutil.ParseCertPEM(opCAPEM)
	if err != nil {
		t.Fatal(err)
	}
	seen := tlsutil.Fingerprint(opCA)
	other, err := tlsutil.EnsureSelfManaged(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(t.TempDir(), "other-ca.pem")
	writeFile(t, otherFile, string(other.CAPEM))

	c := newCluster(t, "SSL_CERT_FILE="+op.CAFile, "SSL_CERT_DIR="+t.TempDir())
	pinned := func(name string) string {
		t.Helper()
		cfg, err := cliconfig.Load(c.configDir)
		if err != nil {
			t.Fatal(err)
		}
		env, err := cfg.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(env.CACert)
	}

	// The system really trusts the chain: without a pin, nothing is pinned.
	if _, errOut, code := c.run("env", "configure", "sys", "--operator-endpoint", op.URL); code != 0 || !strings.Contains(errOut, "trusted by this system") {
		t.Fatalf("no pin: exit %d, stderr %q", code, errOut)
	}
	if p := pinned("sys"); p != "" {
		t.Fatalf("no pin: CA %q recorded", p)
	}

	wrongFP := "SHA256:" + strings.Repeat("00:", 31) + "00"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fingerprint", []string{"--ca-fingerprint", wrongFP}},
		{"file", []string{"--ca-file", otherFile}},
	} {
		args := append([]string{"env", "configure", "bad-" + tc.name, "--operator-endpoint", op.URL}, tc.args...)
		out, errOut, code := c.run(args...)
		if code == 0 {
			t.Errorf("mismatched --ca-%s accepted against a system-trusted chain:\nstdout %s\nstderr %s", tc.name, out, errOut)
			continue
		}
		t.Logf("mismatched --ca-%s refused: %s", tc.name, strings.TrimSpace(errOut))
		if !strings.Contains(errOut, seen) {
			t.Errorf("mismatched --ca-%s: the refusal does not show the fingerprint seen (%s):\n%s", tc.name, seen, errOut)
		}
		if cfg, _ := cliconfig.Load(c.configDir); cfg != nil {
			if _, err := cfg.Get("bad-" + tc.name); err == nil {
				t.Fatalf("mismatched --ca-%s: the environment was written", tc.name)
			}
		}
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fingerprint", []string{"--ca-fingerprint", strings.ToLower(seen)}},
		{"file", []string{"--ca-file", op.CAFile}},
	} {
		name := "good-" + tc.name
		c.must(append([]string{"env", "configure", name, "--operator-endpoint", op.URL}, tc.args...)...)
		if p := pinned(name); p != strings.TrimSpace(string(opCAPEM)) {
			t.Errorf("matching --ca-%s: pinned %q, want the operator's CA", tc.name, p)
			continue
		}
		if list := c.must("env", "list"); !strings.Contains(list, seen) {
			t.Errorf("matching --ca-%s: env list does not show the pinned fingerprint:\n%s", tc.name, list)
		}
	}
}
