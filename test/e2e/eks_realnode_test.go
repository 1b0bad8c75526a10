//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

const eksClusterName = "e2e-eks"

// TestEKSRealNode is `cortex cluster up` on AWS end to end with the real CLI, and then the
// environment it wrote used by IAM identities: `cortex whoami` answers through the operator's
// load balancer, from the operator running as a pod on a real kubelet node.
//
// The pieces, and what stands in for what (docs/testing.md "EKS end to end"):
//   - AWS is moto. Two of them: IAM and STS (where keys live and signatures are checked) on a
//     moto with authentication on, listening on the node's address so the operator pod reaches
//     it (AWS_ENDPOINT_URL_IAM/_STS of the CLI, the operator's --sts-test-endpoint); everything
//     else on a moto with authentication off (moto 5.2.5 refuses EKS's body-less REST calls with
//     it on), behind the EKS fake (AWS_ENDPOINT_URL).
//   - The EKS fake answers DescribeCluster with the test API server's endpoint and CA, so the
//     unmodified CLI builds its Kubernetes client from it, and makes the node group's Auto
//     Scaling group in moto as EKS would (eksfake.Options.KubeEndpoint, NodeGroupASGs).
//   - The API server authenticates the CLI's EKS token with eksAuthenticator, a FAKE of EKS's
//     authenticator that maps the identity by its access entry in the EKS fake (the creator's
//     bootstrapped cluster-admin entry: system:masters).
//   - The operator's AWS identity is cluster credentials (CLUSTER_AWS_*: a moto IAM user with
//     the operator's policy, installed as a Secret): EKS Pod Identity has no agent here.
//   - The load balancer is lbProxy, a FAKE of the NLB and of kube-proxy as an HTTPS proxy
//     (HTTPS_PROXY): it follows listener -> target group -> node port -> Service in moto and the
//     cluster. No server here is an NLB, and the node has no kube-proxy.
func TestEKSRealNode(t *testing.T) {
	// IAM and STS: authentication on, on the node's address (the operator pod verifies tokens
	// there). up attaches AWS managed policies to its roles: moto loads them only when asked.
	t.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	idp := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions, BindAddress: kubetest.RealNodeIP})
	admin := awstest.Bootstrap(t, idp)
	admin.Region = "us-west-2"
	adminPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	spinup := awstest.CreateUser(t, admin, "spinup")
	ctx := context.Background()
	iamc := iam.NewFromConfig(admin)
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("spinup"), PolicyName: aws.String("admin"), PolicyDocument: aws.String(adminPolicy)}); err != nil {
		t.Fatal(err)
	}
	alice := awstest.CreateUser(t, admin, "alice") // granted read, then revoked
	bob := awstest.CreateUser(t, admin, "bob")     // never granted
	opUser := awstest.CreateUser(t, admin, "cortex-operator")
	// Everything else: authentication off, behind the EKS fake.
	rest := motoserver.Start(t, motoserver.Options{})
	var fake *eksfake.Server
	restCfg := aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(rest.URL), HTTPClient: &http.Client{Timeout: 30 * time.Second},
		Credentials: awscreds.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "moto-auth-off", "")}
	authn := &eksAuthenticator{iam: iamc, cluster: eksClusterName, eks: func() *eks.Client {
		c := restCfg.Copy()
		c.BaseEndpoint = aws.String(fake.URL)
		return eks.NewFromConfig(c)
	}}
	k := kubetest.StartWith(t, kubetest.Options{RealNode: true, TokenWebhook: func(string) (string, error) { return authn.serve(t, t.TempDir()), nil }})
	fake = eksfake.Start(t, eksfake.Options{Upstream: rest.URL, CreatorARN: spinup.ARN, NodeGroupASGs: true,
		KubeEndpoint: k.Config.Host, KubeCA: base64.StdEncoding.EncodeToString(k.Config.TLSClientConfig.CAData)})
	proxy := startLBProxy(t, elb.NewFromConfig(restCfg), autoscaling.NewFromConfig(restCfg), k.Client)

	dir := t.TempDir()
	clusterYAML := filepath.Join(dir, "cluster.yaml")
	writeFile0600(t, clusterYAML, "cluster_name: "+eksClusterName+"\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n")
	c := &cluster{t: t, configDir: t.TempDir()}
	c.env = append(os.Environ(), "CORTEX_CLI_CONFIG_DIR="+c.configDir, "CORTEX_ENV=",
		"AWS_ACCESS_KEY_ID="+spinup.Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+spinup.Creds.SecretAccessKey,
		"AWS_REGION=us-west-2", "AWS_DEFAULT_REGION=", "AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL="+fake.URL, "AWS_ENDPOINT_URL_IAM="+idp.URL, "AWS_ENDPOINT_URL_STS="+idp.URL,
		// The operator's AWS identity: a moto IAM user with the operator's policy (below).
		"CLUSTER_AWS_ACCESS_KEY_ID="+opUser.Creds.AccessKeyID, "CLUSTER_AWS_SECRET_ACCESS_KEY="+opUser.Creds.SecretAccessKey,
		// The load balancers' names lead to lbProxy; the API server and moto are dialed directly.
		"HTTPS_PROXY="+proxy.url, "https_proxy=", "HTTP_PROXY=", "http_proxy=", "NO_PROXY=127.0.0.1,"+kubetest.RealNodeIP, "no_proxy=")
	policy := c.must("cluster", "policy", "--type", "operator", "-c", clusterYAML, "--account-id", "123456789012")
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("cortex-operator"), PolicyName: aws.String("cortex-operator"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}

	// 1. cluster up: AWS resources in moto, cortex installed on the real node, the environment
	// written with the pinned CA.
	begin := time.Now()
	up := []string{"cluster", "up", clusterYAML, "--yes", "--configure-env", "--image", k.Node.Images["cortex"],
		"--poll-interval", "200ms", "--wait-timeout", "150s",
		"--sts-test-endpoint", idp.URL, "--api-server-address", strings.TrimPrefix(k.Config.Host, "https://")}
	out, errOut, code := c.run(up...)
	if code != 0 {
		t.Fatalf("cortex %s: exit %d\n%s%s\nauthenticator: %v\n%s", strings.Join(up, " "), code, out, errOut, authn.reviews, operatorPodLog(ctx, k))
	}
	t.Logf("cluster up on AWS (moto) and the real node in %s", time.Since(begin).Round(10*time.Millisecond))
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			_, _, _ = c.run("cluster", "down", clusterYAML, "--yes", "--poll-interval", "200ms")
		}
	})
	e := cliEnvironment(t, c.configDir, eksClusterName)
	if !strings.HasSuffix(e.OperatorEndpoint, ".elb.amazonaws.com") || e.CACert == "" {
		t.Fatalf("environment %+v: want the operator load balancer's name and a pinned CA", e)
	}
	// The CLI's Kubernetes client was the creator's EKS token, mapped by its access entry.
	if !strings.Contains(strings.Join(authn.reviews, "\n"), "system:masters") {
		t.Errorf("the API server never authenticated the creator's EKS token as cluster admin: %v", authn.reviews)
	}

	// 2. whoami through the operator's load balancer, as IAM identities.
	whoami := func(u awstest.User) (map[string]any, string, int) {
		as := newClusterEnv(c, "AWS_ACCESS_KEY_ID="+u.Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+u.Creds.SecretAccessKey)
		out, errOut, code := as.run("whoami", "-e", eksClusterName, "-o", "json")
		var res map[string]any
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("whoami -o json: %v\n%s", err, out)
			}
		}
		return res, errOut, code
	}
	begin = time.Now()
	me, errOut, code := whoami(spinup)
	if code != 0 || me["arn"] != spinup.ARN || me["role"] != "admin" || me["operator_endpoint"] != e.OperatorEndpoint {
		t.Fatalf("whoami as the creator: exit %d %v %s\nproxy:\n%s\n%s", code, me, errOut, proxy.log(), operatorPodLog(ctx, k))
	}
	t.Logf("whoami as the creator through %s in %s: %v", e.OperatorEndpoint, time.Since(begin).Round(time.Millisecond), me["role"])
	if !strings.Contains(proxy.log(), "port 30888 -> cortex/cortex-operator -> ") {
		t.Errorf("whoami did not go listener -> target group 30888 -> the operator Service:\n%s", proxy.log())
	}
	// No rule: refused by the operator (its pod asked moto's STS who bob is).
	if _, errOut, code := whoami(bob); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("whoami as bob (no grant): exit %d %s", code, errOut)
	}
	// A key moto does not know: refused.
	stranger := awstest.User{Creds: aws.Credentials{AccessKeyID: "AKIAIOSFODNN7NOTREAL", SecretAccessKey: "wrong"}}
	if _, errOut, code := whoami(stranger); code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("whoami with an unknown key: exit %d %s", code, errOut)
	}
	// Granted read (the operator's rule and the EKS access entry together): read; revoked: refused.
	c.must("cluster", "access", "grant", alice.ARN, "--role", "read", "-e", eksClusterName)
	if me, errOut, code := whoami(alice); code != 0 || me["arn"] != alice.ARN || me["role"] != "read" {
		t.Errorf("whoami as alice (read): exit %d %v %s", code, me, errOut)
	}
	c.must("cluster", "access", "revoke", alice.ARN, "-e", eksClusterName)
	if _, errOut, code := whoami(alice); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("whoami as alice after revoke: exit %d %s", code, errOut)
	}

	// 3. cluster down: nothing tagged with the cluster left in moto, no cortex object left.
	begin = time.Now()
	c.must("cluster", "down", clusterYAML, "--yes", "--poll-interval", "200ms")
	downDone = true
	t.Logf("cluster down in %s", time.Since(begin).Round(10*time.Millisecond))
	var left []string
	tags, err := ec2.NewFromConfig(restCfg).DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("key"), Values: []string{"cortex.dev/cluster-name"}}, {Name: aws.String("value"), Values: []string{eksClusterName}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags.Tags {
		left = append(left, string(tag.ResourceType)+" "+aws.ToString(tag.ResourceId))
	}
	if tgs, err := elb.NewFromConfig(restCfg).DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{}); err != nil || len(tgs.TargetGroups) > 0 {
		t.Errorf("target groups after down: %v %d", err, len(tgs.TargetGroups))
	}
	if bs, err := s3.NewFromConfig(restCfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil || len(bs.Buckets) > 0 {
		t.Errorf("buckets after down: %v %d", err, len(bs.Buckets))
	}
	if lbs, err := elb.NewFromConfig(restCfg).DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); err != nil || len(lbs.LoadBalancers) > 0 {
		t.Errorf("load balancers after down: %v %d", err, len(lbs.LoadBalancers))
	}
	if cl, err := eks.NewFromConfig(restCfg).ListClusters(ctx, &eks.ListClustersInput{}); err != nil || len(cl.Clusters) > 0 {
		t.Errorf("EKS clusters after down: %v %v", err, cl.Clusters)
	}
	if g, err := autoscaling.NewFromConfig(restCfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil || len(g.AutoScalingGroups) > 0 {
		t.Errorf("Auto Scaling groups after down: %v %d", err, len(g.AutoScalingGroups))
	}
	roles, err := iamc.ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Roles {
		if strings.Contains(aws.ToString(r.RoleName), eksClusterName) {
			left = append(left, aws.ToString(r.Arn))
		}
	}
	pols, err := iamc.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: "Local"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pols.Policies {
		if strings.Contains(aws.ToString(p.PolicyName), eksClusterName) {
			left = append(left, aws.ToString(p.Arn))
		}
	}
	if len(left) > 0 {
		t.Errorf("cluster down left %d resources: %v", len(left), left)
	}
	checkNoCortexObjects(t, k)
}
