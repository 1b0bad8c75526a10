package gatewaycmd

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func TestServeFlags(t *testing.T) {
	full := []string{"--tls-cert-file", "c", "--tls-key-file", "k", "--operator", "https://op:8888", "--operator-ca-file", "ca",
		"--client-cert-file", "cc", "--client-key-file", "ck", "--apis-namespace", "cortex-apis"}
	without := func(flag string) []string {
		var out []string
		for i := 0; i < len(full); i += 2 {
			if full[i] != flag {
				out = append(out, full[i], full[i+1])
			}
		}
		return out
	}
	f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	var got *ServeOptions
	if err := cmdutil.ExecuteTest(NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil }), append(full, "--listen", "0.0.0.0:8443")...); err != nil {
		t.Fatal(err)
	}
	if got.Listen != "0.0.0.0:8443" || got.OperatorURL != "https://op:8888" || got.APIsNamespace != "cortex-apis" || got.AccessLog != "-" {
		t.Fatalf("%+v", got)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{without("--tls-cert-file"), "--tls-cert-file is required"},
		{without("--operator"), "--operator is required"},
		{without("--operator-ca-file"), "--operator-ca-file is required"},
		{without("--client-cert-file"), "--client-cert-file is required"},
		{without("--client-key-file"), "--client-key-file is required"},
		{without("--apis-namespace"), "--apis-namespace is required"},
		{append(without("--apis-namespace"), "--apis-namespace", "Not_A_Namespace"), "--apis-namespace"},
		{append(full, "--listen", "8443"), "is not host:port"},
		{append(full, "--log-level", "loud"), "invalid --log-level"},
		{append(full, "--max-body-bytes", "-1"), "must not be negative"},
		{append(full, "extra"), "unknown command"},
	} {
		err := cmdutil.ExecuteTest(NewCmdServe(f, func(*ServeOptions) error { return nil }), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
		}
	}
	// Without runF, a missing file is reported before anything listens.
	err := cmdutil.ExecuteTest(NewCmdServe(f, nil), full...)
	if err == nil || !strings.Contains(err.Error(), "--tls-cert-file/--tls-key-file") {
		t.Errorf("missing certificate files: %v", err)
	}
}
