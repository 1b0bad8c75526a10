package iampolicy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var params = Params{AccountID: "123456789012", Region: "us-west-2", ClusterName: "demo", Bucket: "demo-1a2b3c4d", LogGroup: "demo", RolePrefix: "cortex-demo-0a1b2c3d",
	APIPolicyARNs: []string{"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}, APIRoleARNs: []string{"arn:aws:iam::123456789012:role/team-reader"}}

// The operator may attach to its APIs' roles only the policies of the cluster admin's allowlist
// (an ArnEquals condition on iam:PolicyARN), and pass only its own API roles and the allowed
// ones; with an empty allowlist it attaches nothing and passes no role of the user's.
func TestOperatorPolicyFollowsTheAllowlist(t *testing.T) {
	type stmt struct {
		Sid       string
		Action    stringList
		Resource  stringList
		Condition map[string]map[string]stringList
	}
	statements := func(p Params) []stmt {
		t.Helper()
		doc, err := Render(Operator, p)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Statement []stmt }
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		return d.Statement
	}
	ownRoles := "arn:aws:iam::123456789012:role/cortex-apis/cortex-demo-0a1b2c3d/*"
	for _, s := range statements(params) {
		for _, a := range s.Action {
			switch a {
			case "iam:AttachRolePolicy":
				if got := s.Condition["ArnEquals"]["iam:PolicyARN"]; !slices.Equal(got, params.APIPolicyARNs) || !slices.Equal(s.Resource, []string{ownRoles}) {
					t.Errorf("%s: AttachRolePolicy on %v with policies %v, want only %v on %s", s.Sid, s.Resource, got, params.APIPolicyARNs, ownRoles)
				}
			case "iam:PassRole":
				if !slices.Equal(s.Resource, []string{ownRoles}) && !slices.Equal(s.Resource, params.APIRoleARNs) {
					t.Errorf("%s: PassRole on %v", s.Sid, s.Resource)
				}
			}
		}
	}
	empty := params
	empty.APIPolicyARNs, empty.APIRoleARNs = nil, nil
	for _, s := range statements(empty) {
		for _, a := range s.Action {
			if a == "iam:AttachRolePolicy" || (a == "iam:PassRole" && !slices.Equal(s.Resource, []string{ownRoles})) {
				t.Errorf("empty allowlist: %s allows %s on %v", s.Sid, a, s.Resource)
			}
		}
	}
	bad := params
	bad.APIPolicyARNs = []string{"arn:aws:iam::aws:policy/*"}
	if _, err := Render(Operator, bad); err == nil || !strings.Contains(err.Error(), "wildcards") {
		t.Errorf("a wildcard in the allowlist: %v", err)
	}
}

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
