package operator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
)

// BenchmarkTokenReview measures one webhook review over TLS on loopback (one keep-alive
// connection, as the API server holds), with the token's verification cached: what a kubectl
// request costs the operator after the token's first review. The STS stand-in is a fake because
// the benchmark measures the operator, not moto; the tests verify against moto.
func BenchmarkTokenReview(b *testing.B) {
	fakeSTS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA1</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
	}))
	b.Cleanup(fakeSTS.Close)
	const kube = "https://127.0.0.1:6443"
	caFile, clientCert := certtest.ClientCAFile(b)
	s, err := New(Config{StateDir: b.TempDir(), STSTestEndpoint: fakeSTS.URL, AccountID: "123456789012", Listen: "127.0.0.1:8888",
		KubernetesAPIServers: []string{kube}, KubernetesWebhookClientCAFile: caFile, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = s.TLSConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}}}
	tok, err := identity.Mint(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE00000000", SecretAccessKey: "s"},
		identity.MintInput{Endpoint: identity.STSEndpoint{Scheme: "http", Host: strings.TrimPrefix(fakeSTS.URL, "http://"), Region: "us-east-1"},
			ClusterID: s.Cluster().ID, Audience: kube, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(authnv1.TokenReview{TypeMeta: metaTokenReview, Spec: authnv1.TokenReviewSpec{Token: tok}})
	review := func() {
		resp, err := client.Post(srv.URL+TokenReviewPath, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var out authnv1.TokenReview
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || !out.Status.Authenticated {
			b.Fatalf("review: %v %+v", err, out.Status)
		}
	}
	review() // the one STS call
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		review()
	}
}

var metaTokenReview = metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}
