package operator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// kubeAPIServer is the audience of the webhook's tokens in these tests: the API server's URL as
// kubectl dials it. Nothing listens there; it is only what the token is bound to.
const kubeAPIServer = "https://127.0.0.1:6443"

func mintWith(t *testing.T, moto *motoserver.Server, creds aws.Credentials, clusterID, audience string) string {
	t.Helper()
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.Mint(context.Background(), creds, identity.MintInput{Endpoint: hosts[moto.Host], ClusterID: clusterID,
		Audience: audience, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// review posts a TokenReview as the API server would and returns the HTTP status and the review.
func review(t *testing.T, c *http.Client, op *opserver.Operator, apiVersion, token string) (int, authnv1.TokenReview) {
	t.Helper()
	body, _ := json.Marshal(authnv1.TokenReview{TypeMeta: metaTR(apiVersion), Spec: authnv1.TokenReviewSpec{Token: token,
		Audiences: []string{"https://kubernetes.default.svc.cluster.local"}}})
	resp, err := c.Post(op.URL+operator.TokenReviewPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out authnv1.TokenReview
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestTokenReviewWebhook(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice") // creator: admin
	rita := awstest.CreateUser(t, admin, "rita")   // read
	dave := awstest.CreateUser(t, admin, "dave")   // deploy
	ursula := awstest.CreateUser(t, admin, "ursula")
	caFile, clientCert := certtest.ClientCAFile(t)
	op := opserver.Start(t, operator.Config{STSTestEndpoint: moto.URL, AccountID: "123456789012", CreatorARN: alice.ARN,
		AuthMode: "rules", KubernetesAPIServers: []string{kubeAPIServer}, KubernetesWebhookClientCAFile: caFile})
	c := httpsClient(t, op.CAFile)
	c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{clientCert} // as the API server
	id := op.Cluster().ID
	kubeTok := func(u awstest.User) string { return mintWith(t, moto, u.Creds, id, kubeAPIServer) }
	for _, g := range []struct {
		u    awstest.User
		role string
	}{{rita, "read"}, {dave, "deploy"}} {
		body := strings.NewReader(`{"principal":"` + g.u.ARN + `","role":"` + g.role + `"}`)
		if a := call(t, c, http.MethodPut, op.URL+"/v1/access", mintWith(t, moto, alice.Creds, id, op.URL), body); a.status != 200 {
			t.Fatalf("grant %s: %d %v", g.role, a.status, a.body)
		}
	}

	allowed := []struct {
		name   string
		user   awstest.User
		groups []string
	}{
		{"read", rita, []string{"cortex:read"}},
		{"deploy", dave, []string{"cortex:read", "cortex:deploy"}},
		{"admin (creator)", alice, []string{"cortex:read", "cortex:deploy", "cortex:admin"}},
	}
	for _, tc := range allowed {
		t.Run(tc.name, func(t *testing.T) {
			status, r := review(t, c, op, "authentication.k8s.io/v1", kubeTok(tc.user))
			if status != 200 || !r.Status.Authenticated || r.Status.Error != "" {
				t.Fatalf("status %d, review %+v", status, r.Status)
			}
			u := r.Status.User
			if u.Username != tc.user.ARN || !reflect.DeepEqual(u.Groups, tc.groups) || u.UID == "" ||
				!reflect.DeepEqual([]string(u.Extra[operator.ExtraARN]), []string{tc.user.ARN}) {
				t.Fatalf("user %+v", u)
			}
			if r.APIVersion != "authentication.k8s.io/v1" || r.Kind != "TokenReview" {
				t.Fatalf("answered %s %s", r.APIVersion, r.Kind)
			}
		})
	}
	t.Run("v1beta1 is answered in v1beta1", func(t *testing.T) {
		status, r := review(t, c, op, "authentication.k8s.io/v1beta1", kubeTok(rita))
		if status != 200 || !r.Status.Authenticated || r.APIVersion != "authentication.k8s.io/v1beta1" {
			t.Fatalf("status %d, %s %+v", status, r.APIVersion, r.Status)
		}
	})

	refused := []struct {
		name, token, reason string
	}{
		{"no token", "", "no_token"},
		{"malformed", "cortex-aws-v2.!!!", "bad_encoding"},
		{"not a cortex token", "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8", "bad_prefix"},
		{"another cluster id", mintWith(t, moto, rita.Creds, "another-cluster", kubeAPIServer), "sts_rejected"},
		{"audience: the operator's own endpoint", mintWith(t, moto, rita.Creds, id, op.URL), "wrong_audience"},
		{"audience: another API server", mintWith(t, moto, rita.Creds, id, "https://127.0.0.1:6444"), "wrong_audience"},
		{"unmapped identity", kubeTok(ursula), "no_rule"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			status, r := review(t, c, op, "authentication.k8s.io/v1", tc.token)
			if status != 200 || r.Status.Authenticated || r.Status.User.Username != "" || len(r.Status.User.Groups) != 0 || r.Status.Error == "" {
				t.Fatalf("status %d, review %+v", status, r.Status)
			}
			if n := auditLines(op.Log.String(), tc.reason); n == 0 {
				t.Fatalf("no audit line with reason %s:\n%s", tc.reason, op.Log.String())
			}
		})
	}

	t.Run("the operator's API refuses a token for the API server", func(t *testing.T) {
		a := call(t, c, http.MethodGet, op.URL+"/v1/info", kubeTok(rita), nil)
		if a.status != http.StatusUnauthorized {
			t.Fatalf("GET /v1/info with a Kubernetes token: %d %v", a.status, a.body)
		}
	})

	t.Run("revoke changes the answer at once", func(t *testing.T) {
		if a := call(t, c, http.MethodDelete, op.URL+"/v1/access?principal="+rita.ARN, mintWith(t, moto, alice.Creds, id, op.URL), nil); a.status != 200 {
			t.Fatalf("revoke: %d %v", a.status, a.body)
		}
		_, r := review(t, c, op, "authentication.k8s.io/v1", kubeTok(rita))
		if r.Status.Authenticated {
			t.Fatalf("revoked identity still authenticated: %+v", r.Status)
		}
		// The webhook's client is always the API server: a second identity denied for the same
		// reason (ursula was first, above) still gets its own audit line.
		if !webhookLine(op.Log.String(), rita.ARN, "no_rule") {
			t.Fatalf("no audit line for the revoked %s:\n%s", rita.ARN, op.Log.String())
		}
	})

	t.Run("not a TokenReview", func(t *testing.T) {
		for _, body := range []string{`{"apiVersion":"v1","kind":"Pod"}`, `not json`, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest"}`} {
			resp, err := c.Post(op.URL+operator.TokenReviewPath, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d", body, resp.StatusCode)
			}
		}
	})

	t.Run("the audit log names the ARN, never the token", func(t *testing.T) {
		tok := kubeTok(dave)
		review(t, c, op, "authentication.k8s.io/v1", tok)
		log := op.Log.String()
		payload := strings.TrimPrefix(tok, identity.TokenPrefix)
		if strings.Contains(log, payload[:40]) || strings.Contains(log, dave.Creds.SecretAccessKey) {
			t.Fatal("the log holds a token or a secret")
		}
		found := false
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, operator.TokenReviewPath) && strings.Contains(l, `"arn":"`+dave.ARN+`"`) && strings.Contains(l, `"decision":"allow"`) {
				found = true
			}
		}
		if !found {
			t.Fatalf("no allow line for %s", dave.ARN)
		}
	})
}

func metaTR(apiVersion string) (m metav1.TypeMeta) {
	m.APIVersion, m.Kind = apiVersion, "TokenReview"
	return m
}

func TestTokenReviewWebhookOffByDefault(t *testing.T) {
	op := opserver.Start(t, operator.Config{STSTestEndpoint: closedPort(t)})
	resp, err := httpsClient(t, op.CAFile).Post(op.URL+operator.TokenReviewPath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("webhook answered %d without kubernetes_api_servers", resp.StatusCode)
	}
}

func TestKubernetesAPIServersMustNotBePublicEndpoints(t *testing.T) {
	_, err := operator.New(operator.Config{StateDir: t.TempDir(), STSTestEndpoint: "http://127.0.0.1:1",
		PublicEndpoints: []string{"https://op.example.com"}, KubernetesAPIServers: []string{"https://OP.example.com:443/"}})
	if err == nil || !strings.Contains(err.Error(), "kubernetes_api_servers") {
		t.Fatalf("overlapping audiences accepted: %v", err)
	}
}

// TestTokenReviewClientCertificate: with kubernetes_webhook_client_ca_file, the webhook answers
// only a caller presenting a certificate of that CA; the rest of the API does not ask for one.
func TestTokenReviewClientCertificate(t *testing.T) {
	dir := t.TempDir()
	caPEM, clientCert := certtest.ClientCA(t)
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	op := opserver.Start(t, operator.Config{STSTestEndpoint: closedPort(t), KubernetesAPIServers: []string{kubeAPIServer},
		KubernetesWebhookClientCAFile: caFile})
	plain := httpsClient(t, op.CAFile)
	status, _ := review(t, plain, op, "authentication.k8s.io/v1", "cortex-aws-v2.x")
	if status != http.StatusUnauthorized {
		t.Fatalf("without a client certificate: %d", status)
	}
	if a := call(t, plain, http.MethodGet, op.URL+"/healthz", "", nil); a.status != 200 {
		t.Fatalf("healthz without a client certificate: %d", a.status)
	}
	withCert := httpsClient(t, op.CAFile)
	withCert.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{clientCert}
	status, r := review(t, withCert, op, "authentication.k8s.io/v1", "cortex-aws-v2.x")
	if status != http.StatusOK || r.Status.Authenticated {
		t.Fatalf("with a client certificate: %d %+v", status, r.Status)
	}
}

func webhookLine(log, arn, reason string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, operator.TokenReviewPath) && strings.Contains(l, `"arn":"`+arn+`"`) && strings.Contains(l, `"reason":"`+reason+`"`) {
			return true
		}
	}
	return false
}
