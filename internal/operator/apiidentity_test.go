package operator

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// With kubernetes.eks_pod_identity the operator binds APIs with its own AWS credentials (the
// SDK's default chain; here keys and AWS_ENDPOINT_URL in the environment) on the EKS cluster of its
// configuration: cluster_name, region, account_id, the cluster's role prefix.
func TestAPIIdentitiesUseTheOperatorsCredentials(t *testing.T) {
	motoserver.SkipIfShort(t)
	moto := motoserver.Start(t, motoserver.Options{})
	fake := eksfake.Start(t, eksfake.Options{Upstream: moto.URL}) // IAM goes on to moto
	fake.AddCluster("prod", eksfake.ModeAPIAndConfigMap)
	t.Setenv("AWS_ENDPOINT_URL", fake.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")

	s := &Server{cfg: Config{ClusterName: "prod", Region: "us-west-2", AccountID: "123456789012", Partition: "aws",
		Kubernetes: KubernetesConfig{APIsNamespace: "cortex-apis", EKSPodIdentity: true, APIIAM: apiidentity.Allowed{
			RoleARNs: []string{"arn:aws:iam::123456789012:role/team", "arn:aws:iam::123456789012:role/" + clusterconfig.RolePrefix("prod", "us-west-2") + "-api-echo"}}}}}
	ctx := context.Background()
	b, err := s.apiIdentities(ctx)
	if err != nil || b == nil {
		t.Fatalf("binder %v, %v", b, err)
	}
	role, err := b.Bind(ctx, apiidentity.Request{API: "echo", ServiceAccount: "echo", RoleARN: "arn:aws:iam::123456789012:role/team"})
	if err != nil {
		t.Fatal(err)
	}
	c := eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL)})
	l, err := c.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("prod"), Namespace: aws.String("cortex-apis")})
	if err != nil || len(l.Associations) != 1 || aws.ToString(l.Associations[0].ServiceAccount) != "echo" {
		t.Fatalf("associations %+v %v (role %s)", l, err, role)
	}
	// A role named under the cluster's prefix is refused: the binder knows the prefix.
	if _, err := b.Bind(ctx, apiidentity.Request{API: "x", ServiceAccount: "x",
		RoleARN: "arn:aws:iam::123456789012:role/" + clusterconfig.RolePrefix("prod", "us-west-2") + "-api-echo"}); err == nil {
		t.Error("the binder does not know the cluster's role prefix")
	}

	// The binder has the operator's allowlist: a role outside it is refused.
	if _, err := b.Bind(ctx, apiidentity.Request{API: "y", ServiceAccount: "y", RoleARN: "arn:aws:iam::123456789012:role/admin"}); err == nil ||
		!strings.Contains(err.Error(), "kubernetes.api_iam.allowed_role_arns") {
		t.Errorf("a role outside kubernetes.api_iam: %v", err)
	}

	// Off: no binder, the kube backend refuses such APIs.
	s.cfg.Kubernetes.EKSPodIdentity = false
	if b, err := s.apiIdentities(ctx); err != nil || b != nil {
		t.Errorf("without eks_pod_identity: %v %v", b, err)
	}
}
