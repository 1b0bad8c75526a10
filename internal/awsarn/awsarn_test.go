package awsarn

import "testing"

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, canonical, session string }{
		{"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice", ""},
		{"arn:aws:iam::123456789012:user/dev/alice", "arn:aws:iam::123456789012:user/alice", ""},
		{"arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com", "arn:aws:iam::123456789012:role/Admin", "alice@example.com"},
		{"arn:aws-us-gov:sts::123456789012:assumed-role/R/s1", "arn:aws-us-gov:iam::123456789012:role/R", "s1"},
		{"arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root", ""},
		{"arn:aws:sts::123456789012:federated-user/bob", "arn:aws:sts::123456789012:federated-user/bob", ""},
	} {
		p, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if p.Canonical() != tc.canonical || p.Session != tc.session {
			t.Errorf("%s: canonical %s session %q", tc.in, p.Canonical(), p.Session)
		}
	}
	for _, bad := range []string{"", "arn:aws:iam::123456789012", "arn:aws:sts::123456789012:assumed-role/R", "arn:aws:sts::123456789012:assumed-role/R/s/x",
		"arn:aws:iam::123456789012:user/", "arn:aws:iam::123456789012:user/a b", "arn:aws:sts::123456789012:assumed-role/R/s\n",
		"arn:aws:iam::123456789012:user//x", "arn:aws:iam::1234:user/x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
