package awscluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate()                             {}

// installedOperatorRules is the OperatorRules seam of the tests: the operator as installed, run
// in-process (serveInstalledOperator) once the install exists, reached at its load balancer's name
// (resolved to it) with the pinned CA, signed in with its local admin credential (no STS here).
func installedOperatorRules(t *testing.T, kube *kubetest.Cluster) (OperatorRulesFunc, func() client.AccessRules) {
	var once sync.Once
	var rules client.AccessRules
	get := func(st *provaws.State) client.AccessRules {
		once.Do(func() {
			addr, token := serveInstalledOperator(t, kube)
			endpoint := "https://" + st.OperatorLoadBalancer.DNSName
			u, _ := url.Parse(endpoint)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM([]byte(st.Kubernetes.CACert))
			lb := net.JoinHostPort(u.Hostname(), "443")
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					if a != lb {
						t.Errorf("dialed %s, not the operator's load balancer %s", a, lb)
					}
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}
			cl, err := client.New(client.Options{Endpoint: endpoint, CAPEM: []byte(st.Kubernetes.CACert), Tokens: staticToken(token), Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			rules = client.AccessRules{Client: cl}
		})
		return rules
	}
	return func(_ context.Context, _ *session, st *provaws.State) (provaws.AccessRules, func(), error) {
			return get(st), func() {}, nil
		}, func() client.AccessRules {
			return rules
		}
}

// cluster up applies cluster.yaml's access (both sides, as cortex cluster access grant) and a
// second up changes nothing; cluster configure shows the access diff, --dry-run changes nothing,
// and --yes grants, changes and revokes what cluster.yaml changed, leaving a grant made outside it;
// the same run changes iam_policy_arns (the nodes' role) and api_iam (the operator's arguments and
// its role's policy).
func TestUpAndConfigureApplyClusterYAMLAccess(t *testing.T) {
	t.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	srv := motoserver.Start(t, motoserver.Options{})
	fake := eksfake.Start(t, eksfake.Options{Upstream: srv.URL})
	kube := kubetest.Start(t)
	h := newHarness(t)
	t.Setenv("AWS_ENDPOINT_URL", fake.URL)
	seam := eksSeam(t, fake.URL, kube)
	rulesSeam, rules := installedOperatorRules(t, kube)
	up := func() *cobra.Command {
		return NewCmdUp(h.factory, func(o *UpOptions) error { o.NewKubeClient, o.OperatorRules = seam, rulesSeam; return upRun(o) })
	}
	configure := func() *cobra.Command {
		return NewCmdConfigure(h.factory, func(o *ConfigureOptions) error {
			o.NewKubeClient, o.OperatorRules = seam, rulesSeam
			return configureRun(o)
		})
	}
	down := func() *cobra.Command {
		return NewCmdDown(h.factory, func(o *DownOptions) error { o.NewKubeClient = seam; return downRun(o) })
	}
	keyID, secret := iamUserKey(t, fake.URL, "spinup")
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	const (
		ann = "arn:aws:iam::123456789012:user/ann"
		bob = "arn:aws:iam::123456789012:user/bob"
		ml  = "arn:aws:iam::123456789012:role/team/ml"
	)
	base := "cluster_name: cli-access\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n"
	cfg := h.writeConfig(base + "access:\n- {principal: " + ann + ", role: read}\n- {principal: " + ml + ", role: deploy}\n")
	if err := h.run(up(), "-c", cfg, "--yes", "--poll-interval", "10ms", "--image", "cortex:test"); err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
	for _, want := range []string{"access: granted read to " + ann, "access: granted deploy to " + ml} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("up output lacks %q:\n%s", want, h.out)
		}
	}
	ctx := context.Background()
	eksc := eks.NewFromConfig(aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL), Credentials: awscreds.NewStaticCredentialsProvider(keyID, secret, "")})
	entries := &kubeaccess.AccessEntries{EKS: eksc, Cluster: "cli-access", Namespaces: []string{"cortex-apis"}}
	both := func() []string {
		t.Helper()
		have, err := rules().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		grants, err := entries.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for p, r := range have {
			out = append(out, "rule "+p+" "+string(r))
		}
		for _, g := range grants {
			if g.Type == "STANDARD" && !strings.HasSuffix(g.Principal, "user/spinup") {
				out = append(out, "entry "+g.Principal+" "+string(g.Role))
			}
		}
		slices.Sort(out)
		return out
	}
	want := []string{"entry " + ann + " read", "entry " + ml + " deploy", "rule " + ann + " read", "rule arn:aws:iam::123456789012:role/ml deploy"}
	slices.Sort(want)
	if got := both(); !slices.Equal(got, want) {
		t.Errorf("after up:\n got %v\nwant %v", got, want)
	}
	// Granted outside cluster.yaml (cortex cluster access grant's code).
	if err := kubeaccess.GrantBoth(ctx, rules(), entries, bob, access.RoleRead); err != nil {
		t.Fatal(err)
	}
	// up again: nothing to apply.
	if err := h.run(up(), "-c", cfg, "--yes", "--poll-interval", "10ms"); err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
	if strings.Contains(h.out.String(), "access:") {
		t.Errorf("a second up changed access:\n%s", h.out)
	}

	// With iam_policy_arns and api_iam changed too: configure applies all of it in one run.
	const s3 = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
	next := h.writeConfig(base + "access:\n- {principal: " + ann + ", role: admin}\niam_policy_arns: [" + s3 + "]\napi_iam: {allowed_policy_arns: [" + s3 + "]}\n")
	if err := h.run(configure(), next, "--dry-run"); err != nil {
		t.Fatalf("configure --dry-run: %v %s", err, h.errOut)
	}
	for _, w := range []string{"access[" + ann + "]: read -> admin", "access[" + ml + "]: deploy -> none", "dry run: nothing was changed",
		"iam_policy_arns: [] -> [" + s3 + "]", "api_iam.allowed_policy_arns: [] -> [" + s3 + "]"} {
		if !strings.Contains(h.out.String(), w) {
			t.Errorf("configure --dry-run lacks %q:\n%s", w, h.out)
		}
	}
	want2 := append(slices.Clone(want), "entry "+bob+" read", "rule "+bob+" read")
	slices.Sort(want2)
	if got := both(); !slices.Equal(got, want2) {
		t.Errorf("--dry-run changed access:\n got %v\nwant %v", got, want2)
	}
	if err := h.run(configure(), next, "--yes"); err != nil {
		t.Fatalf("configure --yes: %v %s", err, h.errOut)
	}
	want3 := []string{"entry " + ann + " admin", "entry " + bob + " read", "rule " + ann + " admin", "rule " + bob + " read"}
	if got := both(); !slices.Equal(got, want3) {
		t.Errorf("after configure:\n got %v\nwant %v", got, want3)
	}
	dep, err := kube.Client.AppsV1().Deployments("cortex").Get(ctx, "cortex-operator", metav1.GetOptions{})
	if err != nil || !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--api-allowed-policy-arn="+s3) {
		t.Errorf("operator args after configure: %v %v", dep.Spec.Template.Spec.Containers[0].Args, err)
	}
	iamc := iam.NewFromConfig(aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL), Credentials: awscreds.NewStaticCredentialsProvider(keyID, secret, "")})
	attached, err := iamc.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(clusterconfig.RoleName("cli-access", "us-west-2", "node"))})
	if err != nil || !slices.ContainsFunc(attached.AttachedPolicies, func(p iamtypes.AttachedPolicy) bool { return aws.ToString(p.PolicyArn) == s3 }) {
		t.Errorf("node role after configure: %+v %v", attached, err)
	}
	pol, err := iamc.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(provaws.OperatorRoleName("cli-access", "us-west-2")), PolicyName: aws.String("cortex-operator")})
	if err != nil {
		t.Fatal(err)
	}
	// IAM returns the document URL-encoded.
	if doc, err := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); err != nil || !strings.Contains(doc, s3) {
		t.Errorf("operator role policy after configure lacks %s: %s %v", s3, doc, err)
	}
	if err := h.run(configure(), next, "--dry-run"); err != nil || !strings.Contains(h.out.String(), "nothing to change") {
		t.Fatalf("after configure: %v %s", err, h.out)
	}
	if err := h.run(down(), next, "--yes", "--poll-interval", "10ms"); err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
}
