package kubeconfig

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

func awsConfig(url string) aws.Config {
	return aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
}

// TestEKSKubeconfigFromDescribeCluster: for an AWS environment the kubeconfig's server and CA are
// DescribeCluster's (moto, through the EKS fake as cluster up reaches it) and its user is the
// EKS-mode token plugin for the cluster's name.
func TestEKSKubeconfigFromDescribeCluster(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{})
	fake := eksfake.Start(t, eksfake.Options{Upstream: moto.URL})
	ctx := context.Background()
	out, err := eks.NewFromConfig(awsConfig(fake.URL)).CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("ml-eks"),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1", "subnet-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := aws.ToString(out.Cluster.Endpoint)
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(out.Cluster.CertificateAuthority.Data))
	if err != nil || endpoint == "" {
		t.Fatalf("moto's cluster: endpoint %q, CA %q: %v", endpoint, ca, err)
	}

	awsEnv := cliconfig.Environment{Name: "aws-ml", Provider: "aws", OperatorEndpoint: "https://op.example.com", ClusterID: "c-1",
		Auth: cliconfig.AuthAWS, ClusterName: "ml-eks", Region: "us-west-2"}
	otherRegion := awsEnv
	otherRegion.Region = "eu-west-1"
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		env      cliconfig.Environment
		set      func(*Options)
		wantArgs []string
		wantErr  string
	}{
		{"the environment's cluster", awsEnv, func(*Options) {},
			[]string{"--env", "aws-ml", "cluster", "token", "--eks-cluster", "ml-eks", "--region", "us-west-2"}, ""},
		{"--eks-cluster and --region", prod, func(o *Options) { o.EKSCluster, o.Region = "ml-eks", "us-west-2" },
			[]string{"--env", "prod", "cluster", "token", "--eks-cluster", "ml-eks", "--region", "us-west-2"}, ""},
		{"--eks-cluster without a region", prod, func(o *Options) { o.EKSCluster = "ml-eks" }, nil, "--region"},
		{"a cluster EKS does not have", awsEnv, func(o *Options) { o.EKSCluster = "nope" }, nil, "describe EKS cluster nope"},
		{"the cluster in another region", otherRegion, func(*Options) {}, nil, "describe EKS cluster ml-eks in eu-west-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t, tc.env)
			o.AWSConfig = func(context.Context, *cliconfig.Environment) (aws.Config, error) { return awsConfig(fake.URL), nil }
			o.Output = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			tc.set(o)
			err := run(ctx, o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if _, err := os.Stat(o.Output); !os.IsNotExist(err) {
					t.Fatalf("a kubeconfig was written: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(o.Output); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, %v", fi.Mode(), err)
			}
			kc, err := clientcmd.LoadFromFile(o.Output)
			if err != nil {
				t.Fatal(err)
			}
			kctx := kc.Contexts[kc.CurrentContext]
			c, user := kc.Clusters[kctx.Cluster], kc.AuthInfos[kctx.AuthInfo]
			for _, f := range []struct {
				field     string
				got, want any
			}{
				{"server", c.Server, endpoint},
				{"certificate-authority-data", string(c.CertificateAuthorityData), string(ca)},
				{"insecure-skip-tls-verify", c.InsecureSkipTLSVerify, false},
				{"exec command", user.Exec.Command, "/opt/cortex/bin/cortex"},
				{"exec args", user.Exec.Args, tc.wantArgs},
				{"exec apiVersion", user.Exec.APIVersion, "client.authentication.k8s.io/v1"},
				{"static token", user.Token, ""},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.field, f.got, f.want)
				}
			}
		})
	}
}
