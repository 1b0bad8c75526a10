package identity

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

var update = flag.Bool("update", false, "rewrite testdata/token_vectors.json from the Go minter")

// The shared vectors pin the wire format: the Python client's tests mint the same inputs and
// must produce these exact tokens.
const vectorsPath = "../../testdata/token_vectors.json"

type vector struct {
	Name            string `json:"name"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Host            string `json:"host"`
	Region          string `json:"region"`
	ClusterID       string `json:"cluster_id"`
	Audience        string `json:"audience"`
	Time            string `json:"time"`
	Token           string `json:"token"`
}

func vectorInputs() []vector {
	return []vector{
		{Name: "long-term credentials, regional host", AccessKeyID: "AKIDEXAMPLE00000000", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
			Host: "sts.us-west-2.amazonaws.com", Region: "us-west-2", ClusterID: "c7f3a9e1d2b4", Audience: "https://operator.example.com:443", Time: "2026-01-02T03:04:05Z"},
		{Name: "session credentials, global host", AccessKeyID: "ASIAEXAMPLE000000000", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
			SessionToken: "IQoJb3JpZ2luX2VjEXAMPLE+/=session/token==", Host: "sts.amazonaws.com", Region: "us-east-1",
			ClusterID: "0123456789abcdef", Audience: "https://127.0.0.1:8888", Time: "2026-11-22T23:59:59Z"},
		{Name: "china partition", AccessKeyID: "AKIDEXAMPLECN0000000", SecretAccessKey: "cnSecretKeyEXAMPLE/abc+def",
			Host: "sts.cn-north-1.amazonaws.com.cn", Region: "cn-north-1", ClusterID: "cn-cluster-1", Audience: "https://[2001:db8::1]:9443", Time: "2026-06-30T12:00:00Z"},
	}
}

func mintVector(t *testing.T, v vector) string {
	t.Helper()
	now, err := time.Parse(time.RFC3339, v.Time)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint(context.Background(), aws.Credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken},
		MintInput{Endpoint: STSEndpoint{Scheme: "https", Host: v.Host, Region: v.Region}, ClusterID: v.ClusterID, Audience: v.Audience, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenVectors(t *testing.T) {
	if *update {
		var out struct {
			Vectors []vector `json:"vectors"`
		}
		for _, v := range vectorInputs() {
			v.Token = mintVector(t, v)
			out.Vectors = append(out.Vectors, v)
		}
		data, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(filepath.Clean(vectorsPath), append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Vectors) != len(vectorInputs()) {
		t.Fatalf("%d vectors in file, want %d", len(in.Vectors), len(vectorInputs()))
	}
	for _, v := range in.Vectors {
		if got := mintVector(t, v); got != v.Token {
			t.Errorf("%s: minted\n%s\nwant\n%s", v.Name, got, v.Token)
		}
		// The vector's token must also pass every pre-network check at its own time.
		now, _ := time.Parse(time.RFC3339, v.Time)
		hosts := HostTable{v.Host: {Scheme: "https", Host: v.Host, Region: v.Region}}
		ver, _ := NewVerifier(VerifierConfig{Hosts: hosts, Audiences: []string{v.Audience}, ClusterID: v.ClusterID, Now: func() time.Time { return now }})
		if _, _, err := ver.precheck(v.Token, now); err != nil {
			t.Errorf("%s: precheck: %v", v.Name, err)
		}
	}
}
