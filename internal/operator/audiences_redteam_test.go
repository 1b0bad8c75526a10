package operator

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// Red team: apis.public_endpoints (the gateway's audiences) is never checked against the
// operator's public_endpoints nor against kubernetes_api_servers (checkAudiencesDisjoint only
// compares the last two). A configuration that reuses a name (one load balancer name for operator
// and gateway, or a Kubernetes API server URL pasted into the gateway's list) starts without a
// word, and then one token opens the operator, the APIs and Kubernetes: a token kubectl hands to
// the Kubernetes API server (or any API's caller hands to the gateway) is good at the operator.
func TestRedteamGatewayAudiencesOverlapOperatorAndKubernetes(t *testing.T) {
	t.Skip("redteam: reproduces gateway audiences overlapping the operator's and Kubernetes' audiences; unskip when fixed")
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	const shared = "https://cortex.example.com:443"
	const kube = "https://k8s.example.com:6443"
	f := startAPIOperator(t, filepath.Join(t.TempDir(), "state"), func(c *Config) {
		c.STSTestEndpoint = moto.URL
		c.AccountID = "123456789012"
		c.AccountRole = "read"
		c.PublicEndpoints = []string{shared}
		c.KubernetesAPIServers = []string{kube}
		c.APIs.PublicEndpoints = []string{shared, kube}
	})
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	_, authBody := f.do(t, "GET", "/v1/auth", "", "")
	var params AuthParams
	if err := json.Unmarshal(authBody, &params); err != nil {
		t.Fatal(err)
	}
	mint := func(audience string) string {
		tok, err := identity.Mint(context.Background(), alice.Creds, identity.MintInput{Endpoint: hosts[moto.Host],
			ClusterID: params.ClusterID, Audience: audience, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if code, body := f.do(t, "POST", "/v1/apis", `{"apis":[`+authSpec(t, "readers", "")+`]}`, f.token); code != 200 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	f.waitLive(t, "readers", 1)
	gatewayTok, kubeTok := mint(shared), mint(kube)
	opCode, _ := f.do(t, "GET", "/v1/apis", "", gatewayTok)
	gwCode, _, _ := f.gatewayCall(t, "/readers", withBearer(kubeTok))
	t.Logf("token for the gateway at the operator: %d; token for Kubernetes at the gateway: %d", opCode, gwCode)
	if opCode == 200 || gwCode == 200 {
		t.Fatalf("the operator started with overlapping audiences, and tokens cross: operator %d, gateway %d (want a startup error)", opCode, gwCode)
	}
}
