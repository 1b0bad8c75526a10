package apiidentity

import (
	"strings"
	"testing"
)

func TestAllowedValidate(t *testing.T) {
	const pol, role = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::123456789012:role/team/reader"
	for _, tc := range []struct {
		name string
		a    Allowed
		want string // "" = valid
	}{
		{"empty", Allowed{}, ""},
		{"managed and customer policies, roles with paths", Allowed{PolicyARNs: []string{pol, "arn:aws:iam::123456789012:policy/team/read-models"},
			RoleARNs: []string{role}}, ""},
		{"other partitions", Allowed{PolicyARNs: []string{"arn:aws-cn:iam::aws:policy/X"}, RoleARNs: []string{"arn:aws-us-gov:iam::123456789012:role/r"}}, ""},
		{"policy wildcard", Allowed{PolicyARNs: []string{"arn:aws:iam::aws:policy/*"}}, "allowed_policy_arns[0]: \"arn:aws:iam::aws:policy/*\": wildcards are not allowed"},
		{"policy ? wildcard", Allowed{PolicyARNs: []string{pol, "arn:aws:iam::123456789012:policy/read-?"}}, "allowed_policy_arns[1]: \"arn:aws:iam::123456789012:policy/read-?\": wildcards"},
		{"role wildcard", Allowed{RoleARNs: []string{"arn:aws:iam::123456789012:role/*"}}, "allowed_role_arns[0]: \"arn:aws:iam::123456789012:role/*\": wildcards"},
		{"bare wildcard", Allowed{PolicyARNs: []string{"*"}}, "wildcards are not allowed"},
		{"not an ARN", Allowed{PolicyARNs: []string{"AdministratorAccess"}}, "allowed_policy_arns[0]: \"AdministratorAccess\" is not an IAM policy ARN"},
		{"s3 ARN", Allowed{PolicyARNs: []string{"arn:aws:s3:::bucket"}}, "is not an IAM policy ARN"},
		{"role as policy", Allowed{PolicyARNs: []string{role}}, "is not an IAM policy ARN"},
		{"policy as role", Allowed{RoleARNs: []string{pol}}, "allowed_role_arns[0]: \"" + pol + "\" is not an IAM role ARN"},
		{"role of aws", Allowed{RoleARNs: []string{"arn:aws:iam::aws:role/x"}}, "is not an IAM role ARN"},
		{"short account", Allowed{RoleARNs: []string{"arn:aws:iam::1234:role/x"}}, "is not an IAM role ARN"},
		{"empty name", Allowed{PolicyARNs: []string{"arn:aws:iam::aws:policy/"}}, "is not an IAM policy ARN"},
		{"trailing space", Allowed{PolicyARNs: []string{pol + " "}}, "is not an IAM policy ARN"},
		{"duplicate policy", Allowed{PolicyARNs: []string{pol, pol}}, "allowed_policy_arns[1]: \"" + pol + "\" is listed twice"},
		{"duplicate role", Allowed{RoleARNs: []string{role, role}}, "allowed_role_arns[1]: \"" + role + "\" is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate("api_iam")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want %q", err, tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), "api_iam."):
				t.Fatalf("error %q does not name the setting", err)
			}
		})
	}
}

func TestAllowedCheck(t *testing.T) {
	const p1, p2, role = "arn:aws:iam::123456789012:policy/p1", "arn:aws:iam::123456789012:policy/p2", "arn:aws:iam::123456789012:role/r"
	a := Allowed{PolicyARNs: []string{p1, p2}, RoleARNs: []string{role}}
	for _, tc := range []struct {
		name string
		r    Request
		want string
	}{
		{"allowed policies", Request{API: "a", PolicyARNs: []string{p2, p1}}, ""},
		{"allowed role", Request{API: "a", RoleARN: role}, ""},
		{"no identity", Request{API: "a"}, ""},
		{"one policy outside", Request{API: "a", PolicyARNs: []string{p1, "arn:aws:iam::aws:policy/AdministratorAccess"}}, "api a: iam_policy_arns: arn:aws:iam::aws:policy/AdministratorAccess is not allowed"},
		{"case differs", Request{API: "a", PolicyARNs: []string{"arn:aws:iam::123456789012:policy/P1"}}, "not allowed"},
		{"role outside", Request{API: "a", RoleARN: "arn:aws:iam::123456789012:role/admin"}, "api a: iam_role_arn: arn:aws:iam::123456789012:role/admin is not allowed"},
		{"policy ARN as role", Request{API: "a", RoleARN: p1}, "iam_role_arn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Check(tc.r)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := (Allowed{}).Check(Request{API: "a", PolicyARNs: []string{p1}}); err == nil || !strings.Contains(err.Error(), SettingPolicies) {
		t.Errorf("empty allowlist: %v", err)
	}
	if err := (Allowed{}).Check(Request{API: "a", RoleARN: role}); err == nil || !strings.Contains(err.Error(), SettingRoles) {
		t.Errorf("empty allowlist: %v", err)
	}
}
