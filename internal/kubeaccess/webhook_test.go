package kubeaccess_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

const ns = "cortex-apis"

// TestAccessEntriesMapIdentitiesInTheAPIServer is EKS's authentication by access entries, with
// stand-ins for what only EKS has: the real API server asks the operator's TokenReview webhook
// (IAM identities verified against moto's STS, auth on), whose user lookup reads the identity's
// access entry from the EKS fake, as EKS's authenticator maps an identity by its entry. The
// identity has no operator rule at all: its groups, and so its RBAC answer from the cortex Roles,
// come from the entry that kubeaccess (cortex cluster access grant) wrote. (EKS's access policies
// are EKS's own authorizer and are not modelled: RBAC answers by the groups.)
func TestAccessEntriesMapIdentitiesInTheAPIServer(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice") // the operator's creator
	rita := awstest.CreateUser(t, admin, "rita")   // no operator rule; an access entry only
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster("ml", eksfake.ModeAPIAndConfigMap)
	eksc := eks.NewFromConfig(aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}})
	entries := &kubeaccess.AccessEntries{EKS: eksc, Cluster: "ml", Namespaces: []string{ns}}
	lookup := func(ctx context.Context, id *identity.Identity) (string, []string, bool, error) {
		d, err := eksc.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("ml"), PrincipalArn: aws.String(id.CanonicalARN)})
		var nf *ekstypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return "", nil, false, nil
		}
		if err != nil {
			return "", nil, false, err
		}
		return aws.ToString(d.AccessEntry.Username), d.AccessEntry.KubernetesGroups, true, nil
	}

	work := t.TempDir()
	var op *opserver.Operator
	var apiServer string
	cluster := kubetest.StartWith(t, kubetest.Options{TokenWebhook: func(url string) (string, error) {
		apiServer = url
		caFile, certFile, keyFile := certtest.ClientCAFiles(t, work)
		op = opserver.Start(t, operator.Config{STSTestEndpoint: moto.URL, AccountID: "123456789012", CreatorARN: alice.ARN,
			AuthMode: "rules", KubernetesAPIServers: []string{url}, KubernetesWebhookClientCAFile: caFile, KubeUserLookup: lookup})
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["op"] = &clientcmdapi.Cluster{Server: op.URL + operator.TokenReviewPath, CertificateAuthority: op.CAFile}
		cfg.AuthInfos["apiserver"] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile}
		cfg.Contexts["w"] = &clientcmdapi.Context{Cluster: "op", AuthInfo: "apiserver"}
		cfg.CurrentContext = "w"
		file := filepath.Join(work, "webhook.kubeconfig")
		return file, clientcmd.WriteToFile(*cfg, file)
	}})
	cluster.Namespace(t, ns)
	ctx := context.Background()
	if err := rbac.Apply(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	hosts, err := identity.TestEndpointHosts(moto.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	// asRita is a client of the API server with a fresh token of rita's (no client certificate).
	asRita := func() kubernetes.Interface {
		tok, err := identity.Mint(ctx, rita.Creds, identity.MintInput{Endpoint: hosts[moto.Host], ClusterID: op.Cluster().ID, Audience: apiServer, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.AnonymousClientConfig(cluster.Config)
		cfg.BearerToken = tok
		return kubernetes.NewForConfigOrDie(cfg)
	}
	whoami := func() (*authnv1.UserInfo, error) {
		r, err := asRita().AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		return &r.Status.UserInfo, nil
	}
	can := func(verb, resource string) bool {
		r, err := asRita().AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: "apps", Resource: resource}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	// eventually polls cond until it holds, bounded (the API server may cache a review briefly).
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 30s: %s", what)
			}
		}
	}

	if _, err := whoami(); err == nil {
		t.Fatal("rita has no access entry yet and was authenticated")
	}
	if err := entries.Put(ctx, rita.ARN, access.RoleDeploy); err != nil {
		t.Fatal(err)
	}
	var who *authnv1.UserInfo
	eventually("rita authenticated by her access entry", func() bool { who, err = whoami(); return err == nil })
	if who.Username != rita.ARN || !slices.Equal(who.Groups, []string{rbac.GroupRead, rbac.GroupDeploy, "system:authenticated"}) {
		t.Fatalf("whoami: %+v", who)
	}
	if !can("list", "deployments") || !can("update", "deployments/scale") || can("create", "deployments") {
		t.Fatalf("deploy's RBAC: list %v, scale %v, create %v", can("list", "deployments"), can("update", "deployments/scale"), can("create", "deployments"))
	}
	if err := entries.Put(ctx, rita.ARN, access.RoleRead); err != nil {
		t.Fatal(err)
	}
	eventually("rita's groups follow the entry to read", func() bool { return !can("update", "deployments/scale") && can("list", "deployments") })
	// EKS failing to answer is never a pass: the webhook answers 503 and the API server 401.
	fake.FailNext("DescribeAccessEntry", 1000)
	// (A token of the same second may still be in the API server's cache of successes: poll.)
	eventually("refused while the access entry cannot be read", func() bool { _, err := whoami(); return err != nil })
	if !strings.Contains(op.Log.String(), `"reason":"lookup_failed"`) {
		t.Fatalf("no lookup_failed audit line:\n%s", op.Log.String())
	}
	fake.FailNext("DescribeAccessEntry", 0)
	if _, err := entries.Delete(ctx, rita.ARN); err != nil {
		t.Fatal(err)
	}
	eventually("rita refused once her entry is gone", func() bool { _, err := whoami(); return err != nil })
}
