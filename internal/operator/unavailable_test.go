package operator_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// Found by the red team: a verification that ends in "identity provider unavailable" (STS
// throttling, 5xx) is not counted by the failure limiter (it is not the client's fault), so while
// STS throttled, one address could send forged tokens without end, each one an STS call keeping
// the throttling going. Now the verifier backs off: for identity.STSBackoff after STS could not
// answer, tokens that are not cached get 503 without an STS call.
func TestSTSThrottlingIsNotKeptUpByForgedTokens(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	// A stand-in for a throttling STS (FAKE: moto cannot throttle): it answers the AWS throttling
	// error to every call, and counts them.
	var calls atomic.Int64
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`)
	}))
	defer sts.Close()
	op := opserver.Start(t, operator.Config{STSTestEndpoint: sts.URL, AccountID: "123456789012", CreatorARN: alice.ARN, AuthMode: "rules"})
	c := httpsClient(t, op.CAFile)
	hosts, err := identity.TestEndpointHosts(sts.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	good, err := identity.Mint(t.Context(), alice.Creds, identity.MintInput{Endpoint: hosts[strings.TrimPrefix(sts.URL, "http://")],
		ClusterID: op.Cluster().ID, Audience: op.URL, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, identity.TokenPrefix))
	var tok identity.Token
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(tok.Authorization, "Signature=") + len("Signature=")
	statuses := map[int]int{}
	for k := 0; k < 100; k++ {
		forged := tok
		forged.Authorization = tok.Authorization[:i] + fmt.Sprintf("%08x", k) + tok.Authorization[i+8:]
		s, _ := forged.Encode()
		a := call(t, c, http.MethodGet, op.URL+"/v1/apis", s, nil)
		statuses[a.status]++
	}
	t.Logf("answers %v, STS calls %d", statuses, calls.Load())
	if calls.Load() > 25 {
		t.Fatalf("100 forged tokens from one address during STS throttling made %d STS calls (answers %v); the limiter stops bad tokens at ~20 otherwise", calls.Load(), statuses)
	}
}
