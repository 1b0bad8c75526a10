package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerifyCached measures the operator's per-request cost for a token it has already
// verified (the common case: clients reuse a token for minutes).
func BenchmarkVerifyCached(b *testing.B) {
	srv := httptest.NewServer(stsAnswer(200, "text/xml", stsOK))
	defer srv.Close()
	hosts, _ := TestEndpointHosts(srv.URL, "")
	v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "c"})
	tok, _ := Mint(context.Background(), testCreds, MintInput{Endpoint: hosts[strings.TrimPrefix(srv.URL, "http://")], ClusterID: "c", Audience: testAudience, Now: time.Now()})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrecheckReject measures how cheaply a hostile token is refused.
func BenchmarkPrecheckReject(b *testing.B) {
	hosts, _ := PartitionHosts(PartitionAWS)
	v, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{testAudience}, ClusterID: "c", HTTPClient: &http.Client{Transport: &failTransport{}}})
	tok := encodeRaw(`{"host":"sts.amazonaws.com.evil","date":"20261122T120000Z","authorization":"AWS4-HMAC-SHA256 x"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(context.Background(), tok); err == nil {
			b.Fatal("accepted")
		}
	}
}
