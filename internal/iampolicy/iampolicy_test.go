package iampolicy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var params = Params{AccountID: "123456789012", Region: "us-west-2", ClusterName: "demo", Bucket: "demo-1a2b3c4d", LogGroup: "demo", RolePrefix: "cortex-demo-0a1b2c3d"}

func TestGolden(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			got, err := Render(kind, params)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", kind+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/iampolicy -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s policy differs from %s:\n%s", kind, path, got)
			}
			for _, v := range []string{"123456789012", "us-west-2"} {
				if !bytes.Contains(got, []byte(v)) {
					t.Errorf("%s policy does not mention %s", kind, v)
				}
			}
			if bytes.Contains(got, []byte("{{")) || bytes.Contains(got, []byte("<no value>")) {
				t.Errorf("unrendered placeholder in %s policy", kind)
			}
			c, err := Compact(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) > 6144 {
				t.Errorf("%s policy is %d chars, over IAM's 6144 limit for managed policies", kind, len(c))
			}
		})
	}
}

func TestDefaultPolicyScopedToCluster(t *testing.T) {
	doc, err := Render(Default, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"arn:aws:s3:::demo-1a2b3c4d/*", "arn:aws:logs:us-west-2:123456789012:log-group:demo:*"} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("default policy lacks %s", want)
		}
	}
}

func TestRenderRejectsBadParams(t *testing.T) {
	bad := params
	bad.ClusterName = `x", "Resource": "*`
	if _, err := Render(Default, bad); err == nil {
		t.Fatal("a parameter that would inject JSON must be refused")
	}
	bad = params
	bad.AccountID = "12"
	if _, err := Render(Default, bad); err == nil {
		t.Fatal("short account id accepted")
	}
	if _, err := Render("root", params); err == nil || !strings.Contains(err.Error(), "management, operator, default") {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestActions(t *testing.T) {
	doc, err := Render(Management, params)
	if err != nil {
		t.Fatal(err)
	}
	acts, err := Actions(doc)
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, a := range acts {
		has[a] = true
	}
	for _, a := range []string{"eks:CreateCluster", "ec2:CreateNatGateway", "iam:CreatePolicyVersion", "s3:PutBucketPublicAccessBlock", "iam:PassRole"} {
		if !has[a] {
			t.Errorf("management policy lacks %s", a)
		}
	}
}
