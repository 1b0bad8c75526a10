package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// Against moto with IAM auth on: moto checks the SigV4 signature of the rebuilt request,
// including the signed x-cortex-cluster-id header.
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
		v, err := identity.NewVerifier(identity.VerifierConfig{Hosts: hosts, ClusterID: clusterID})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ctx := context.Background()
	mint := func(t *testing.T, u awstest.User, cluster string) string {
		tok, err := identity.Mint(ctx, u.Creds, identity.MintInput{Endpoint: ep, ClusterID: cluster, Now: time.Now()})
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
	t.Run("assumed role canonicalized", func(t *testing.T) {
		roleARN, creds := awstest.AssumeRole(t, admin, "deployer", "ci-run-7")
		tok, err := identity.Mint(ctx, creds, identity.MintInput{Endpoint: ep, ClusterID: "c-1", Now: time.Now()})
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
