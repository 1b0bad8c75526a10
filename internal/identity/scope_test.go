package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The operator and its gateway verify with one cache; a token bound to one of them must not pass
// the other, whether it is in the cache or not. (STS is the fake of TestVerifyHandlesSTSAnswers:
// only its call count matters here.)
func TestForAudiencesSharesCacheNotAudiences(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		stsAnswer(200, "text/xml", stsOK)(w, r)
	}))
	defer srv.Close()
	const gatewayAud = "https://gateway.example.com:443"
	now := time.Now()
	hosts, _ := TestEndpointHosts(srv.URL, "")
	ep := hosts[strings.TrimPrefix(srv.URL, "http://")]
	op, err := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := op.ForAudiences([]string{gatewayAud})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.ForAudiences([]string{"https://Gateway.example.com"}); err == nil {
		t.Fatal("an audience not in normalized form was accepted")
	}
	mint := func(aud string) string {
		tok, err := Mint(context.Background(), testCreds, MintInput{Endpoint: ep, ClusterID: "c", Audience: aud, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	opTok, gwTok := mint(testAudience), mint(gatewayAud)

	// Both directions, each after the token was verified (and cached) by its own verifier.
	for _, tc := range []struct {
		name        string
		own, other  *Verifier
		tok         string
		ownAudience string
	}{
		{"operator token at the gateway", op, gw, opTok, testAudience},
		{"gateway token at the operator", gw, op, gwTok, gatewayAud},
	} {
		id, err := tc.own.Verify(context.Background(), tc.tok)
		if err != nil || id.Audience != tc.ownAudience {
			t.Fatalf("%s: own verifier: %+v, %v", tc.name, id, err)
		}
		if _, err := tc.other.Verify(context.Background(), tc.tok); Code(err) != "wrong_audience" {
			t.Fatalf("%s: got %v, want wrong_audience", tc.name, err)
		}
	}
	// The cache is shared: verifying again through either costs no STS call.
	before := calls.Load()
	if _, err := gw.Verify(context.Background(), gwTok); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Verify(context.Background(), opTok); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before || op.STSCalls() != gw.STSCalls() || before != 2 {
		t.Fatalf("STS calls: %d then %d (operator counts %d, gateway %d); want 2 and no more", before, calls.Load(), op.STSCalls(), gw.STSCalls())
	}
}
