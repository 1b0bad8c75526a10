package access

import "testing"

func TestNormalizePrincipal(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "123456789012", want: "123456789012"},
		{in: "arn:aws:iam::123456789012:user/alice", want: "arn:aws:iam::123456789012:user/alice"},
		{in: "arn:aws:iam::123456789012:user/team/alice", want: "arn:aws:iam::123456789012:user/alice"},
		{in: "arn:aws:iam::123456789012:role/path/to/deployer", want: "arn:aws:iam::123456789012:role/deployer"},
		{in: "arn:aws:iam::123456789012:root", want: "arn:aws:iam::123456789012:root"},
		{in: "arn:aws-cn:iam::123456789012:role/r", want: "arn:aws-cn:iam::123456789012:role/r"},
		{in: "arn:aws:sts::123456789012:assumed-role/deployer/session", err: "name the role"},
		{in: "arn:aws:sts::123456789012:federated-user/bob", err: "federated"},
		{in: "arn:aws:iam::123456789012:user/*", err: "wildcards"},
		{in: "12345678901", err: "12-digit"},
		{in: "arn:aws:iam::12345678901a:user/x", err: "12 digits"},
		{in: "arn:aws:iam:us-east-1:123456789012:user/x", err: "no region"},
		{in: "arn:aws:iam::123456789012:group/admins", err: "unsupported"},
		{in: "arn:aws:s3:::bucket", err: "not an IAM"},
		{in: "arn:aws-iso:iam::123456789012:user/x", err: "partition"},
		{in: "", err: "account id"},
	} {
		got, err := NormalizePrincipal(tc.in)
		if tc.err != "" {
			if err == nil || !contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want one mentioning %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestDecide(t *testing.T) {
	const acct = "123456789012"
	creator := "arn:aws:iam::123456789012:user/creator"
	p := Policy{Mode: ModeAccount, AccountID: acct, AccountRole: RoleDeploy, CreatorARN: creator, Rules: []Rule{
		{Principal: "arn:aws:iam::123456789012:user/reader", Role: RoleRead},
		{Principal: "arn:aws:iam::123456789012:user/creator", Role: RoleRead}, // cannot demote the creator
		{Principal: "arn:aws:iam::999999999999:role/partner", Role: RoleDeploy},
		{Principal: "555555555555", Role: RoleRead},
	}}
	rules := p
	rules.Mode = ModeRules
	for _, tc := range []struct {
		name     string
		pol      Policy
		arn, acc string
		want     Role
		reason   string
	}{
		{"creator", p, creator, acct, RoleAdmin, "creator"},
		{"exact rule lowers below account mode", p, "arn:aws:iam::123456789012:user/reader", acct, RoleRead, "rule_arn"},
		{"account mode", p, "arn:aws:iam::123456789012:user/anyone", acct, RoleDeploy, "account_mode"},
		{"root not implied by account mode", p, "arn:aws:iam::123456789012:root", acct, RoleNone, "root_not_implied"},
		{"root not implied by account rule", p, "arn:aws:iam::555555555555:root", "555555555555", RoleNone, "root_not_implied"},
		{"foreign role by rule", p, "arn:aws:iam::999999999999:role/partner", "999999999999", RoleDeploy, "rule_arn"},
		{"foreign account rule", p, "arn:aws:iam::555555555555:user/x", "555555555555", RoleRead, "rule_account"},
		{"foreign identity without rule", p, "arn:aws:iam::888888888888:user/x", "888888888888", RoleNone, "no_rule"},
		{"rules mode: account identity without rule", rules, "arn:aws:iam::123456789012:user/anyone", acct, RoleNone, "no_rule"},
		{"rules mode: creator", rules, creator, acct, RoleAdmin, "creator"},
	} {
		d := tc.pol.Decide(tc.arn, tc.acc, "AIDAEXAMPLE")
		if d.Role != tc.want || d.Reason != tc.reason {
			t.Errorf("%s: got %q (%s), want %q (%s)", tc.name, d.Role, d.Reason, tc.want, tc.reason)
		}
	}
}

func TestDecideBindsPerPrincipalGrantsToTheUniqueID(t *testing.T) {
	const acct = "123456789012"
	creator := "arn:aws:iam::123456789012:user/creator"
	dana := "arn:aws:iam::123456789012:user/dana"
	p := Policy{Mode: ModeAccount, AccountID: acct, AccountRole: RoleDeploy, CreatorARN: creator, CreatorUniqueID: "AIDACREATOR",
		Rules: []Rule{{Principal: dana, Role: RoleRead, UniqueID: "AIDADANA1"}, {Principal: "arn:aws:iam::123456789012:role/new", Role: RoleAdmin},
			{Principal: "555555555555", Role: RoleRead}}}
	for _, tc := range []struct {
		name, arn, acc, uid string
		want                Decision
	}{
		{"creator, same id", creator, acct, "AIDACREATOR", Decision{Role: RoleAdmin, Reason: "creator"}},
		{"creator re-created", creator, acct, "AIDAOTHER", Decision{Role: RoleNone, Reason: ReasonRecreated}},
		{"rule, same id", dana, acct, "AIDADANA1", Decision{Role: RoleRead, Reason: "rule_arn"}},
		// Not the account mode's deploy either: the rule restricted dana, and a stranger does not escape it.
		{"rule re-created", dana, acct, "AIDADANA2", Decision{Role: RoleNone, Reason: ReasonRecreated}},
		{"unbound rule asks to bind", "arn:aws:iam::123456789012:role/new", acct, "AROANEW", Decision{Role: RoleAdmin, Reason: "rule_arn", Bind: true}},
		{"account rule is not bound", "arn:aws:iam::555555555555:user/x", "555555555555", "AIDAX", Decision{Role: RoleRead, Reason: "rule_account"}},
		{"account mode is not bound", "arn:aws:iam::123456789012:user/any", acct, "AIDAANY", Decision{Role: RoleDeploy, Reason: "account_mode"}},
	} {
		if got := p.Decide(tc.arn, tc.acc, tc.uid); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if UniqueID("AROAEXAMPLE:session-1") != "AROAEXAMPLE" || UniqueID("AIDAEXAMPLE") != "AIDAEXAMPLE" {
		t.Fatal("UniqueID does not strip the session")
	}
}

func TestRoleOrder(t *testing.T) {
	if !RoleAdmin.Allows(RoleDeploy) || !RoleDeploy.Allows(RoleRead) || RoleRead.Allows(RoleDeploy) || RoleNone.Allows(RoleRead) || RoleDeploy.Allows(RoleAdmin) {
		t.Fatal("roles are not ordered read < deploy < admin")
	}
	if _, err := ParseRole("owner"); err == nil {
		t.Fatal("unknown role accepted")
	}
}

// The installs give a whole account read or deploy, never admin (granted by rule only).
func TestParseAccountRole(t *testing.T) {
	for _, ok := range []string{"read", "deploy"} {
		if r, err := ParseAccountRole(ok); err != nil || string(r) != ok {
			t.Errorf("%q: %v %v", ok, r, err)
		}
	}
	for _, bad := range []string{"admin", "", "Deploy", "deploy ", "none", "write"} {
		if r, err := ParseAccountRole(bad); err == nil || r != RoleNone {
			t.Errorf("%q: accepted as %q", bad, r)
		}
	}
}
