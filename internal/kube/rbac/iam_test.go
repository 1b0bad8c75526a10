package rbac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/certtest"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// ns is where the APIs run and where the cortex Roles are bound.
const ns = "cortex-apis"

// TestKubectlWithIAMIdentities is Kubernetes RBAC by IAM identity end to end, every piece real: IAM
// users in moto (auth on), the operator with its TokenReview webhook, a kube-apiserver configured
// to call it (cache TTL 0, client certificate), the Roles of this package applied with server-side
// apply, and kubectl whose kubeconfig comes from `cortex cluster kubeconfig` and runs a freshly
// built `cortex cluster token`.
func TestKubectlWithIAMIdentities(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice") // the cluster's creator: admin
	rita := awstest.CreateUser(t, admin, "rita")
	ursula := awstest.CreateUser(t, admin, "ursula") // never granted anything
	cortex := buildCortex(t)
	work := t.TempDir()

	var op *opserver.Operator
	cluster := kubetest.StartWith(t, kubetest.Options{TokenWebhook: func(apiServer string) (string, error) {
		caFile, certFile, keyFile := certtest.ClientCAFiles(t, work) // as the API server presents it to the webhook
		op = opserver.Start(t, operator.Config{STSTestEndpoint: moto.URL, AccountID: "123456789012", CreatorARN: alice.ARN,
			AuthMode: "rules", KubernetesAPIServers: []string{apiServer}, KubernetesWebhookClientCAFile: caFile})
		return webhookKubeconfig(t, work, op, certFile, keyFile), nil
	}})
	cluster.Namespace(t, ns)
	if err := rbac.Apply(context.Background(), cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	// An API's Deployment, as the operator makes it: what `deploy` may scale from kubectl.
	web := deployment("web", map[string]string{"app.kubernetes.io/managed-by": "cortex", "cortex.dev/api": "web"}, "registry.example/web:1", corev1.PodSpec{})
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cli := &runner{t: t, cortex: cortex, kubectl: filepath.Join(cluster.BinDir, "kubectl"), configDir: filepath.Join(work, "cortex")}
	cli.must(alice.Creds, cortex, "env", "configure", "test", "--operator-endpoint", op.URL, "--ca-file", op.CAFile)
	cli.must(alice.Creds, cortex, "cluster", "access", "grant", rita.ARN, "--role", "read")
	kubeconfig := filepath.Join(work, "test.kubeconfig")
	cli.must(alice.Creds, cortex, "-e", "test", "cluster", "kubeconfig", "--from-kubeconfig", cluster.Kubeconfig, "--output", kubeconfig)
	if fi, err := os.Stat(kubeconfig); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode: %v %v", fi, err)
	}
	kubectl := func(creds aws.Credentials, args ...string) (string, error) {
		return cli.run(creds, cli.kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...)
	}
	getPods := []string{"get", "pods"}
	// --dry-run=server: authorized like the real request, then nothing is stored, so it repeats.
	createDeployment := []string{"create", "deployment", "other", "--image=registry.example/web:1", "--dry-run=server"}
	scaleDeployment := []string{"scale", "deployment", "web", "--replicas=2", "--dry-run=server"}

	t.Run("read lists pods and cannot create or scale", func(t *testing.T) {
		who := whoami(t, kubectl, rita.Creds)
		if who.Username != rita.ARN || !slices.Contains(who.Groups, rbac.GroupRead) || slices.Contains(who.Groups, rbac.GroupDeploy) {
			t.Fatalf("kubectl auth whoami: %+v", who)
		}
		if out, err := kubectl(rita.Creds, getPods...); err != nil {
			t.Fatalf("get pods: %v\n%s", err, out)
		}
		out, err := kubectl(rita.Creds, createDeployment...)
		if err == nil || !strings.Contains(out, "forbidden") {
			t.Fatalf("read created a deployment: %v\n%s", err, out)
		}
		if out, err := kubectl(rita.Creds, scaleDeployment...); err == nil || !strings.Contains(out, "forbidden") {
			t.Fatalf("read scaled a deployment: %v\n%s", err, out)
		}
	})

	// deploy scales and restarts replicas from kubectl; writing an API is `cortex deploy` (the
	// operator builds its objects), so creating a Deployment stays forbidden.
	t.Run("after a grant of deploy it can scale and still cannot create", func(t *testing.T) {
		cli.must(alice.Creds, cortex, "cluster", "access", "grant", rita.ARN, "--role", "deploy")
		// Each second's token is new; a token minted in the same second as a read-only request may
		// still be in the API server's 10 s success cache, so wait for the condition, bounded.
		eventually(t, func() (bool, string) {
			out, err := kubectl(rita.Creds, scaleDeployment...)
			return err == nil, out
		})
		if out, err := kubectl(rita.Creds, createDeployment...); err == nil || !strings.Contains(out, "forbidden") {
			t.Fatalf("deploy created a deployment: %v\n%s", err, out)
		}
	})

	t.Run("after revoke it cannot", func(t *testing.T) {
		cli.must(alice.Creds, cortex, "cluster", "access", "revoke", rita.ARN)
		eventually(t, func() (bool, string) {
			out, err := kubectl(rita.Creds, getPods...)
			return err != nil && strings.Contains(out, "Unauthorized"), out
		})
		if out, err := kubectl(rita.Creds, scaleDeployment...); err == nil {
			t.Fatalf("revoked identity scaled a deployment:\n%s", out)
		}
	})

	t.Run("an unmapped identity is refused", func(t *testing.T) {
		out, err := kubectl(ursula.Creds, getPods...)
		if err == nil || !strings.Contains(out, "Unauthorized") {
			t.Fatalf("unmapped identity: %v\n%s", err, out)
		}
	})

	t.Run("a token for another cluster id is refused", func(t *testing.T) {
		cfg, err := cliconfig.Load(cli.configDir)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := cfg.Get("test")
		other := *env
		other.Name, other.ClusterID = "other", "another-cluster"
		cfg.Put(other)
		if err := cfg.Save(); err != nil {
			t.Fatal(err)
		}
		otherKubeconfig := filepath.Join(work, "other.kubeconfig")
		cli.must(alice.Creds, cortex, "-e", "other", "cluster", "kubeconfig", "--from-kubeconfig", cluster.Kubeconfig, "--output", otherKubeconfig)
		// alice is admin of the real cluster: only the cluster id is wrong.
		out, err := cli.run(alice.Creds, cli.kubectl, "--kubeconfig", otherKubeconfig, "-n", ns, "get", "pods")
		if err == nil || !strings.Contains(out, "Unauthorized") {
			t.Fatalf("token for another cluster id: %v\n%s", err, out)
		}
		if out, err := kubectl(alice.Creds, createDeployment...); err != nil {
			t.Fatalf("the admin with the right cluster id: %v\n%s", err, out)
		}
	})

	t.Run("the operator audit-logs every review by ARN", func(t *testing.T) {
		log := op.Log.String()
		for _, want := range []string{`"arn":"` + rita.ARN + `"`, `"arn":"` + ursula.ARN + `"`, `"reason":"sts_rejected"`} {
			found := false
			for _, l := range strings.Split(log, "\n") {
				if strings.Contains(l, operator.TokenReviewPath) && strings.Contains(l, want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no webhook audit line with %s", want)
			}
		}
		if strings.Contains(log, rita.Creds.SecretAccessKey) || strings.Contains(log, "cortex-aws-v2.") {
			t.Error("the operator log holds a secret or a token")
		}
		// Reported, not asserted: how long the operator took per review (each one verified with
		// moto's STS: the API server sends every request's token, and the tokens are all new).
		var ms []float64
		for _, l := range strings.Split(log, "\n") {
			var line struct {
				Path      string  `json:"path"`
				LatencyMS float64 `json:"latency_ms"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Path == operator.TokenReviewPath {
				ms = append(ms, line.LatencyMS)
			}
		}
		slices.Sort(ms)
		if len(ms) > 0 {
			t.Logf("webhook reviews: %d, latency min %.1f ms, median %.1f ms, max %.1f ms", len(ms), ms[0], ms[len(ms)/2], ms[len(ms)-1])
		}
	})
}

// runner runs the cortex binary and kubectl as a user would, with one user's AWS credentials in
// the environment and nothing else of the test process's.
type runner struct {
	t                                *testing.T
	cortex, kubectl, configDir, home string
}

func (r *runner) run(creds aws.Credentials, bin string, args ...string) (string, error) {
	r.t.Helper()
	if r.home == "" {
		r.home = r.t.TempDir()
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + r.home, cliconfig.DirEnv + "=" + r.configDir,
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_CONFIG_FILE=" + filepath.Join(r.home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(r.home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (r *runner) must(creds aws.Credentials, bin string, args ...string) string {
	r.t.Helper()
	out, err := r.run(creds, bin, args...)
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return out
}

type userInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// whoami is kubectl auth whoami (a SelfSubjectReview): who the API server thinks the caller is.
func whoami(t *testing.T, kubectl func(aws.Credentials, ...string) (string, error), creds aws.Credentials) userInfo {
	t.Helper()
	out, err := kubectl(creds, "auth", "whoami", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl auth whoami: %v\n%s", err, out)
	}
	var r struct {
		Status struct {
			UserInfo userInfo `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("whoami output %q: %v", out, err)
	}
	return r.Status.UserInfo
}

// eventually polls cond until it holds or 30 s pass.
func eventually(t *testing.T, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, out := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in 30s; last output:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildCortex builds the cortex binary kubectl runs as its exec plugin.
func buildCortex(t *testing.T) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			t.Fatal("repo root not found")
		}
		root = filepath.Dir(root)
	}
	bin := filepath.Join(t.TempDir(), "cortex")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cortex")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cortex: %v\n%s", err, out)
	}
	return bin
}

// webhookKubeconfig is the API server's --authentication-token-webhook-config-file: the
// operator's webhook URL, the operator's CA, and the API server's client certificate.
func webhookKubeconfig(t *testing.T, dir string, op *opserver.Operator, certFile, keyFile string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cortex-operator"] = &clientcmdapi.Cluster{Server: op.URL + operator.TokenReviewPath, CertificateAuthority: op.CAFile}
	cfg.AuthInfos["kube-apiserver"] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "cortex-operator", AuthInfo: "kube-apiserver"}
	cfg.CurrentContext = "webhook"
	file := filepath.Join(dir, "webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		t.Fatal(err)
	}
	return file
}
