package ekstoken

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The AWS documentation's example key pair: nothing real.
var fakeCreds = aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

func decode(t *testing.T, token string) *url.URL {
	t.Helper()
	payload, ok := strings.CutPrefix(token, Prefix)
	if !ok {
		t.Fatalf("token %q lacks the %s prefix", token, Prefix)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		t.Fatalf("token payload is not unpadded base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestMintStructure(t *testing.T) {
	now := time.Date(2026, 12, 1, 23, 42, 32, 0, time.UTC)
	tok, exp, err := Mint(context.Background(), fakeCreds, Input{ClusterName: "my-cluster", Region: "eu-west-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(14 * time.Minute)) {
		t.Fatalf("expiry %v, want date + 14m", exp)
	}
	u := decode(t, tok)
	q := u.Query()
	want := map[string]string{
		"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
		"X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20261201/eu-west-1/sts/aws4_request", "X-Amz-Date": "20261201T234232Z",
		"X-Amz-Expires": "60", "X-Amz-SignedHeaders": "host;x-k8s-aws-id",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if u.Scheme != "https" || u.Host != "sts.eu-west-1.amazonaws.com" || u.Path != "/" {
		t.Errorf("URL %s://%s%s, want https://sts.eu-west-1.amazonaws.com/", u.Scheme, u.Host, u.Path)
	}
	if len(q.Get("X-Amz-Signature")) != 64 {
		t.Errorf("signature %q is not 64 hex digits", q.Get("X-Amz-Signature"))
	}
	// A session token travels in the query, like the AWS CLI's.
	session := fakeCreds
	session.SessionToken = "FwoGZXIvYXdzEXAMPLE"
	tok, _, err = Mint(context.Background(), session, Input{ClusterName: "my-cluster", Region: "eu-west-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, tok).Query().Get("X-Amz-Security-Token"); got != session.SessionToken {
		t.Fatalf("X-Amz-Security-Token = %q", got)
	}
}

func TestMintRefusesBadInput(t *testing.T) {
	for _, in := range []Input{
		{ClusterName: "", Region: "us-east-1"},
		{ClusterName: "a/b", Region: "us-east-1"},
		{ClusterName: "ok", Region: "mars-1"},
		{ClusterName: "ok", Region: "us-east-1", Partition: "nope"},
	} {
		if _, _, err := Mint(context.Background(), fakeCreds, in); err == nil {
			t.Errorf("Mint(%+v) succeeded", in)
		}
	}
}

// awsCLI finds the AWS CLI of the repo's .venv (requirements-dev.txt pins it).
func awsCLI(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".venv", "bin", "aws")
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the AWS CLI is not at %s: run scripts/setup.sh", p)
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repo root not found")
		}
		dir = parent
	}
}

// execCredential is the AWS CLI's output, read loosely so that every key it prints is seen.
type execCredential struct {
	Kind       string                     `json:"kind"`
	APIVersion string                     `json:"apiVersion"`
	Spec       map[string]json.RawMessage `json:"spec"`
	Status     struct {
		ExpirationTimestamp string `json:"expirationTimestamp"`
		Token               string `json:"token"`
	} `json:"status"`
}

// TestSameTokenAsAWSCLI runs `aws eks get-token` (offline: it only signs) with fixed fake
// credentials, then mints at the CLI's own signing time and compares: the same URL, parameter for
// parameter, the same signature, and the same expiry rule.
func TestSameTokenAsAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI (Python, seconds per run): skipped with -short (./scripts/test.sh --quick)")
	}
	cli := awsCLI(t)
	home := t.TempDir()
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		cmd := exec.Command(cli, "eks", "get-token", "--cluster-name", "my-cluster", "--region", region, "--output", "json")
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=" + fakeCreds.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY=" + fakeCreds.SecretAccessKey, "AWS_CONFIG_FILE=" + filepath.Join(home, "none"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"), "AWS_EC2_METADATA_DISABLED=true",
			`KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws eks get-token: %v\n%s", err, stderr.String())
		}
		var theirs execCredential
		if err := json.Unmarshal(out, &theirs); err != nil {
			t.Fatalf("AWS CLI output %s: %v", out, err)
		}
		tu := decode(t, theirs.Status.Token)
		date, err := time.Parse("20060102T150405Z", tu.Query().Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		ours, exp, err := Mint(context.Background(), fakeCreds, Input{ClusterName: "my-cluster", Region: region, Now: date})
		if err != nil {
			t.Fatal(err)
		}
		ou := decode(t, ours)
		if ou.Scheme != tu.Scheme || ou.Host != tu.Host || ou.Path != tu.Path {
			t.Errorf("%s: ours %s://%s%s, the AWS CLI's %s://%s%s", region, ou.Scheme, ou.Host, ou.Path, tu.Scheme, tu.Host, tu.Path)
		}
		if !reflect.DeepEqual(ou.Query(), tu.Query()) {
			t.Errorf("%s: query parameters differ\n ours: %v\ntheirs: %v", region, ou.Query(), tu.Query())
		}
		theirExp, err := time.Parse(time.RFC3339, theirs.Status.ExpirationTimestamp)
		if err != nil {
			t.Fatal(err)
		}
		if !theirExp.Equal(exp) {
			t.Errorf("%s: expiry %v, the AWS CLI's %v (signed at %v)", region, exp, theirExp, date)
		}
		// The ExecCredential shape: ours is built from client-go's types (see the token command).
		if theirs.Kind != "ExecCredential" || theirs.APIVersion != "client.authentication.k8s.io/v1" || len(theirs.Spec) != 0 {
			t.Errorf("AWS CLI ExecCredential shape changed: %s", out)
		}
	}
}
