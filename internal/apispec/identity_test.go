package apispec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const identityBase = `- name: echo
  kind: RealtimeAPI
  handler:
    type: command
    command: [python3, echo.py]
`

func TestParseIdentity(t *testing.T) {
	dir := project(t)
	specs, err := Parse([]byte(identityBase+"  iam_role_arn: arn:aws-cn:iam::123456789012:role/team/echo-reader\n"), "cortex.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].IAMRoleARN != "arn:aws-cn:iam::123456789012:role/team/echo-reader" || !specs[0].HasIAMIdentity() {
		t.Errorf("role: %+v", specs[0])
	}
	specs, err = Parse([]byte(identityBase+"  iam_policy_arns:\n  - arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\n  - arn:aws-us-gov:iam::123456789012:policy/path/to/mine\n"), "cortex.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs[0].IAMPolicyARNs) != 2 || !specs[0].HasIAMIdentity() {
		t.Errorf("policies: %+v", specs[0])
	}
	specs, err = Parse([]byte(identityBase), "cortex.yaml", dir)
	if err != nil || specs[0].HasIAMIdentity() {
		t.Errorf("no identity: %v %+v", err, specs)
	}
	// A spec without an identity hashes as before the fields existed (no redeploy on upgrade).
	if h := specs[0].Hash(); strings.Contains(string(mustJSONSpec(t, specs[0])), "iam_") {
		t.Errorf("empty identity fields are in the JSON (hash %s)", h)
	}
}

func TestParseIdentityHostile(t *testing.T) {
	dir := project(t)
	long := strings.Repeat("a", 65)
	cases := []struct {
		name, extra, field string
		line               int
		msg                string
	}{
		{"role not an arn", "  iam_role_arn: my-role\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role is a user", "  iam_role_arn: arn:aws:iam::123456789012:user/bob\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role of another service", "  iam_role_arn: arn:aws:sts::123456789012:assumed-role/r/s\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role short account", "  iam_role_arn: arn:aws:iam::12345:role/r\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role name too long", "  iam_role_arn: arn:aws:iam::123456789012:role/" + long + "\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role wildcard", "  iam_role_arn: \"arn:aws:iam::123456789012:role/*\"\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role newline", "  iam_role_arn: \"arn:aws:iam::123456789012:role/r\\nx\"\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role trailing space", "  iam_role_arn: \"arn:aws:iam::123456789012:role/r \"\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role bad partition", "  iam_role_arn: arn:azure:iam::123456789012:role/r\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role huge", "  iam_role_arn: arn:aws:iam::123456789012:role/" + strings.Repeat("p/", 2000) + "r\n", "iam_role_arn", 6, "not an IAM role ARN"},
		{"role not a string", "  iam_role_arn: [a]\n", "iam_role_arn", 6, "string"},
		{"both", "  iam_role_arn: arn:aws:iam::123456789012:role/r\n  iam_policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n", "iam_policy_arns", 7, "not allowed with iam_role_arn"},
		{"policy is a role", "  iam_policy_arns: [arn:aws:iam::123456789012:role/r]\n", "iam_policy_arns[0]", 6, "not an IAM policy ARN"},
		{"policy wildcard", "  iam_policy_arns: [\"arn:aws:iam::aws:policy/*\"]\n", "iam_policy_arns[0]", 6, "not an IAM policy ARN"},
		{"policy of s3", "  iam_policy_arns:\n  - arn:aws:iam::aws:policy/ReadOnlyAccess\n  - arn:aws:s3:::bucket\n", "iam_policy_arns[1]", 8, "not an IAM policy ARN"},
		{"policy twice", "  iam_policy_arns:\n  - arn:aws:iam::aws:policy/ReadOnlyAccess\n  - arn:aws:iam::aws:policy/ReadOnlyAccess\n", "iam_policy_arns[1]", 8, "listed twice"},
		{"policies empty", "  iam_policy_arns: []\n", "iam_policy_arns", 6, "empty"},
		{"policies not a list", "  iam_policy_arns: arn:aws:iam::aws:policy/ReadOnlyAccess\n", "iam_policy_arns", 6, "list"},
		{"too many policies", "  iam_policy_arns: [" + strings.TrimSuffix(strings.Repeat("arn:aws:iam::aws:policy/P, ", 11), ", ") + "]\n", "iam_policy_arns", 6, "too many"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(identityBase+c.extra), "cortex.yaml", dir)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != c.field || fe.Line != c.line || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got field %q line %d msg %q; want %q line %d containing %q", fe.Field, fe.Line, fe.Msg, c.field, c.line, c.msg)
			}
			if len(err.Error()) > 400 {
				t.Errorf("message of %d bytes echoes the input: %.200s", len(err.Error()), err)
			}
		})
	}
}

func mustJSONSpec(t *testing.T, s Spec) []byte {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
