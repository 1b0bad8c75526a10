package identity

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary tokens to the verifier with a network that must never be reached:
// nothing built from hostile bytes may pass the pre-checks unless it is a well-formed, fresh,
// allowlisted, cluster-bound token; and nothing may panic.
func FuzzVerify(f *testing.F) {
	hosts, _ := PartitionHosts(PartitionAWS)
	good, _ := Mint(context.Background(), testCreds, MintInput{Endpoint: hosts["sts.amazonaws.com"], ClusterID: "c", Now: testNow})
	f.Add(good)
	f.Add(TokenPrefix + "e30")
	f.Add(encodeRaw(`{"host":"sts.amazonaws.com","date":"20261122T120000Z","authorization":"AWS4-HMAC-SHA256 x"}`))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		ft := &failTransport{}
		v, _ := NewVerifier(VerifierConfig{Hosts: hosts, ClusterID: "c", HTTPClient: &http.Client{Transport: ft},
			Now: func() time.Time { return testNow }})
		_, err := v.Verify(context.Background(), tok)
		if err == nil {
			t.Fatal("verified without STS")
		}
		if ft.calls.Load() > 0 {
			// Reaching STS is allowed only for a token that passed every pre-check.
			if _, _, perr := v.precheck(tok, testNow); perr != nil {
				t.Fatalf("precheck failed (%v) yet STS was called", perr)
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("network failure classified as %v", err)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("pre-check error not ErrInvalid: %v", err)
		}
	})
}
