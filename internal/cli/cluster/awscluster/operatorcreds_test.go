package awscluster

import (
	"context"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/credentials"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
)

// Which credentials go where: the resolver's fallback (cluster = spin-up) gives the operator a
// role and no key; cluster credentials given apart go into the Secret; `up` says what may be
// revoked, and never tells to revoke a key the operator uses.
func TestOperatorCredentialsAndRevocationAdvice(t *testing.T) {
	ctx := context.Background()
	spinUp := &credentials.Creds{AccessKeyID: "AKIASPINUPKEY0001", SecretAccessKey: "spin-secret", Source: credentials.SourceEnvironment, Detail: "AWS_ACCESS_KEY_ID"}
	st := &provaws.State{OperatorRoleARN: "arn:aws:iam::123456789012:role/cortex-c-1234abcd-operator"}
	fallback := *spinUp
	fallback.Source = credentials.SourceSpinUp
	for _, tc := range []struct {
		name      string
		cluster   *credentials.Creds
		key       string // "" = no credentials for the operator (its role)
		want      []string
		wantNot   []string
		revocable bool
	}{
		{name: "none given", cluster: &fallback, want: []string{"its own IAM role " + st.OperatorRoleARN, "no AWS key is stored"}, revocable: true},
		{name: "flags", cluster: &credentials.Creds{AccessKeyID: "AKIACLUSTERKEY002", SecretAccessKey: "cluster-secret", Source: credentials.SourceFlags},
			key: "AKIACLUSTERKEY002", want: []string{"cluster credentials (access key id ****Y002) from the Secret cortex/cortex-operator-aws"}, revocable: true},
		{name: "temporary", cluster: &credentials.Creds{AccessKeyID: "ASIACLUSTERKEY003", SecretAccessKey: "x", SessionToken: "tok", Source: credentials.SourceEnvironment},
			key: "ASIACLUSTERKEY003", want: []string{"are temporary"}, revocable: true},
		{name: "same key given twice", cluster: &credentials.Creds{AccessKeyID: spinUp.AccessKeyID, SecretAccessKey: "spin-secret", Source: credentials.SourceFlags},
			key: spinUp.AccessKeyID, want: []string{"revoking them stops the operator"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := operatorCredentials(ctx, tc.cluster)
			if err != nil {
				t.Fatal(err)
			}
			if got := ""; op != nil {
				got = op.AccessKeyID
				if got != tc.key {
					t.Fatalf("operator key %q, want %q", got, tc.key)
				}
			} else if tc.key != "" {
				t.Fatalf("no operator credentials, want %q", tc.key)
			}
			text := strings.Join(revocationAdvice(st, spinUp, op), "\n")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("advice lacks %q:\n%s", w, text)
				}
			}
			if got := strings.Contains(text, "you may revoke them now"); got != tc.revocable {
				t.Errorf("revocable = %v, want %v:\n%s", got, tc.revocable, text)
			}
			for _, secret := range []string{"spin-secret", "cluster-secret", spinUp.AccessKeyID} {
				if strings.Contains(text, secret) {
					t.Errorf("advice shows %q:\n%s", secret, text)
				}
			}
		})
	}
}
