package client

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
)

// An API's replica chooses its answers, redirects included, and the gateway strips the caller's
// Authorization before the replica sees it. A client that followed a redirect would send that
// credential (an API key, or an identity token valid at the gateway) on to wherever the replica
// points: Go keeps Authorization for the same host name on another port and for any subdomain,
// which with a public endpoint is any name under api_domain with a public certificate. So
// CallAPI never follows a redirect (the Python client's allow_redirects=False): the 3xx is the
// answer.
func TestCallAPIDoesNotFollowRedirects(t *testing.T) {
	cluster, public := newTestCA(t, "cluster"), newTestCA(t, "public")
	for _, tc := range []struct {
		name, endpointTLS string
		ca                *testCA
	}{
		{"public endpoint", apitypes.EndpointTLSPublic, public},
		{"cluster-CA endpoint", "", cluster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaked := make(chan string, 1)
			// Same host name (127.0.0.1), another port: Go would carry Authorization there.
			elsewhere := tc.ca.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case leaked <- r.Header.Get("Authorization"):
				default:
				}
			}))
			gw := tc.ca.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
			}))
			c, err := New(Options{Endpoint: "https://operator.example.com", CAPEM: cluster.pem, SystemRoots: public.pool()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			resp, err := c.CallAPI(context.Background(), http.MethodPost, gw.URL+"/echo", "application/json", strings.NewReader(`{}`),
				APICredentials{Auth: APIAuthAPIKey, APIKey: "cxk_secret", EndpointTLS: tc.endpointTLS})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			select {
			case got := <-leaked:
				t.Fatalf("the client followed the API's redirect to %s and sent Authorization %q there", elsewhere.URL, got)
			default:
			}
			if resp.StatusCode != http.StatusTemporaryRedirect {
				t.Errorf("status %d, want the redirect itself (307)", resp.StatusCode)
			}
		})
	}
}
