package aws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/kube/ekstoken"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// The default EKS client: it trusts only the CA DescribeCluster gave, and every request carries an
// EKS token for the cluster, minted again only when the old one nears its replacement time.
func TestEKSClientSendsEKSTokens(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Namespace", "apiVersion": "v1", "metadata": map[string]any{"name": "cortex"}})
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	e := EKSEndpoint{ClusterName: "tok-test", URL: srv.URL, CA: ca, Region: "us-west-2", Partition: "aws",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")}
	c, err := NewEKSClient(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.CoreV1().Namespaces().Get(context.Background(), "cortex", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(auths) != 2 || auths[0] != auths[1] {
		t.Fatalf("two requests within the token's life carried %d different tokens", len(auths))
	}
	tok := strings.TrimPrefix(auths[0], "Bearer ")
	if !strings.HasPrefix(tok, ekstoken.Prefix) {
		t.Fatalf("Authorization %.40q is not an EKS token", auths[0])
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, ekstoken.Prefix))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil || u.Host != "sts.us-west-2.amazonaws.com" || !strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), ekstoken.ClusterHeader) {
		t.Fatalf("token URL %s: want STS of us-west-2 with %s signed", raw, ekstoken.ClusterHeader)
	}

	// Another CA than the server's: refused (only DescribeCluster's CA is trusted).
	otherCA, err := install.NewTLS("x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.CA = otherCA.CACert
	c2, err := NewEKSClient(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CoreV1().Namespaces().Get(context.Background(), "cortex", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server whose certificate is not of the CA: %v", err)
	}
	if len(auths) != 2 {
		t.Fatalf("the server with the wrong CA got a request (and a token)")
	}

	// A token is minted again a minute before it should be replaced.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &eksTokenSource{e: e, now: func() time.Time { return now }}
	first, err := src.token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(ekstoken.Lifetime - 2*time.Minute)
	if again, _ := src.token(context.Background()); again != first {
		t.Error("minted again before it was due")
	}
	now = now.Add(90 * time.Second)
	if again, _ := src.token(context.Background()); again == first {
		t.Error("the old token was kept past its replacement time")
	}
}
