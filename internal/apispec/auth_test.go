package apispec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestValidateAuth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Auth
		want    Auth
		field   string // expected FieldError.Field; "" when valid
		message string
	}{
		{name: "absent is iam", in: Auth{}, want: Auth{Type: AuthIAM}},
		{name: "iam", in: Auth{Type: "iam"}, want: Auth{Type: AuthIAM}},
		{name: "api_key", in: Auth{Type: "api_key"}, want: Auth{Type: AuthAPIKey}},
		{name: "none", in: Auth{Type: "none"}, want: Auth{Type: AuthNone}},
		{name: "allow canonicalized and deduplicated",
			in:   Auth{Type: "iam", Allow: []string{"arn:aws:iam::111122223333:role/team/ml", "111122223333", "arn:aws:iam::111122223333:role/ml", "111122223333"}},
			want: Auth{Type: AuthIAM, Allow: []string{"arn:aws:iam::111122223333:role/ml", "111122223333"}}},
		{name: "unknown type", in: Auth{Type: "IAM"}, field: "auth.type", message: "unknown auth type"},
		{name: "public by typo", in: Auth{Type: "public"}, field: "auth.type"},
		{name: "allow with api_key", in: Auth{Type: "api_key", Allow: []string{"111122223333"}}, field: "auth.allow"},
		{name: "allow with none", in: Auth{Type: "none", Allow: []string{"111122223333"}}, field: "auth.allow"},
		{name: "empty allow", in: Auth{Type: "iam", Allow: []string{}}, field: "auth.allow", message: "empty"},
		{name: "wildcard", in: Auth{Type: "iam", Allow: []string{"*"}}, field: "auth.allow[0]"},
		{name: "session", in: Auth{Type: "iam", Allow: []string{"111122223333", "arn:aws:sts::111122223333:assumed-role/ml/s"}}, field: "auth.allow[1]"},
		{name: "not an arn", in: Auth{Type: "iam", Allow: []string{"alice"}}, field: "auth.allow[0]"},
		{name: "too many", in: Auth{Type: "iam", Allow: make([]string, MaxAllow+1)}, field: "auth.allow", message: "too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.in
			err := ValidateAuth(&a)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, tc.want) {
					t.Fatalf("got %+v, want %+v", a, tc.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.message) {
				t.Fatalf("got %v, want a FieldError on %s containing %q", err, tc.field, tc.message)
			}
		})
	}
}

func TestParseAuth(t *testing.T) {
	dir := project(t)
	const spec = `- name: a
  kind: RealtimeAPI
  handler: {type: python, path: handler.py}
- name: b
  kind: RealtimeAPI
  handler: {type: python, path: handler.py}
  auth: {type: api_key}
- name: c
  kind: RealtimeAPI
  handler: {type: python, path: handler.py}
  auth:
    type: iam
    allow: ["111122223333"]
`
	specs, err := Parse([]byte(spec), "cortex.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Auth.Type != AuthIAM || specs[1].Auth.Type != AuthAPIKey || specs[2].Auth.Allow[0] != "111122223333" {
		t.Fatalf("auth: %+v %+v %+v", specs[0].Auth, specs[1].Auth, specs[2].Auth)
	}
	for _, tc := range []struct{ yaml, field string }{
		{"  auth: {type: iam, deny: [x]}\n", "auth.deny"},
		{"  auth: {type: open}\n", "auth.type"},
		{"  auth: none\n", "auth"},
		{"  auth:\n    type: iam\n    allow: [\"bob\"]\n", "auth.allow[0]"},
	} {
		_, err := Parse([]byte("- name: a\n  kind: RealtimeAPI\n  handler: {type: python, path: handler.py}\n"+tc.yaml), "cortex.yaml", dir)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.Line == 0 {
			t.Errorf("%q: got %v, want a FieldError on %s with a line", tc.yaml, err, tc.field)
		}
	}
}
