package awssdk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// imds is a local instance-metadata server that refuses IMDSv2 tokens (403), which makes the SDK
// fall back to IMDSv1, and serves role credentials.
func imds(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			http.Error(w, "forbidden", http.StatusForbidden)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/role":
			io.WriteString(w, `{"Code":"Success","AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret","Token":"tok","Expiration":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// captureStderr runs f with os.Stderr redirected and returns what was written.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	defer func() { os.Stderr = old }()
	f()
	w.Close()
	os.Stderr = old
	return <-done
}

func TestSDKLogLinesNeverReachStderr(t *testing.T) {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds(t))
	t.Setenv("AWS_REGION", "us-east-1")
	var key string
	out := captureStderr(t, func() {
		cfg, err := LoadConfig(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		c, err := cfg.Credentials.Retrieve(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		key = c.AccessKeyID
	})
	if key != "ASIAEXAMPLE" {
		t.Fatalf("the test's metadata server was not used (key %q)", key)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("the SDK wrote to stderr: %q", out)
	}
}
