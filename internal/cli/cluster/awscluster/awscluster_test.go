package awscluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	"github.com/cortexlabs-go/cortex/internal/operator"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

type harness struct {
	t       *testing.T
	dir     string
	out     *bytes.Buffer
	errOut  *bytes.Buffer
	factory *cmdutil.Factory
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir(), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	h.factory = &cmdutil.Factory{
		IO:        &cmdutil.IOStreams{In: strings.NewReader(""), Out: h.out, ErrOut: h.errOut},
		ConfigDir: func() (string, error) { return h.dir, nil },
		Now:       time.Now,
	}
	// No shared config and no instance metadata: only what a test sets.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(h.dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(h.dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "CORTEX_AWS_ACCESS_KEY_ID", "CORTEX_AWS_SECRET_ACCESS_KEY", "CLUSTER_AWS_ACCESS_KEY_ID", "CLUSTER_AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	return h
}

func (h *harness) run(cmd *cobra.Command, args ...string) error {
	h.out.Reset()
	h.errOut.Reset()
	cmd.SetArgs(args)
	cmd.SetIn(h.factory.IO.In)
	cmd.SetOut(h.out)
	cmd.SetErr(h.errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

func (h *harness) writeConfig(body string) string {
	p := filepath.Join(h.dir, "cluster.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestExampleConfigAndPolicy(t *testing.T) {
	h := newHarness(t)
	if err := h.run(NewCmdExampleConfig(h.factory, nil)); err != nil || !strings.Contains(h.out.String(), "cluster_name: cortex") {
		t.Fatalf("%v %s", err, h.out)
	}
	cfg := h.writeConfig("cluster_name: pol\nregion: eu-west-1\n")
	for _, kind := range []string{"management", "operator", "default"} {
		if err := h.run(NewCmdPolicy(h.factory, nil), "--type", kind, "-c", cfg, "--account-id", "210987654321"); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(h.out.Bytes(), &doc); err != nil {
			t.Fatalf("%s policy is not JSON: %v", kind, err)
		}
		if !strings.Contains(h.out.String(), "210987654321") && kind != "default" || !strings.Contains(h.out.String(), "pol-") {
			t.Errorf("%s policy not filled in: %s", kind, h.out)
		}
	}
	if err := h.run(NewCmdPolicy(h.factory, nil), "--type", "root", cfg, "--account-id", "210987654321"); err == nil || !strings.Contains(err.Error(), "management, operator, default") {
		t.Fatalf("bad --type: %v", err)
	}
	if err := h.run(NewCmdPolicy(h.factory, nil), "--type", "default", cfg, "--account-id", "12"); err == nil || !strings.Contains(err.Error(), "--account-id") {
		t.Fatalf("bad --account-id: %v", err)
	}
}

func TestCredentialErrors(t *testing.T) {
	h := newHarness(t)
	cfg := h.writeConfig("cluster_name: creds\nregion: us-west-2\n")
	err := h.run(NewCmdUp(h.factory, nil), cfg, "--aws-key", "AKIAONLYKEY1")
	if err == nil || !strings.Contains(err.Error(), "--aws-secret is not") {
		t.Fatalf("half a pair: %v", err)
	}
	// Half a pair of cluster credentials, by flag or by environment: refused, naming both halves.
	err = h.run(NewCmdUp(h.factory, nil), cfg, "--aws-key", "AKIASPINUP01", "--aws-secret", "s", "--cluster-aws-secret", "hidden-secret")
	if err == nil || !strings.Contains(err.Error(), "--cluster-aws-secret is set but --cluster-aws-key is not") || strings.Contains(err.Error(), "hidden-secret") {
		t.Fatalf("half a cluster pair: %v", err)
	}
	t.Setenv("CLUSTER_AWS_ACCESS_KEY_ID", "AKIACLUSTER01")
	err = h.run(NewCmdUp(h.factory, nil), cfg, "--aws-key", "AKIASPINUP01", "--aws-secret", "s")
	if err == nil || !strings.Contains(err.Error(), "CLUSTER_AWS_ACCESS_KEY_ID is set but CLUSTER_AWS_SECRET_ACCESS_KEY is not") {
		t.Fatalf("half a cluster pair in the environment: %v", err)
	}
	t.Setenv("CLUSTER_AWS_ACCESS_KEY_ID", "")
	// No credentials anywhere and stdin is not a terminal: refused, nothing prompted.
	err = h.run(NewCmdUp(h.factory, nil), cfg)
	if err == nil || !strings.Contains(err.Error(), "not a terminal") {
		t.Fatalf("no terminal: %v", err)
	}
	// An invalid config is refused before credentials are even looked at.
	bad := h.writeConfig("cluster_name: X\n")
	if err := h.run(NewCmdUp(h.factory, nil), bad, "--aws-key", "AKIA", "--aws-secret", "s"); err == nil || !strings.Contains(err.Error(), "cluster_name") {
		t.Fatalf("invalid config: %v", err)
	}
}

// eksSeam is the EKS cluster's Kubernetes client of the tests: the local API server of kubetest
// (the provisioner's EKS endpoint resolves to it). moto's EKS makes no Auto Scaling group for a
// node group (it only names one): when the provisioner first asks for the client, the node groups
// are active, and the seam creates their groups in moto (one instance each), as EKS would have.
func eksSeam(t *testing.T, awsURL string, kube *kubetest.Cluster) provaws.KubeClientFunc {
	var once sync.Once
	return func(ctx context.Context, e provaws.EKSEndpoint) (kubernetes.Interface, error) {
		var err error
		once.Do(func() { err = makeNodeGroupASGs(ctx, awsURL, e.ClusterName) })
		if err != nil {
			return nil, err
		}
		return kube.Client, nil
	}
}

func makeNodeGroupASGs(ctx context.Context, url, cluster string) error {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-west-2"), config.WithBaseEndpoint(url))
	if err != nil {
		return err
	}
	ekc, ec, ac := eks.NewFromConfig(cfg), ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
	imgs, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		return fmt.Errorf("no image in moto: %v", err)
	}
	ngs, err := ekc.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster)})
	if err != nil {
		return err
	}
	for _, ng := range ngs.Nodegroups {
		d, err := ekc.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(ng)})
		if err != nil {
			return err
		}
		for _, a := range d.Nodegroup.Resources.AutoScalingGroups {
			if _, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: a.Name,
				LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium}}); err != nil {
				return err
			}
			if _, err := ac.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: a.Name,
				LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: a.Name},
				MinSize:        aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
				VPCZoneIdentifier: aws.String(strings.Join(d.Nodegroup.Subnets, ","))}); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestUpInfoDownAgainstMoto(t *testing.T) {
	t.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	srv := motoserver.Start(t, motoserver.Options{})
	// moto answers pod identity associations (which down removes) and add-ons with 404: the EKS
	// fake fronts it (the Pod Identity Agent add-on, the operator's association).
	fake := eksfake.Start(t, eksfake.Options{Upstream: srv.URL})
	kube := kubetest.Start(t)
	h := newHarness(t)
	t.Setenv("AWS_ENDPOINT_URL", fake.URL)
	seam := eksSeam(t, fake.URL, kube)
	up := func() *cobra.Command {
		return NewCmdUp(h.factory, func(o *UpOptions) error { o.NewKubeClient = seam; return upRun(o) })
	}
	infoCmd := func() *cobra.Command {
		return NewCmdInfo(h.factory, func(o *InfoOptions) error { o.NewKubeClient = seam; return infoRun(o) })
	}
	down := func() *cobra.Command {
		return NewCmdDown(h.factory, func(o *DownOptions) error { o.NewKubeClient = seam; return downRun(o) })
	}
	// The spin-up identity is an IAM user (moto, authentication off, answers GetCallerIdentity for
	// other keys with an sts:...:user ARN that AWS never returns, and the operator refuses).
	keyID, secret := iamUserKey(t, fake.URL, "spinup")
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	cfg := h.writeConfig("cluster_name: cli-one\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n")

	// No terminal and no --yes: the plan and its cost are shown, and nothing is created.
	if err := h.run(up(), cfg, "--poll-interval", "10ms", "--image", "cortex:test"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("up without --yes: %v", err)
	}
	for _, want := range []string{"cluster up will create", "EKS cluster", "node group ng-cpu", "m5.large", "load balancer", "$0.10/h", "estimate", "on-demand us-east-1 prices as of", "https://aws.amazon.com/pricing/"} {
		if !strings.Contains(h.errOut.String(), want) {
			t.Errorf("the plan lacks %q:\n%s", want, h.errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(h.dir, "clusters", "cli-one-us-west-2.state.json")); !os.IsNotExist(err) {
		t.Fatalf("up without --yes started creating the cluster: %v", err)
	}
	if !strings.Contains(h.errOut.String(), "not an administrator") {
		t.Errorf("no administrator warning: %s", h.errOut)
	}
	// No image, nothing installed before: refused before anything is created.
	if err := h.run(up(), "-c", cfg, "--yes", "--poll-interval", "10ms"); err == nil || !strings.Contains(err.Error(), "--image is required") {
		t.Fatalf("up without --image: %v", err)
	}
	err := h.run(up(), "-c", cfg, "--yes", "--configure-env", "--poll-interval", "10ms", "--image", "cortex:test")
	if err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
	stderr := h.errOut.String()
	if !strings.Contains(stderr, "using AWS credentials from environment (AWS_ACCESS_KEY_ID), access key id ****"+keyID[len(keyID)-4:]) || strings.Contains(stderr, secret) || strings.Contains(stderr, keyID[:8]) {
		t.Errorf("credential source line: %s", stderr)
	}
	if !strings.Contains(stderr, "✓ load-balancers") {
		t.Errorf("no progress: %s", stderr)
	}
	if !strings.Contains(h.out.String(), "operator endpoint: https://") || !strings.Contains(h.out.String(), "cluster CA (SHA-256): ") {
		t.Errorf("up output: %s", h.out)
	}
	// No cluster credentials: the operator has its own role, and the spin-up key may go.
	for _, want := range []string{"the operator uses its own IAM role arn:aws:iam::123456789012:role/cortex-cli-one-", "you may revoke them now", "✓ operator-role", "✓ pod-identity-agent"} {
		if !strings.Contains(h.out.String()+stderr, want) {
			t.Errorf("up output lacks %q: %s", want, h.out)
		}
	}
	cc, err := cliconfig.Load(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cc.Get("cli-one")
	if err != nil || env.ClusterID == "" || env.Provider != "aws" || env.ClusterName != "cli-one" {
		t.Fatalf("environment: %+v %v", env, err)
	}
	// The environment pins the installed CA and dials the operator's load balancer.
	tlsSecret, err := kube.Client.CoreV1().Secrets("cortex").Get(context.Background(), "cortex-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env.CACert == "" || env.CACert != string(tlsSecret.Data["ca.crt"]) || !strings.HasSuffix(env.OperatorEndpoint, ".elb.amazonaws.com") {
		t.Errorf("environment %s pins %q, want the installed CA", env.OperatorEndpoint, env.CACert)
	}
	// The operator as installed answers through the environment (endpoint and pinned CA).
	addr, adminToken := serveInstalledOperator(t, kube)
	checkEnvReachesOperator(t, env, addr, adminToken)
	// The cache now holds how to find the credentials again, in 0600 files.
	ents, _ := os.ReadDir(filepath.Join(h.dir, "clusters"))
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o", e.Name(), fi.Mode().Perm())
		}
	}
	// Credentials from the environment were not copied into the cache: it names the variable.
	entry, err := os.ReadFile(filepath.Join(h.dir, "clusters", "cli-one-us-west-2.credentials.json"))
	if err != nil || !strings.Contains(string(entry), `"environment": "AWS_ACCESS_KEY_ID"`) {
		t.Fatalf("cache entry: %s %v", entry, err)
	}
	if secrets, _ := filepath.Glob(filepath.Join(h.dir, "clusters", "*.secret")); len(secrets) != 0 {
		t.Fatalf("secrets from the environment were written to disk: %v", secrets)
	}
	// Without them, nothing else is found (no profile, no terminal).
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if err := h.run(NewCmdInfo(h.factory, nil), "--name", "cli-one", "--region", "us-west-2"); err == nil || !strings.Contains(err.Error(), "no AWS credentials found") {
		t.Fatalf("info without credentials: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	// --region defaults to $AWS_REGION.
	t.Setenv("AWS_REGION", "us-west-2")
	// An access entry (as cortex cluster access grant makes it) and an API's pod identity
	// association (as the operator makes it on deploy), for info to show.
	const bob, irisRole = "arn:aws:iam::123456789012:user/bob", "arn:aws:iam::123456789012:role/iris-reader"
	eksc := eks.NewFromConfig(aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL), Credentials: awscreds.NewStaticCredentialsProvider(keyID, secret, "")})
	if err := (&kubeaccess.AccessEntries{EKS: eksc, Cluster: "cli-one", Namespaces: []string{"cortex-apis"}}).Put(context.Background(), bob, access.RoleDeploy); err != nil {
		t.Fatal(err)
	}
	if _, err := eksc.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("cli-one"),
		Namespace: aws.String("cortex-apis"), ServiceAccount: aws.String("iris"), RoleArn: aws.String(irisRole)}); err != nil {
		t.Fatal(err)
	}
	if err := h.run(infoCmd(), "--name", "cli-one", "-o", "json"); err != nil {
		t.Fatalf("%v %s", err, h.errOut)
	}
	var info struct {
		EKSStatus     string             `json:"eks_status"`
		CreatorARN    string             `json:"creator_arn"`
		AccessEntries []kubeaccess.Grant `json:"access_entries"`
		APIRoles      []provaws.APIRole  `json:"api_roles"`
	}
	if err := json.Unmarshal(h.out.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info.EKSStatus != "ACTIVE" || info.CreatorARN == "" {
		t.Errorf("info: %s", h.out)
	}
	if !slices.ContainsFunc(info.AccessEntries, func(g kubeaccess.Grant) bool { return g.Principal == bob && g.Role == access.RoleDeploy }) {
		t.Errorf("info -o json lacks bob's access entry: %+v", info.AccessEntries)
	}
	if !slices.ContainsFunc(info.APIRoles, func(r provaws.APIRole) bool { return r.ServiceAccount == "iris" && r.RoleARN == irisRole }) {
		t.Errorf("info -o json lacks iris's role: %+v", info.APIRoles)
	}
	if err := h.run(infoCmd(), cfg); err != nil || !strings.Contains(h.out.String(), "operator endpoint") {
		t.Fatalf("info table: %v %s", err, h.out)
	}
	if !strings.Contains(h.out.String(), "operator aws") || !strings.Contains(h.out.String(), "-operator (EKS Pod Identity, association a-") {
		t.Errorf("info lacks the operator's role: %s", h.out)
	}
	for _, want := range []string{`\s+arn:aws:iam::123456789012:user/bob\s+deploy; AmazonEKSViewPolicy in cortex-apis; groups cortex:read,cortex:deploy`,
		`\s+cortex-apis/iris\s+arn:aws:iam::123456789012:role/iris-reader \(EKS Pod Identity, association a-\S+\)`, `image\s+cortex:test`, `operator\s+ready`, `gateway\s+ready`, `operator endpoint\s+https://\S+\.elb\.amazonaws\.com`} {
		if !regexp.MustCompile(`(?m)^` + want + `$|^` + want + ` `).MatchString(h.out.String()) {
			t.Errorf("info table lacks %q:\n%s", want, h.out)
		}
	}
	// configure: the diff, --dry-run changes nothing, no terminal needs --yes.
	bigger := h.writeConfig("cluster_name: cli-one\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nnode_groups: [{name: ng-cpu, instance_type: m5.large, min_instances: 1, max_instances: 7}]\n")
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--dry-run"); err != nil {
		t.Fatalf("configure --dry-run: %v %s", err, h.errOut)
	}
	if !strings.Contains(h.out.String(), "node_groups[ng-cpu].max_instances: 5 -> 7") || !strings.Contains(h.out.String(), "dry run") {
		t.Errorf("configure --dry-run output: %s", h.out)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("configure without --yes and terminal: %v", err)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--dry-run"); err != nil || !strings.Contains(h.out.String(), "5 -> 7") {
		t.Fatalf("the refused configure changed the cluster: %v %s", err, h.out)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--yes"); err != nil {
		t.Fatalf("configure --yes: %v %s", err, h.errOut)
	}
	if err := h.run(NewCmdConfigure(h.factory, nil), bigger, "--dry-run"); err != nil || !strings.Contains(h.out.String(), "nothing to change") {
		t.Fatalf("after configure: %v %s", err, h.out)
	}
	if err := h.run(NewCmdCredentials(h.factory), "forget", "cli-one"); err != nil || !strings.Contains(h.out.String(), "forgot the credentials of cluster cli-one in us-west-2") {
		t.Fatalf("credentials forget: %v %s", err, h.out)
	}
	if e, _ := os.ReadFile(filepath.Join(h.dir, "clusters", "cli-one-us-west-2.credentials.json")); e != nil {
		t.Fatalf("forget left %s", e)
	}
	if err := h.run(NewCmdDown(h.factory, nil), bigger); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("down without --yes and terminal: %v", err)
	}
	if err := h.run(down(), bigger, "--yes", "--poll-interval", "10ms"); err != nil {
		t.Fatalf("%v\n%s", err, h.errOut)
	}
	// Kubernetes first: no cortex object is left in the cluster.
	for _, ns := range []string{"cortex", "cortex-apis"} {
		secs, err := kube.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=cortex"})
		if err != nil || len(secs.Items) != 0 {
			t.Errorf("down left Secrets in %s: %v", ns, err)
		}
		deps, err := kube.Client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(deps.Items) != 0 {
			t.Errorf("down left Deployments in %s: %v", ns, err)
		}
	}
	if !strings.Contains(h.out.String(), "removed environment cli-one") {
		t.Errorf("down output: %s", h.out)
	}
	cc, _ = cliconfig.Load(h.dir)
	if _, err := cc.Get("cli-one"); err == nil {
		t.Error("environment survived down")
	}
	if ents, _ := os.ReadDir(filepath.Join(h.dir, "clusters")); len(ents) != 0 {
		t.Errorf("cluster cache survived down: %v", ents)
	}
	// Again: there is no such cluster any more, and down says so.
	if err := h.run(down(), bigger, "--yes", "--poll-interval", "10ms"); err == nil || !strings.Contains(err.Error(), "there is no cluster cli-one in us-west-2") {
		t.Fatalf("down of a deleted cluster: %v\n%s", err, h.out)
	}
}

// On a terminal, `cluster down` asks before anything is looked up, through the prompter: "n"
// aborts with exit code 1, the end of input is no answer. Without a terminal it needs --yes.
func TestDownConfirmationOnATerminalAndNot(t *testing.T) {
	for _, tc := range []struct {
		tty  bool
		in   string
		err  string
		code int
	}{
		{false, "", "pass --yes to go ahead", 0},
		{true, "n\n", "aborted", 1},
		{true, "", "no answer", 0},
	} {
		h := newHarness(t)
		h.factory, h.out, h.errOut = cmdutil.TestFactory(h.dir, tc.in, tc.tty)
		err := h.run(NewCmdDown(h.factory, nil), "--name", "gone", "--region", "us-west-2")
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("tty %v, %q: err %v, want %q", tc.tty, tc.in, err, tc.err)
		}
		var ee *cmdutil.ExitError
		if tc.code != 0 && (!errors.As(err, &ee) || ee.Code != tc.code) {
			t.Errorf("tty %v: exit %v, want %d", tc.tty, err, tc.code)
		}
		if tc.tty && !strings.Contains(h.errOut.String(), "delete cluster gone in us-west-2 and every AWS resource") {
			t.Errorf("tty %v: question not asked: %q", tc.tty, h.errOut)
		}
		if strings.Contains(h.errOut.String(), "using AWS credentials") {
			t.Errorf("credentials were looked up before the answer: %q", h.errOut)
		}
	}
}

// serveInstalledOperator runs, in-process, the operator exactly as the install's Deployment runs
// it (its arguments, its TLS Secret), with what only a pod has replaced: the files' paths, a
// loopback listen address, a kubeconfig acting as its ServiceAccount, and a local admin token.
// On kwok no pod runs; this is the operator the load balancer's target would reach.
func serveInstalledOperator(t *testing.T, kube *kubetest.Cluster) (addr, adminToken string) {
	t.Helper()
	ctx := context.Background()
	dep, err := kube.Client.AppsV1().Deployments("cortex").Get(ctx, "cortex-operator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := kube.Client.CoreV1().Secrets("cortex").Get(ctx, "cortex-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tlsDir, stateDir := filepath.Join(dir, "tls"), filepath.Join(dir, "state")
	for _, d := range []string{tlsDir, stateDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range sec.Data {
		if err := os.WriteFile(filepath.Join(tlsDir, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := clientcmd.LoadFromFile(kube.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:cortex:cortex-operator"
	}
	kubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		a = strings.Replace(a, "/etc/cortex/tls", tlsDir, 1)
		a = strings.Replace(a, "--state-dir=/tmp/cortex", "--state-dir="+stateDir, 1)
		a = strings.Replace(a, "--listen=0.0.0.0:8888", "--listen=127.0.0.1:0", 1)
		args = append(args, a)
	}
	if len(args) < 2 || args[0] != "operator" || args[1] != "serve" {
		t.Fatalf("installed args %q", args)
	}
	tokenFile := filepath.Join(dir, "admin.token")
	args = append(args, "--kubeconfig="+kubeconfig, "--local-token-file="+tokenFile)
	f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	cmd := operatorcmd.NewCmdOperator(f)
	cmd.SetArgs(args[1:])
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("operator: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	err = kubetest.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("the operator exited: %v", err)
		default:
		}
		b, err := os.ReadFile(filepath.Join(stateDir, "operator.addr"))
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := operator.LoadOrCreateLocalToken(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return addr, operator.LocalTokenPrefix + tok
}

// checkEnvReachesOperator calls the operator through the environment `up` wrote: its endpoint
// (the load balancer's DNS name, resolved here to the in-process operator) and its pinned CA only.
func checkEnvReachesOperator(t *testing.T, env *cliconfig.Environment, addr, adminToken string) {
	t.Helper()
	u, err := url.Parse(env.OperatorEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(env.CACert)) {
		t.Fatal("the environment's CA does not parse")
	}
	lb := net.JoinHostPort(u.Hostname(), "443")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if a != lb {
				return nil, fmt.Errorf("dialed %s, not the load balancer %s", a, lb)
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	req, _ := http.NewRequest(http.MethodGet, env.OperatorEndpoint+"/v1/info", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("the environment's endpoint and CA: %v", err)
	}
	defer resp.Body.Close()
	var info struct {
		Cluster struct {
			ID              string   `json:"id"`
			Provider        string   `json:"provider"`
			AccountID       string   `json:"account_id"`
			Region          string   `json:"region"`
			CreatorARN      string   `json:"creator_arn"`
			PublicEndpoints []string `json:"public_endpoints"`
		} `json:"cluster"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &info) != nil {
		t.Fatalf("/v1/info: %s %s", resp.Status, body)
	}
	c := info.Cluster
	if c.ID != env.ClusterID || c.Provider != "aws" || c.AccountID != "123456789012" || c.Region != "us-west-2" || c.CreatorARN != "arn:aws:iam::123456789012:user/spinup" ||
		len(c.PublicEndpoints) != 1 || c.PublicEndpoints[0] != mustAudience(t, env.OperatorEndpoint) {
		t.Errorf("/v1/info through the environment: %s", body)
	}
}

// iamUserKey makes an IAM user with an access key in moto (authentication off).
func iamUserKey(t *testing.T, url, name string) (string, string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-west-2"), config.WithBaseEndpoint(url),
		config.WithCredentialsProvider(awscreds.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")))
	if err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
}

func mustAudience(t *testing.T, endpoint string) string {
	t.Helper()
	a, err := identity.NormalizeAudience(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
