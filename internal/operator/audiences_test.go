package operator

import (
	"strings"
	"testing"
)

// Found by the red team: the gateway's audiences (apis.public_endpoints) were not checked against
// the operator's public_endpoints nor against kubernetes_api_servers, so a configuration that
// reused a name started without a word, and one token then opened the operator, the APIs and
// Kubernetes. Now every pair of the three lists must be disjoint, or the operator refuses to start.
func TestAudiencesOfOperatorGatewayAndKubernetesAreDisjoint(t *testing.T) {
	const op, gw, kube = "https://cortex.example.com:443", "https://apis.example.com:443", "https://k8s.example.com:6443"
	for _, tc := range []struct {
		name              string
		public, apis, k8s []string
		err               string
	}{
		{"disjoint", []string{op}, []string{gw}, []string{kube}, ""},
		{"gateway reuses the operator's name", []string{op}, []string{gw, op}, []string{kube}, "apis.public_endpoints (the gateway's): https://cortex.example.com:443 is also one of public_endpoints"},
		{"gateway lists the API server", []string{op}, []string{kube}, []string{kube}, "kubernetes_api_servers: https://k8s.example.com:6443 is also one of apis.public_endpoints"},
		{"operator lists the API server", []string{op, kube}, []string{gw}, []string{kube}, "is also one of public_endpoints"},
		{"same name after normalization", []string{"https://Cortex.example.com"}, []string{"https://cortex.example.com:443/"}, nil, "is also one of public_endpoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{StateDir: t.TempDir(), PublicEndpoints: tc.public, KubernetesAPIServers: tc.k8s}
			if len(tc.k8s) > 0 {
				c.KubernetesWebhookClientCAFile = "client-ca.pem" // only checked when the server starts
			}
			c.APIs.PublicEndpoints = tc.apis
			err := c.setDefaults()
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	// The gateway's default endpoints (loopback at its port) are checked when it starts.
	if err := checkAudiencesDisjoint((&Config{PublicEndpoints: []string{"https://127.0.0.1:8888"}}).audienceSets([]string{"https://127.0.0.1:8888"})...); err == nil {
		t.Fatal("a gateway default equal to an operator endpoint was accepted")
	}
}
