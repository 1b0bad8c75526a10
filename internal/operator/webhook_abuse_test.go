package operator_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// Found by the red team: the TokenReview webhook has no failure limiter (its one legitimate
// caller is the API server), and its client certificate was optional, so anyone who could reach
// the operator could make it call STS once per forged token, without bound, and STS throttling
// then hit every caller. Now the webhook requires the API server's client certificate: the
// operator refuses to start without kubernetes_webhook_client_ca_file, and forged tokens from a
// caller without the certificate never reach STS.
func TestTokenReviewWebhookNeedsTheAPIServersCertificate(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	// A real reverse proxy in front of moto, only to count what reaches STS.
	var stsCalls atomic.Int64
	target, _ := url.Parse(moto.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stsCalls.Add(1)
		rp.ServeHTTP(w, r)
	}))
	defer counter.Close()
	if _, err := operator.New(operator.Config{StateDir: t.TempDir(), STSTestEndpoint: counter.URL, KubernetesAPIServers: []string{kubeAPIServer}}); err == nil ||
		!strings.Contains(err.Error(), "kubernetes_webhook_client_ca_file") {
		t.Fatalf("the webhook was configured without a client CA: %v", err)
	}
	caFile, _ := certtest.ClientCAFile(t)
	op := opserver.Start(t, operator.Config{STSTestEndpoint: counter.URL, AccountID: "123456789012", CreatorARN: alice.ARN,
		AuthMode: "rules", KubernetesAPIServers: []string{kubeAPIServer}, KubernetesWebhookClientCAFile: caFile})
	c := httpsClient(t, op.CAFile)
	hosts, err := identity.TestEndpointHosts(counter.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	good, err := identity.Mint(t.Context(), alice.Creds, identity.MintInput{Endpoint: hosts[strings.TrimPrefix(counter.URL, "http://")],
		ClusterID: op.Cluster().ID, Audience: kubeAPIServer, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, identity.TokenPrefix))
	var tok identity.Token
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(tok.Authorization, "Signature=") + len("Signature=")
	const n = 100
	for k := 0; k < n; k++ {
		forged := tok
		forged.Authorization = tok.Authorization[:i] + fmt.Sprintf("%08x", k) + tok.Authorization[i+8:]
		s, err := forged.Encode()
		if err != nil {
			t.Fatal(err)
		}
		status, r := review(t, c, op, "authentication.k8s.io/v1", s) // no client certificate, no credential
		if status == http.StatusTooManyRequests {
			break
		}
		if k < 2 {
			t.Logf("status %d %+v", status, r.Status)
		}
		if r.Status.Authenticated || status != http.StatusUnauthorized {
			t.Fatalf("forged token %d from a caller without the certificate: %d %+v", k, status, r.Status)
		}
	}
	t.Logf("sts calls: %d", stsCalls.Load())
	if got := stsCalls.Load(); got != 0 {
		t.Fatalf("%d forged tokens from a caller without the API server's certificate made %d STS calls", n, got)
	}
}
