//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
	"github.com/aws/aws-sdk-go-v2/service/sts"

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
	// The node first (moto binds to its address); the authenticator is filled in before any
	// token reaches it (the first is cluster up's).
	authn := &eksAuthenticator{cluster: eksClusterName}
	k := kubetest.StartWith(t, kubetest.Options{RealNode: true, TokenWebhook: func(string) (string, error) { return authn.serve(t, t.TempDir()), nil }})
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
	otherAccount := otherAccountIdentity(t, admin)
	// Everything else: authentication off, behind the EKS fake.
	rest := motoserver.Start(t, motoserver.Options{})
	var fake *eksfake.Server
	restCfg := aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(rest.URL), HTTPClient: &http.Client{Timeout: 30 * time.Second},
		Credentials: awscreds.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "moto-auth-off", "")}
	authn.iam = iamc
	authn.eks = func() *eks.Client {
		c := restCfg.Copy()
		c.BaseEndpoint = aws.String(fake.URL)
		return eks.NewFromConfig(c)
	}
	fake = startEKSFakeOnNode(t, eksfake.Options{Upstream: rest.URL, CreatorARN: spinup.ARN, NodeGroupASGs: true,
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
		"--sts-test-endpoint", idp.URL, "--api-server-address", strings.TrimPrefix(k.Config.Host, "https://"),
		// APIs: the python runtime image, and the operator's EKS and IAM calls to the EKS fake
		// (on the node's address; eks_apis_test.go).
		"--api-image", k.Node.Images["python-runtime"], "--aws-test-endpoint", fake.URL}
	out, errOut, code := c.run(up...)
	if code != 0 {
		t.Fatalf("cortex %s: exit %d\n%s%s\nauthenticator:\n%s\n%s", strings.Join(up, " "), code, out, errOut, authn.log(), operatorPodLog(ctx, k))
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
	if !strings.Contains(authn.log(), spinup.ARN+" [system:masters]") {
		t.Errorf("the API server never authenticated the creator's EKS token as cluster admin:\n%s", authn.log())
	}

	// 2. whoami through the operator's load balancer, as IAM identities.
	whoami := func(u awstest.User) (map[string]any, string, int) {
		as := newClusterEnv(c, "AWS_ACCESS_KEY_ID="+u.Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+u.Creds.SecretAccessKey, "AWS_SESSION_TOKEN="+u.Creds.SessionToken)
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
	// No rule for bob: the account mode (the operator's default on AWS, docs/security.md) gives
	// every identity of the cluster's account the account role, deploy.
	if me, errOut, code := whoami(bob); code != 0 || me["arn"] != bob.ARN || me["role"] != "deploy" {
		t.Errorf("whoami as bob (no rule, the account mode): exit %d %v %s", code, me, errOut)
	}
	// An identity of another account (a role session moto's STS issues for account
	// 111111111111): refused by the operator, whose pod asked moto's STS who it is.
	if _, errOut, code := whoami(otherAccount); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("whoami as another account's identity: exit %d %s", code, errOut)
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
	// The revoke says that alice keeps the account role.
	if _, errOut, code := c.run("cluster", "access", "revoke", alice.ARN, "-e", eksClusterName); code != 0 ||
		!strings.Contains(errOut, "note: "+alice.ARN+" keeps role deploy on "+eksClusterName+" through auth mode account") {
		t.Errorf("revoke in account mode: exit %d, stderr %s", code, errOut)
	}
	if me, errOut, code := whoami(alice); code != 0 || me["role"] != "deploy" {
		t.Errorf("whoami as alice after revoke (the account mode again): exit %d %v %s", code, me, errOut)
	}

	// auth_mode: rules locks the running cluster down (cluster configure, the operator's rollout on
	// the real node): bob, never granted, and alice, revoked, are refused; the creator is admin;
	// a grant lets alice in again, and a revoke now leaves her nothing.
	writeFile0600(t, clusterYAML, "cluster_name: "+eksClusterName+"\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nauth_mode: rules\n")
	if out := c.must("cluster", "configure", clusterYAML, "--dry-run"); !strings.Contains(out, "auth_mode: account -> rules") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Errorf("configure --dry-run: %s", out)
	}
	if me, errOut, code := whoami(bob); code != 0 || me["role"] != "deploy" {
		t.Errorf("whoami as bob after a dry run: exit %d %v %s", code, me, errOut)
	}
	begin = time.Now()
	c.must("cluster", "configure", clusterYAML, "--yes")
	t.Logf("configure auth_mode: rules (with the operator's rollout) in %s", time.Since(begin).Round(10*time.Millisecond))
	for _, u := range []awstest.User{bob, alice} {
		if _, errOut, code := whoami(u); code == 0 || !strings.Contains(errOut, "403") {
			t.Errorf("whoami as %s in rules mode: exit %d %s", u.ARN, code, errOut)
		}
	}
	if me, errOut, code := whoami(spinup); code != 0 || me["role"] != "admin" {
		t.Errorf("whoami as the creator in rules mode: exit %d %v %s", code, me, errOut)
	}
	if out := c.must("cluster", "info", clusterYAML); !regexp.MustCompile(`(?m)^auth mode\s+rules$`).MatchString(out) {
		t.Errorf("cluster info in rules mode:\n%s", out)
	}
	c.must("cluster", "access", "grant", alice.ARN, "--role", "read", "-e", eksClusterName)
	if me, errOut, code := whoami(alice); code != 0 || me["role"] != "read" {
		t.Errorf("whoami as alice granted read in rules mode: exit %d %v %s", code, me, errOut)
	}
	if _, errOut, code := c.run("cluster", "access", "revoke", alice.ARN, "-e", eksClusterName); code != 0 || strings.Contains(errOut, "note:") {
		t.Errorf("revoke in rules mode: exit %d, stderr %s", code, errOut)
	}
	if _, errOut, code := whoami(alice); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("whoami as alice after revoke in rules mode: exit %d %s", code, errOut)
	}

	// 3. APIs deployed and called through the API load balancer (eks_apis_test.go), in rules mode.
	checkAPIsThroughAPILoadBalancer(t, k, c, proxy, spinup, otherAccount)

	// 4. cluster down: nothing tagged with the cluster left in moto, no cortex object left.
	begin = time.Now()
	out, errOut, code = c.run("cluster", "down", clusterYAML, "--yes", "--poll-interval", "200ms")
	downDone = true
	if code != 0 {
		t.Fatalf("cluster down: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("cluster down:\n%s%s", out, errOut)
	t.Logf("cluster down in %s", time.Since(begin).Round(10*time.Millisecond))
	var left []string
	// EC2 by tag, kind by kind (moto's DescribeTags keeps the tags of deleted resources).
	ec := ec2.NewFromConfig(restCfg)
	tagged := []ec2types.Filter{{Name: aws.String("tag:cortex.dev/cluster-name"), Values: []string{eksClusterName}}}
	count := func(kind string, n int, err error) {
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for i := 0; i < n; i++ {
			left = append(left, kind)
		}
	}
	vpcs, err := ec.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: tagged})
	count("vpc", len(vpcs.Vpcs), err)
	sns, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: tagged})
	count("subnet", len(sns.Subnets), err)
	igws, err := ec.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: tagged})
	count("internet gateway", len(igws.InternetGateways), err)
	nats, err := ec.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{Filter: tagged})
	n := 0
	for _, g := range nats.NatGateways {
		if g.State != ec2types.NatGatewayStateDeleted {
			n++
		}
	}
	count("nat gateway", n, err)
	eips, err := ec.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: tagged})
	count("elastic ip", len(eips.Addresses), err)
	rts, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: tagged})
	count("route table", len(rts.RouteTables), err)
	sgs, err := ec.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tagged})
	count("security group", len(sgs.SecurityGroups), err)
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

// otherAccountIdentity is a session of a role in another account (111111111111), issued by
// moto's STS to the administrator (moto does not check the trust of another account's role).
func otherAccountIdentity(t *testing.T, admin aws.Config) awstest.User {
	t.Helper()
	out, err := sts.NewFromConfig(admin).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111111111111:role/elsewhere"), RoleSessionName: aws.String("outsider")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return awstest.User{Name: "outsider", ARN: aws.ToString(out.AssumedRoleUser.Arn), Creds: aws.Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}}
}
