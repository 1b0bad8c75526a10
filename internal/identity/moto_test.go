package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// testAudience is the public endpoint of the operator in these tests.
const testAudience = "https://operator.example.com:443"

// Against moto with IAM auth on: moto checks the SigV4 signature of the rebuilt request,
// including the signed x-cortex-cluster-id and x-cortex-audience headers.
func TestVerifyAgainstMoto(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ep := hosts[moto.Host]
	newVerifier := func(clusterID string) *identity.Verifier {
		v, err := identity.NewVerifier(identity.VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: clusterID})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ctx := context.Background()
	mint := func(t *testing.T, u awstest.User, cluster string) string {
		tok, err := identity.Mint(ctx, u.Creds, identity.MintInput{Endpoint: ep, ClusterID: cluster, Audience: testAudience, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("user accepted", func(t *testing.T) {
		id, err := newVerifier("c-1").Verify(ctx, mint(t, alice, "c-1"))
		if err != nil {
			t.Fatal(err)
		}
		if id.ARN != alice.ARN || id.CanonicalARN != alice.ARN || id.Account != "123456789012" {
			t.Fatalf("identity = %+v, want %s", id, alice.ARN)
		}
	})
	t.Run("token for another cluster rejected", func(t *testing.T) {
		_, err := newVerifier("c-1").Verify(ctx, mint(t, alice, "c-2"))
		if !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	// The audience is signed: a relay that rewrites a token's audience to the victim's endpoint
	// passes the pre-checks, and then STS refuses the signature.
	t.Run("token for another audience rejected, rewritten audience fails the signature", func(t *testing.T) {
		tok, err := identity.Mint(ctx, alice.Creds, identity.MintInput{Endpoint: ep, ClusterID: "c-1", Audience: "https://relay.example.net", Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier("c-1")
		if _, err := v.Verify(ctx, tok); identity.Code(err) != "wrong_audience" || v.STSCalls() != 0 {
			t.Fatalf("err = %v (STS calls %d), want wrong_audience before any STS call", err, v.STSCalls())
		}
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, identity.TokenPrefix))
		var fields map[string]string
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatal(err)
		}
		fields["audience"] = testAudience
		forged, _ := json.Marshal(fields)
		_, err = v.Verify(ctx, identity.TokenPrefix+base64.RawURLEncoding.EncodeToString(forged))
		if identity.Code(err) != "sts_rejected" || v.STSCalls() != 1 {
			t.Fatalf("err = %v (STS calls %d), want sts_rejected from STS", err, v.STSCalls())
		}
	})
	t.Run("assumed role canonicalized", func(t *testing.T) {
		roleARN, creds := awstest.AssumeRole(t, admin, "deployer", "ci-run-7")
		tok, err := identity.Mint(ctx, creds, identity.MintInput{Endpoint: ep, ClusterID: "c-1", Audience: testAudience, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		id, err := newVerifier("c-1").Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if id.CanonicalARN != roleARN || id.SessionName != "ci-run-7" || !strings.Contains(id.ARN, "assumed-role/deployer/ci-run-7") {
			t.Fatalf("identity = %+v, want canonical %s", id, roleARN)
		}
	})
	t.Run("deleted access key rejected", func(t *testing.T) {
		bob := awstest.CreateUser(t, admin, "bob")
		tok := mint(t, bob, "c-1")
		awstest.DeleteAccessKey(t, admin, bob)
		_, err := newVerifier("c-1").Verify(ctx, tok)
		if !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
