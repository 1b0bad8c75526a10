// Package kubetest starts a real Kubernetes control plane for tests: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from the Go module proxy by
// scripts/k8s-bins.sh, plus kwok, which makes fake Nodes Ready and moves pods through their
// lifecycle without running containers. Everything listens on free 127.0.0.1 ports, lives in the
// test's temporary directory and is stopped by t.Cleanup.
//
// kwok is the one stand-in: no container runs (no logs, no exec, probes ignored), so a test that
// needs a process inside a pod asks for a real node (Options.RealNode, node_linux.go: a kubelet
// with containerd and runc, root only). Everything else (API server validation, RBAC,
// admission, the Deployment/ReplicaSet/EndpointSlice controllers, the scheduler's capacity
// checks) is the real thing.
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// BinDirEnv names the directory holding the control-plane binaries (scripts/test.sh sets it).
const BinDirEnv = "CORTEX_K8S_BIN_DIR"

// Binaries the harness needs.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// Node is the fake node every cluster gets: kwok keeps it Ready; the scheduler places pods on it
// within its allocatable resources.
const (
	NodeName = "kwok-node-0"
	// NodeGPUs is the node's allocatable nvidia.com/gpu.
	NodeGPUs = 4
	// NodeLabel is a label on the node (for node-selector tests).
	NodeLabel = "cortex.dev/node-group"
	// NodeGroup is NodeLabel's value.
	NodeGroup = "kwok"
)

// Cluster is a running control plane.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface
	// Kubeconfig is a kubeconfig file for Config (0600), e.g. for kubectl.
	Kubeconfig string
	// BinDir holds the binaries (kubectl too).
	BinDir string
	// ContainerLogFile is what kwok serves as the log of every container (pods/log): a test
	// writes lines to it. The bytes are the test's; the path from the API server to the node's
	// kubelet endpoint and back is the real one.
	ContainerLogFile string
	// StartTime is how long the control plane took to become ready (reported by the harness).
	StartTime time.Duration
	// Node is the real node (Options.RealNode), nil with kwok.
	Node *Node

	dir   string
	pki   *pki
	procs []*proc
	// extraArgs are appended to a binary's arguments (Options).
	extraArgs map[string][]string
}

// BinDir finds the control-plane binaries: $CORTEX_K8S_BIN_DIR, else a warm cache of
// scripts/k8s-bins.sh (which it never builds: a cold build takes minutes).
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, checkBins(d)
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "k8s-bins.sh"), "--cached").Output()
	if err != nil {
		return "", errors.New("the Kubernetes test binaries are not built: run scripts/k8s-bins.sh (about 8-16 min once, cached afterwards)")
	}
	d := strings.TrimSpace(string(out))
	return d, checkBins(d)
}

func checkBins(dir string) error {
	for _, b := range binaries {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s/%s is missing: run scripts/k8s-bins.sh", dir, b)
		}
	}
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "k8s-bins.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kubetest: repository root (scripts/k8s-bins.sh) not found above the working directory")
		}
		dir = parent
	}
}

// Start starts a control plane with one kwok node and waits until it serves: etcd healthy, the
// API server ready, the controller manager and scheduler healthy, the default ServiceAccount
// created (the service-account controllers run) and the node Ready. Without the binaries the test
// fails under CI=true and is skipped otherwise.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartWith(t, Options{})
}

// Options change how StartWith runs the control plane.
type Options struct {
	// TokenWebhook, when set, is called with the API server's URL before the API server starts and
	// returns the kubeconfig file of a TokenReview webhook: the API server then asks it about bearer
	// tokens it does not know itself (authentication.k8s.io/v1, answers not cached).
	TokenWebhook func(apiServerURL string) (configFile string, err error)
	// RealNode replaces the kwok node with a real one (see StartNode): a kubelet, containerd and
	// runc that run the pods' containers.
	RealNode bool
	// HostHook, with RealNode, is called while this test holds the host-wide lock of real nodes:
	// with "locked" before the node changes anything on the host, and with "restored" after the
	// harness put the host back. A test that compares the host in the two calls sees only its own
	// node, even while another package's real node waits for the lock.
	HostHook func(phase string)
	// APIServerArgs are appended to kube-apiserver's arguments (e.g. a --runtime-config that
	// turns an API off, to see a client's error on a cluster without it).
	APIServerArgs []string
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	binDir, err := BinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubetest: %v (CI must build them: scripts/test.sh runs scripts/k8s-bins.sh)", err)
		}
		t.Skipf("kubetest: %v", err)
	}
	var host *nodeHost
	if opts.RealNode {
		// Before the control plane: the API server listens on the node's address, which pods dial.
		host = prepareNode(t, binDir, opts.HostHook)
	}
	begin := time.Now()
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{BinDir: binDir, dir: dir}
	t.Cleanup(func() {
		c.stop()
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("kubetest: control-plane logs kept in %s", dir)
			os.RemoveAll(filepath.Join(dir, "etcd"))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.start(ctx, opts, host); err != nil {
		t.Fatalf("kubetest: %v\n%s", err, c.logTails())
	}
	c.StartTime = time.Since(begin)
	t.Logf("kubetest: control plane ready in %s", c.StartTime.Round(10*time.Millisecond))
	if host != nil {
		c.Node = c.startNode(t, host)
	}
	return c
}

func (c *Cluster) start(ctx context.Context, opts Options, node *nodeHost) error {
	bindIP := "127.0.0.1"
	var extraIPs []net.IP
	if node != nil {
		bindIP = node.ip.String()
		extraIPs = append(extraIPs, node.ip)
	}
	p, err := newPKI(c.dir, extraIPs...)
	if err != nil {
		return err
	}
	c.pki = p
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if err := c.run("etcd",
		"--name=default", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// Test data need not survive a power cut; fsync dominates etcd's latency otherwise.
		"--unsafe-no-fsync",
	); err != nil {
		return err
	}
	if err := waitHTTP(ctx, c, http.DefaultClient, etcdURL+"/health", `"health":"true"`); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}

	c.extraArgs = map[string][]string{}
	host := "https://" + net.JoinHostPort(bindIP, strconv.Itoa(apiPort))
	if opts.TokenWebhook != nil {
		file, err := opts.TokenWebhook(host)
		if err != nil {
			return fmt.Errorf("token webhook: %w", err)
		}
		// Cache TTL 0: a revoked identity is refused on its next request, not minutes later. (The
		// API server still keeps each successful token for 10 s: tests use a new token per case.)
		c.extraArgs["kube-apiserver"] = []string{"--authentication-token-webhook-config-file=" + file,
			"--authentication-token-webhook-version=v1", "--authentication-token-webhook-cache-ttl=0s"}
	}
	if node != nil {
		// pods/log and exec: the API server proves itself to the kubelet with the admin certificate.
		c.extraArgs["kube-apiserver"] = append(c.extraArgs["kube-apiserver"],
			"--kubelet-client-certificate="+p.adminCert, "--kubelet-client-key="+p.adminKey)
	}
	c.extraArgs["kube-apiserver"] = append(c.extraArgs["kube-apiserver"], opts.APIServerArgs...)
	if err := c.run("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address="+bindIP, "--advertise-address="+bindIP, "--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey,
		"--client-ca-file="+p.caFile,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// No kube-proxy or real node serves the kubernetes Service: do not maintain its endpoints.
		"--endpoint-reconciler-type=none",
		// pods/log goes to kwok's kubelet endpoint on 127.0.0.1, which serves the harness's cert.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority="+p.caFile,
	); err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host: host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: p.caPEM, CertData: p.adminCertPEM, KeyData: p.adminKeyPEM,
		},
		QPS: 200, Burst: 400,
	}
	tlsCfg, err := rest.TLSConfigFor(c.Config)
	if err != nil {
		return err
	}
	apiHTTP := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	if err := waitHTTP(ctx, c, apiHTTP, host+"/readyz", "ok"); err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, host, p); err != nil {
		return err
	}
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}

	if err := c.run("kube-controller-manager",
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey,
		"--leader-elect=false",
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caFile,
		"--use-service-account-credentials=false",
		"--cluster-cidr=10.244.0.0/16", "--service-cluster-ip-range=10.96.0.0/16",
		// No node lifecycle controller: kwok's heartbeats share its client's rate limit with pod
		// updates, and with hundreds of pods on a loaded machine they came minutes late (measured),
		// which made the controller mark every pod NotReady mid-test. The harness removes the
		// not-ready taint itself (see untaint), which is all that controller did for these tests.
		"--controllers=*,-node-lifecycle-controller",
	); err != nil {
		return err
	}
	if err := c.run("kube-scheduler",
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort),
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey,
		"--leader-elect=false",
	); err != nil {
		return err
	}
	// The controller manager and the scheduler serve the harness's 127.0.0.1 certificate (the API
	// server's), so their health is read over TLS verified against the harness's CA.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	verified := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 5 * time.Second}
	if err := waitHTTP(ctx, c, verified, "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz", "ok"); err != nil {
		return fmt.Errorf("kube-controller-manager: %w", err)
	}
	if err := waitHTTP(ctx, c, verified, "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/healthz", "ok"); err != nil {
		return fmt.Errorf("kube-scheduler: %w", err)
	}
	if node != nil {
		// The real node registers itself (startNode); no kwok.
		return c.waitReady(ctx, "")
	}

	// kwok serves every container's log from one file (ContainerLogFile) at the node's kubelet
	// endpoint, so the API server's pods/log path can be exercised without a container.
	c.ContainerLogFile = filepath.Join(c.dir, "container.log")
	if err := os.WriteFile(c.ContainerLogFile, nil, 0o600); err != nil {
		return err
	}
	kwokConfig := filepath.Join(c.dir, "kwok.yaml")
	if err := os.WriteFile(kwokConfig, []byte(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: container-logs
spec:
  logs:
  - logsFile: `+strconv.Quote(c.ContainerLogFile)+`
`), 0o600); err != nil {
		return err
	}
	if err := c.run("kwok",
		"--config="+kwokConfig,
		"--kubeconfig="+c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		// A pod annotated so keeps the status a test wrote (see SetPodStatus).
		"--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom",
		"--cidr=10.244.0.0/16", "--node-ip=127.0.0.1",
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort), "--node-port="+strconv.Itoa(kwokPort),
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey,
	); err != nil {
		return err
	}
	if err := c.createNode(ctx); err != nil {
		return err
	}
	return c.waitReady(ctx, NodeName)
}

// createNode registers the fake node kwok manages.
func (c *Cluster) createNode(ctx context.Context) error {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("2000"),
		"nvidia.com/gpu":      *resource.NewQuantity(NodeGPUs, resource.DecimalSI),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok", NodeLabel: NodeGroup,
			},
		},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	if len(created.Status.Allocatable) == 0 {
		created.Status.Capacity, created.Status.Allocatable = res, res
		if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node status: %w", err)
		}
	}
	return nil
}

// waitReady waits for the default ServiceAccount (the controller manager's service-account
// controllers run) and for the node (if named) to be Ready, then lifts its not-ready taint.
func (c *Cluster) waitReady(ctx context.Context, nodeName string) error {
	return Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		if err := c.exited(); err != nil {
			return false, err
		}
		if _, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		if nodeName == "" {
			return true, nil
		}
		n, err := c.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return untaint(ctx, c.Client, n)
			}
		}
		return false, nil
	})
}

// untaint removes the not-ready taint that admission puts on a new node, as the node lifecycle
// controller (not run here) does once the node is Ready: until then nothing is scheduled there.
func untaint(ctx context.Context, client kubernetes.Interface, n *corev1.Node) (bool, error) {
	var keep []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Key != corev1.TaintNodeNotReady {
			keep = append(keep, t)
		}
	}
	if len(keep) == len(n.Spec.Taints) {
		return true, nil
	}
	n = n.DeepCopy()
	n.Spec.Taints = keep
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return false, err
	}
	return false, nil // checked again on the next poll
}

// Namespace creates a namespace and waits for its default ServiceAccount.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	err = Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("namespace %s: default ServiceAccount: %v", name, err)
	}
}

// Poll calls cond every interval until it reports done, returns an error, or ctx ends.
func Poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	var last error
	for {
		done, err := cond()
		if err != nil {
			last = err
			if errors.Is(err, errExited) {
				return err
			}
		}
		if done && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

var errExited = errors.New("process exited")

func waitHTTP(ctx context.Context, c *Cluster, client *http.Client, url, want string) error {
	return Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		if err := c.exited(); err != nil {
			return false, err
		}
		resp, err := client.Get(url)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
			return false, fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
		}
		return true, nil
	})
}

func writeKubeconfig(path, host string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCertPEM, ClientKeyData: p.adminKeyPEM}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// proc is one control-plane process; its output goes to <dir>/<name>.log.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

func (c *Cluster) run(name string, args ...string) error {
	p, err := c.startProc(name, filepath.Join(c.BinDir, name), []string{"PATH=" + os.Getenv("PATH")}, append(args, c.extraArgs[name]...)...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// startProc starts path with env (plus HOME) and args, its output in <dir>/<name>.log.
func (c *Cluster) startProc(name, path string, env []string, args ...string) (*proc, error) {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.dir
	// Only what the binaries need: no AWS_* or other secrets of the test's environment.
	cmd.Env = append(env, "HOME="+c.dir)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports a control-plane process that ended before the test stopped it.
func (c *Cluster) exited() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			p.mu.Lock()
			err := p.err
			p.mu.Unlock()
			return fmt.Errorf("%s: %w: %v", p.name, errExited, err)
		default:
		}
	}
	return nil
}

// stop ends the processes in reverse order: SIGTERM, then SIGKILL after 10 s.
func (c *Cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop()
	}
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTails returns the last lines of each process's log (for a failed start).
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s (%s), last lines:\n", p.name, p.logPath)
		f, err := os.Open(p.logPath)
		if err != nil {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) > 15 {
				lines = lines[1:]
			}
		}
		f.Close()
		b.WriteString(strings.Join(lines, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// SetPodStatus replaces a pod's status as a kubelet would (through the status subresource) and
// marks the pod so kwok leaves that status alone. kwok runs no containers, so a test uses this
// to show the backend what a real kubelet reports for states kwok cannot produce (an image that
// cannot be pulled, a container in a crash loop).
func (c *Cluster) SetPodStatus(ctx context.Context, namespace, name string, mutate func(*corev1.PodStatus)) error {
	pods := c.Client.CoreV1().Pods(namespace)
	patch := []byte(`{"metadata":{"annotations":{"kwok.x-k8s.io/status":"custom"}}}`)
	if _, err := pods.Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		return err
	}
	return Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		mutate(&pod.Status)
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	})
}
