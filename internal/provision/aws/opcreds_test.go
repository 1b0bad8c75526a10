package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cortexlabs-go/cortex/internal/iampolicy"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// authConfig is an SDK configuration for the test's own moto (auth on), through the EKS fake.
func authConfig(url string, c aws.Credentials) aws.Config {
	return aws.Config{Region: testRegion, Credentials: credentials.StaticCredentialsProvider{Value: c}, BaseEndpoint: aws.String(url),
		HTTPClient: &http.Client{Timeout: 30 * time.Second}, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
}

func putUserPolicy(t *testing.T, admin aws.Config, user, doc string) {
	t.Helper()
	if _, err := iam.NewFromConfig(admin).PutUserPolicy(context.Background(), &iam.PutUserPolicyInput{UserName: aws.String(user),
		PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
}

// secretEnv is what the kubelet gives the operator's container: each AWS_* variable of the
// installed Deployment resolved through its secretKeyRef into the installed Secret.
func secretEnv(t *testing.T, a *install.OperatorAWS, tls *install.TLS) aws.Credentials {
	t.Helper()
	objs, err := install.Build(install.Options{Image: "cortex/cortex:test", ClusterID: "0123456789abcdef0123456789abcdef", TLS: tls, OperatorAWS: a})
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]map[string][]byte{}
	for _, s := range objs.Secrets {
		data[*s.Name] = s.Data
	}
	env := map[string]string{}
	for _, e := range objs.Deployments[0].Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			env[*e.Name] = string(data[*e.ValueFrom.SecretKeyRef.Name][*e.ValueFrom.SecretKeyRef.Key])
		}
	}
	return aws.Credentials{AccessKeyID: env["AWS_ACCESS_KEY_ID"], SecretAccessKey: env["AWS_SECRET_ACCESS_KEY"], SessionToken: env["AWS_SESSION_TOKEN"]}
}

// The test: after `up`, delete the spin-up access key; the operator keeps working. The
// operator makes its own first AWS call (operator.CheckAWSCredentials, what `cortex operator
// serve --check-aws-identity` runs at start) before and after the deletion, in both modes:
//
//   - its own role (no cluster credentials): the role and the pod identity association that `up`
//     made. moto cannot be the service principal pods.eks.amazonaws.com, and its AssumeRole fails
//     with an internal error on a trust policy whose only principal is a Service (moto 5.2.5,
//     measured), so the test, standing in for the Pod Identity agent, adds itself to the role's
//     trust statement after checking it, and assumes the role that the association names.
//   - cluster credentials: the variables the installed Deployment takes from the installed Secret.
//
// IAM and STS, where keys live and are checked, run on a moto with auth on, so a deleted key is
// refused (checked below: the spin-up key itself stops working). Everything else goes to the
// package's moto with auth off, through the EKS fake: with auth on, moto 5.2.5 refuses every EKS
// request with SignatureDoesNotMatch, also boto3's (measured), so `up` cannot run there.
func TestOperatorKeepsWorkingAfterTheSpinUpKeyIsDeleted(t *testing.T) {
	plain := moto(t)
	srv := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, srv)
	admin.Region = testRegion
	adminID, err := sts.NewFromConfig(admin).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	spinUp := awstest.CreateUser(t, admin, "spin-up")
	putUserPolicy(t, admin, "spin-up", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	const cluster = "keys-one"
	// The cluster credentials' user has the operator policy, as docs/aws.md tells users to do.
	opDoc, err := iampolicy.Render(iampolicy.Operator, PolicyParams("aws", "123456789012", cluster, testRegion))
	if err != nil {
		t.Fatal(err)
	}
	clusterUser := awstest.CreateUser(t, admin, "cluster-operator")
	putUserPolicy(t, admin, "cluster-operator", string(opDoc))
	fake := eksfake.Start(t, eksfake.Options{Upstream: plain, CreatorARN: spinUp.ARN})
	router := byService(t, map[string]string{"iam": srv.URL, "sts": srv.URL}, fake.URL)
	fake.URL = router // every client below goes through the router
	ctx := context.Background()
	cfg := mustConfig(t, "cluster_name: "+cluster+"\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nnode_groups: [{name: cpu, instance_type: t3.medium, min_instances: 1, max_instances: 1}]\n")
	newProv := func(c aws.Credentials, clusterCreds *aws.Credentials) *Provisioner {
		p, err := New(Options{AWS: authConfig(fake.URL, c), StateDir: t.TempDir(), PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second, ClusterCredentials: clusterCreds})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// ---- mode 2: cluster credentials (the first run) ----
	cc := clusterUser.Creds
	p2 := newProv(spinUp.Creds, &cc)
	res2, err := p2.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := res2.State; st.OperatorAuth != OperatorAuthSecret || st.OperatorRoleARN != "" {
		t.Fatalf("with cluster credentials: auth %q role %q", st.OperatorAuth, st.OperatorRoleARN)
	}
	secretCreds := secretEnv(t, p2.OperatorAWS(), tlsForTest(t))
	if secretCreds.AccessKeyID != clusterUser.Creds.AccessKeyID || secretCreds.SecretAccessKey == "" {
		t.Fatalf("the Secret's key is %q, want the cluster credentials' %q", secretCreds.AccessKeyID, clusterUser.Creds.AccessKeyID)
	}
	// ---- mode 1: the operator's own role (a re-run without cluster credentials) ----
	p := newProv(spinUp.Creds, nil)
	res, err := p.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := res.State
	roleName := OperatorRoleName(cluster, testRegion)
	wantTrust := PodIdentityTrustPolicy("aws", "123456789012", testRegion, cluster, "cortex", "cortex-operator")
	if st.OperatorAuth != OperatorAuthPodIdentity || st.OperatorRoleARN != "arn:aws:iam::123456789012:role/"+roleName || st.OperatorAssociationID == "" || st.PodIdentityAgent == "" {
		t.Fatalf("state: auth %q role %q association %q agent %q", st.OperatorAuth, st.OperatorRoleARN, st.OperatorAssociationID, st.PodIdentityAgent)
	}
	if a := p.OperatorAWS(); a == nil || a.Credentials != nil {
		t.Fatalf("with a role the install gets credentials: %+v", a)
	}
	ec := eks.NewFromConfig(authConfig(fake.URL, admin.Credentials.(credentials.StaticCredentialsProvider).Value))
	as, err := ec.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: aws.String(st.OperatorAssociationID)})
	if err != nil {
		t.Fatal(err)
	}
	if a := as.Association; aws.ToString(a.Namespace) != "cortex" || aws.ToString(a.ServiceAccount) != "cortex-operator" || aws.ToString(a.RoleArn) != st.OperatorRoleARN {
		t.Fatalf("association %s/%s -> %s", aws.ToString(a.Namespace), aws.ToString(a.ServiceAccount), aws.ToString(a.RoleArn))
	}
	ic := iam.NewFromConfig(admin)
	role, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)})
	if err != nil {
		t.Fatal(err)
	}
	trust, err := decodePolicyDocument(aws.ToString(role.Role.AssumeRolePolicyDocument))
	if err != nil || !sameJSON(trust, wantTrust) {
		t.Fatalf("trust policy %s (%v), want %s", trust, err, wantTrust)
	}
	tags := map[string]string{}
	for _, tg := range role.Role.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	checkTags(t, "operator role", tags, st.ClusterID, cluster)
	inline, err := ic.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String(operatorPolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := decodePolicyDocument(aws.ToString(inline.PolicyDocument)); !sameJSON(doc, string(opDoc)) {
		t.Errorf("the role's policy is not the operator policy: %s", doc)
	}
	// The Pod Identity agent's stand-in (see above).
	widened := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com","AWS":"` + aws.ToString(adminID.Arn) + `"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	if _, err := ic.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(roleName), PolicyDocument: aws.String(widened)}); err != nil {
		t.Fatal(err)
	}
	_, roleCreds := awstest.AssumeExistingRole(t, admin, aws.ToString(as.Association.RoleArn), "cortex-operator-pod")

	check := func(what string, c aws.Credentials) error {
		self, err := operator.CheckAWSCredentials(ctx, authConfig(fake.URL, c), "123456789012")
		if err == nil {
			t.Logf("%s: the operator is %s", what, self.ARN)
		}
		return err
	}
	for what, c := range map[string]aws.Credentials{"spin-up key": spinUp.Creds, "operator role": roleCreds, "Secret": secretCreds} {
		if err := check(what, c); err != nil {
			t.Fatalf("before the deletion, %s: %v", what, err)
		}
	}

	awstest.DeleteAccessKey(t, admin, spinUp)

	// moto refuses the deleted key: what makes the next checks mean something.
	// (moto answers 403 with a body the SDK does not decode as InvalidClientTokenId.)
	if err := check("spin-up key", spinUp.Creds); err == nil || !strings.Contains(err.Error(), "StatusCode: 403") {
		t.Fatalf("the deleted spin-up key still works (is auth on?): %v", err)
	}
	if err := check("operator role", roleCreds); err != nil {
		t.Errorf("after the spin-up key was deleted, the operator's role: %v", err)
	}
	// A new session, as the agent makes when the last one expires.
	_, fresh := awstest.AssumeExistingRole(t, admin, st.OperatorRoleARN, "cortex-operator-pod-2")
	if err := check("operator role, new session", fresh); err != nil {
		t.Errorf("after the spin-up key was deleted, a new session of the operator's role: %v", err)
	}
	if err := check("Secret", secretCreds); err != nil {
		t.Errorf("after the spin-up key was deleted, the Secret's credentials: %v", err)
	}

	// A re-run puts a widened trust policy back: only EKS Pod Identity may assume the role.
	if _, err := p.EnsurePodRole(ctx, PodRole{Name: roleName, TrustPolicy: wantTrust, InlinePolicyName: operatorPolicyName, InlinePolicy: string(opDoc)}); err == nil {
		t.Fatal("the spin-up key was deleted, yet its provisioner still works")
	}
	pa := newProv(admin.Credentials.(credentials.StaticCredentialsProvider).Value, nil)
	if _, err := pa.EnsurePodRole(ctx, PodRole{Name: roleName, TrustPolicy: wantTrust, InlinePolicyName: operatorPolicyName, InlinePolicy: string(opDoc)}); err != nil {
		t.Fatal(err)
	}
	if role, err = ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)}); err != nil {
		t.Fatal(err)
	} else if trust, _ := decodePolicyDocument(aws.ToString(role.Role.AssumeRolePolicyDocument)); !sameJSON(trust, wantTrust) {
		t.Errorf("a re-run left the widened trust policy: %s", trust)
	}

	// Cluster credentials again (with other credentials: the spin-up key is gone): the role and its
	// association are removed.
	pc := newProv(admin.Credentials.(credentials.StaticCredentialsProvider).Value, &cc)
	if _, err := pc.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)}); !isCode(err, "NoSuchEntity") {
		t.Errorf("operator role after a run with cluster credentials: %v", err)
	}
	if a, err := pc.findPodIdentityAssociation(ctx, cluster, operatorNamespace, operatorServiceAccount); err != nil || a != nil {
		t.Errorf("association after a run with cluster credentials: %+v %v", a, err)
	}

	// down (with other credentials: the spin-up key is gone) removes the association and the role.
	if rep, err := pa.Down(ctx, cluster, DownOptions{}); err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	if _, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)}); !isCode(err, "NoSuchEntity") {
		t.Errorf("operator role after down: %v", err)
	}
}

// byService is a reverse proxy that sends each signed request to the URL of its service (the
// SigV4 credential scope), and the rest to fallback. The Host header is kept, so the signature
// stays valid.
func byService(t *testing.T, routes map[string]string, fallback string) string {
	t.Helper()
	proxy := func(u string) *httputil.ReverseProxy {
		target, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return httputil.NewSingleHostReverseProxy(target)
	}
	proxies := map[string]*httputil.ReverseProxy{}
	for svc, u := range routes {
		proxies[svc] = proxy(u)
	}
	def := proxy(fallback)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		if i := strings.Index(a, "Credential="); i >= 0 {
			if parts := strings.Split(strings.SplitN(a[i+len("Credential="):], ",", 2)[0], "/"); len(parts) == 5 && proxies[parts[3]] != nil {
				proxies[parts[3]].ServeHTTP(w, r)
				return
			}
		}
		def.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func tlsForTest(t *testing.T) *install.TLS {
	t.Helper()
	tls, err := install.NewTLS("cortex", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tls
}
