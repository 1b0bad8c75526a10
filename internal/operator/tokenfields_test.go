package operator_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// A token whose session token carries a control character is the client's fault: 401, logged as
// such and counted against the client, never a 503 "identity provider unavailable" (it used to
// pass the pre-checks and fail inside the operator's own HTTP client). Likewise a token bound to
// another endpoint, and a token of the retired contract.
func TestMalformedTokensAre401AndCounted(t *testing.T) {
	sts := closedPort(t) // nothing may reach STS: it would be a 503
	op := opserver.Start(t, operator.Config{STSTestEndpoint: sts, AccountID: "123456789012"})
	c := httpsClient(t, op.CAFile)
	hosts, _ := identity.TestEndpointHosts(sts, "")
	var ep identity.STSEndpoint
	for _, e := range hosts {
		ep = e
	}
	session := aws.Credentials{AccessKeyID: "ASIAEXAMPLE000000000", SecretAccessKey: "s", SessionToken: "FwoGZXIvYXdzEXAMPLE"}
	mint := func(audience string) string {
		tok, err := identity.Mint(context.Background(), session, identity.MintInput{Endpoint: ep, ClusterID: op.Cluster().ID, Audience: audience, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withSessionToken := func(tok, st string) string {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, identity.TokenPrefix))
		if err != nil {
			t.Fatal(err)
		}
		var d identity.Token
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		d.SecurityToken = st
		s, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := map[string]struct{ token, reason string }{
		"control character in the session token": {withSessionToken(mint(op.URL), "FwoG\x01ZXIv"), "bad_security_token"},
		"CRLF in the session token":              {withSessionToken(mint(op.URL), "FwoG\r\nX-Evil: 1"), "bad_security_token"},
		"another endpoint":                       {mint("https://relay.example.net"), "wrong_audience"},
		"retired contract":                       {"cortex-aws-v1." + strings.TrimPrefix(mint(op.URL), identity.TokenPrefix), "old_token_version"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := call(t, c, "GET", op.URL+"/v1/info", tc.token, nil)
			if a.status != 401 || a.code != operator.CodeUnauthenticated {
				t.Fatalf("got %d %q, want 401 unauthenticated", a.status, a.code)
			}
			if !strings.Contains(op.Log.String(), `"reason":"`+tc.reason+`"`) {
				t.Fatalf("audit log lacks reason %s", tc.reason)
			}
		})
	}
	if strings.Contains(op.Log.String(), "identity provider unavailable") {
		t.Fatal("a malformed token was logged as an identity provider outage")
	}
	if op.STSCalls() != 0 {
		t.Fatalf("malformed tokens reached STS %d times", op.STSCalls())
	}
	// They count against the client: the failure limiter answers 429 soon after.
	var last answer
	for i := 0; i < 40; i++ {
		if last = call(t, c, "GET", op.URL+"/v1/info", cases["another endpoint"].token, nil); last.status == 429 {
			break
		}
	}
	if last.status != 429 {
		t.Fatalf("repeated malformed tokens were not rate limited: last status %d", last.status)
	}
}
