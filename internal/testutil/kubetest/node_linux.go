package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The real node's network. The kubelet refuses a loopback node IP (and the API server dials the
// kubelet at that address for pods/log), so the node gets an address of its own on a veth pair
// whose other end lives in a network namespace the harness creates. The API server listens on
// the same address: the pods reach it through their bridge's gateway (there is no kube-proxy, so
// the kubernetes Service's ClusterIP leads nowhere). Fixed names and ranges: one real node runs on
// a host at a time (a host-wide lock), and a crashed run's leftovers are recognised by name.
const (
	// RealNodeName is the real node's name.
	RealNodeName = "cortex-realnode-0"
	// RealNodeIP is the node's address (the host end of the veth pair; the API server's too).
	RealNodeIP = "10.213.0.1"
	// PodCIDR holds the real node's pod addresses (the CNI bridge, host-local IPAM).
	PodCIDR = "10.214.0.0/24"

	nodePeerIP = "10.213.0.2"
	nodePrefix = 30
	nodeNetns  = "cortex-kubetest"
	nodeVeth   = "cxnode0"
	nodePeer   = "cxpeer0"
	nodeBridge = "cortexbr0"
	nodeCNINet = "cortex-kubetest"
	hostLock   = "/run/lock/cortex-kubetest-node.lock"
)

// Host state the kubelet, containerd and the CNI plugins change, which the harness records before
// the node starts and restores after it stops (docs/testing.md lists them).
var (
	// Sysctls the kubelet sets at start (kernel defaults it "protects"), and ip_forward, which the
	// bridge plugin turns on for a gateway bridge.
	nodeSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
		"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward"}
	// Directories written outside the node's own directory: pod network namespaces (containerd),
	// CNI's result cache, the kubelet's /var/log/containers links, containerd's shim sockets.
	nodePaths = []string{"/run/netns", "/var/lib/cni", "/var/log/containers", "/var/log/pods", "/run/containerd",
		"/var/lib/kubelet", "/etc/kubernetes", "/opt/containerd"}
)

// Node is a real node: a kubelet with containerd and runc, registered with the cluster.
type Node struct {
	// Name and IP of the node (RealNodeName, RealNodeIP).
	Name, IP string
	// Images are the names of the images imported into the node's containerd, by role as in
	// .cache/images/images.json (cortex, pause, testserver, python-runtime): pods use them as is
	// (no registry: the kubelet finds them present and pulls nothing).
	Images map[string]string
	// StartTime is how long the node took from its containerd's start to Ready, images imported.
	StartTime time.Duration

	dir        string
	containerd *proc
	kubelet    *proc
	socket     string
}

// nodeHost is what prepareNode set up on the host before the control plane starts.
type nodeHost struct {
	ip      net.IP
	bins    string // containerd, ctr, runc, cni/
	kubelet string
	images  map[string]imageEntry
}

type imageEntry struct {
	Name    string `json:"name"`
	Archive string `json:"archive"`
}

// hostState is the recorded state prepareNode restores.
type hostState struct {
	sysctls map[string]string
	paths   map[string]map[string]bool // existing entries; nil: the path did not exist
	cgroups []string                   // /sys/fs/cgroup/<hierarchy>/kubepods that did not exist
}

// unavailable skips the test (or fails it under CI=true, where every piece must be there).
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("kubetest real node: "+format, args...)
	}
	t.Skipf("kubetest real node: "+format, args...)
}

// prepareNode checks the pieces of a real node, takes the host-wide lock, records the host state
// the node changes and creates the node's network; t.Cleanup undoes all of it, after the control
// plane stopped.
func prepareNode(t testing.TB, binDir string, hook func(phase string)) *nodeHost {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "needs root (network namespaces, containerd, the kubelet)")
	}
	h := &nodeHost{ip: net.ParseIP(RealNodeIP), kubelet: filepath.Join(binDir, "kubelet")}
	if st, err := os.Stat(h.kubelet); err != nil || st.Mode()&0o111 == 0 {
		unavailable(t, "%s is missing: run scripts/k8s-bins.sh", h.kubelet)
	}
	for _, tool := range []string{"ip", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not found (iproute2, mount)", tool)
		}
	}
	root, err := repoRoot()
	if err != nil {
		unavailable(t, "%v", err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "node-bins.sh"), "--cached").Output()
	if err != nil {
		unavailable(t, "containerd, runc and the CNI plugins are not downloaded: run scripts/node-bins.sh")
	}
	h.bins = strings.TrimSpace(string(out))
	b, err := os.ReadFile(filepath.Join(root, ".cache", "images", "images.json"))
	if err == nil {
		err = json.Unmarshal(b, &h.images)
	}
	if err != nil {
		unavailable(t, "no images (%v): run scripts/build-images.sh", err)
	}
	for _, role := range []string{"pause", "testserver", "cortex"} {
		if _, err := os.Stat(h.images[role].Archive); err != nil {
			unavailable(t, "image %s: %v: run scripts/build-images.sh", role, err)
		}
	}

	lock, err := os.OpenFile(hostLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("kubetest real node: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("kubetest real node: waiting for another real node on this host to stop (%s)", hostLock)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatalf("kubetest real node: lock %s: %v", hostLock, err)
		}
	}
	// The harness kills what is left in /kubepods at the end: it must be the only kubelet here.
	for _, p := range kubepodsCgroups() {
		if _, err := os.Stat(p); err == nil {
			lock.Close()
			unavailable(t, "%s exists: another kubelet runs on this host, or a killed run left it (stop its pods and remove the cgroup)", p)
		}
	}
	if hook != nil {
		hook("locked")
	}
	state := recordHost()
	t.Cleanup(func() {
		removeNetwork()
		for _, err := range state.restore() {
			t.Errorf("kubetest real node: restore the host: %v", err)
		}
		if hook != nil {
			hook("restored")
		}
		lock.Close() // releases the lock
	})
	// A crashed run's network (recognised by its names) goes first.
	removeNetwork()
	if err := checkFreeRanges(); err != nil {
		unavailable(t, "%v", err)
	}
	if err := createNetwork(); err != nil {
		t.Fatalf("kubetest real node: network: %v", err)
	}
	return h
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func createNetwork() error {
	cidr := "/" + strconv.Itoa(nodePrefix)
	for _, args := range [][]string{
		{"netns", "add", nodeNetns},
		{"link", "add", nodeVeth, "type", "veth", "peer", "name", nodePeer, "netns", nodeNetns},
		{"addr", "add", RealNodeIP + cidr, "dev", nodeVeth},
		{"link", "set", nodeVeth, "up"},
		{"-n", nodeNetns, "addr", "add", nodePeerIP + cidr, "dev", nodePeer},
		{"-n", nodeNetns, "link", "set", nodePeer, "up"},
		{"-n", nodeNetns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

// removeNetwork deletes what createNetwork and the CNI bridge plugin made (missing pieces are fine).
func removeNetwork() {
	_ = ipCmd("link", "del", nodeBridge)
	_ = ipCmd("link", "del", nodeVeth) // and its peer
	_ = ipCmd("netns", "del", nodeNetns)
}

// checkFreeRanges refuses to run when the host already uses the node's or the pods' ranges.
func checkFreeRanges() error {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return fmt.Errorf("ip addr: %v", err)
	}
	_, nodeNet, _ := net.ParseCIDR(RealNodeIP + "/" + strconv.Itoa(nodePrefix))
	_, podNet, _ := net.ParseCIDR(PodCIDR)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet" {
				continue
			}
			ip, ipnet, err := net.ParseCIDR(f[i+1])
			if err != nil {
				continue
			}
			if nodeNet.Contains(ip) || podNet.Contains(ip) || ipnet.Contains(nodeNet.IP) || ipnet.Contains(podNet.IP) {
				return fmt.Errorf("the host already uses %s (%s), which overlaps the test node's %s or pods' %s", f[i+1], f[1], nodeNet, PodCIDR)
			}
		}
	}
	return nil
}

func recordHost() *hostState {
	s := &hostState{sysctls: map[string]string{}, paths: map[string]map[string]bool{}}
	for _, k := range nodeSysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s.sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, p := range nodePaths {
		entries, err := os.ReadDir(p)
		if err != nil {
			s.paths[p] = nil
			continue
		}
		have := map[string]bool{}
		for _, e := range entries {
			have[e.Name()] = true
		}
		s.paths[p] = have
	}
	for _, p := range kubepodsCgroups() {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			s.cgroups = append(s.cgroups, p)
		}
	}
	return s
}

// kubepodsCgroups are where the kubelet (cgroupfs driver) puts its pods: /kubepods in every
// cgroup v1 hierarchy, or in the unified (v2) hierarchy.
func kubepodsCgroups() []string {
	paths := []string{"/sys/fs/cgroup/kubepods"}
	hierarchies, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hierarchies {
		if h.IsDir() {
			paths = append(paths, filepath.Join("/sys/fs/cgroup", h.Name(), "kubepods"))
		}
	}
	return paths
}

// restore puts the recorded state back: sysctls, new entries in the shared directories (network
// namespaces are unmounted first), the kubelet's cgroups.
func (s *hostState) restore() []error {
	var errs []error
	for k, v := range s.sysctls {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err == nil && strings.TrimSpace(string(b)) == v {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s=%s: %v", k, v, err))
		}
	}
	for _, p := range nodePaths {
		before := s.paths[p]
		entries, err := os.ReadDir(p)
		if err != nil {
			continue // not there: nothing to undo
		}
		for _, e := range entries {
			if before != nil && before[e.Name()] {
				continue
			}
			path := filepath.Join(p, e.Name())
			if p == "/run/netns" {
				_ = syscall.Unmount(path, syscall.MNT_DETACH)
			}
			if err := os.RemoveAll(path); err != nil {
				errs = append(errs, err)
			}
		}
		if before == nil {
			if p == "/run/netns" {
				_ = syscall.Unmount(p, syscall.MNT_DETACH) // ip netns bind-mounts the directory on itself
			}
			if err := os.Remove(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, cg := range s.cgroups {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// removeCgroup removes a cgroup directory and its children, deepest first (rmdir: a cgroup's
// files cannot be unlinked). A cgroup whose last processes are still exiting (killed a moment
// ago) is busy: it retries for up to 15 s, so the next real node, waiting for the host-wide lock,
// does not find this one's /kubepods (seen once: blkio's was still there when the lock passed).
func removeCgroup(dir string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := removeCgroupOnce(dir)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // polling the condition (the directory gone), bounded
	}
}

func removeCgroupOnce(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var last error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			last = fmt.Errorf("rmdir %s: %v", d, err)
		}
	}
	return last
}

// startNode starts containerd (CRI on, images imported) and the kubelet, and waits until the node
// is Ready. t.Cleanup drains it and stops both before the control plane stops.
func (c *Cluster) startNode(t testing.TB, h *nodeHost) *Node {
	t.Helper()
	begin := time.Now()
	n := &Node{Name: RealNodeName, IP: RealNodeIP, Images: map[string]string{}, dir: filepath.Join(c.dir, "node")}
	n.socket = filepath.Join(n.dir, "containerd.sock")
	t.Cleanup(func() { c.stopNode(t, n) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.bootNode(ctx, h, n); err != nil {
		t.Fatalf("kubetest real node: %v\n%s", err, n.logTails())
	}
	n.StartTime = time.Since(begin)
	t.Logf("kubetest: real node %s (%s) Ready in %s", n.Name, n.IP, n.StartTime.Round(10*time.Millisecond))
	return n
}

func (c *Cluster) bootNode(ctx context.Context, h *nodeHost, n *Node) error {
	for _, d := range []string{n.dir, filepath.Join(n.dir, "cni"), filepath.Join(n.dir, "kubelet"), filepath.Join(n.dir, "pod-logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for role, img := range h.images {
		n.Images[role] = img.Name
	}

	// containerd with its CRI plugin. restrict_oom_score_adj: the test's sandbox lacks
	// CAP_SYS_RESOURCE, and without it runc fails to start the pause container. The pause image is
	// ours (no registry to pull registry.k8s.io/pause from).
	cniConf := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": %q, "plugins": [{
  "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}],
           "dataDir": %q}}]}`, nodeCNINet, nodeBridge, PodCIDR, filepath.Join(n.dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "10-cortex.conflist"), []byte(cniConf), 0o600); err != nil {
		return err
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
# /opt/containerd is the "opt" plugin's: nothing of the host's.
disabled_plugins = ["io.containerd.internal.v1.opt"]
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(n.dir, "containerd"), filepath.Join(n.dir, "containerd-state"), n.socket,
		"docker.io/library/"+h.images["pause"].Name, filepath.Join(h.bins, "cni"), filepath.Join(n.dir, "cni"))
	configFile := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return err
	}
	// The shim finds runc on PATH; containerd finds the shim there.
	env := []string{"PATH=" + h.bins + ":" + os.Getenv("PATH")}
	var err error
	n.containerd, err = c.startProc("containerd", filepath.Join(h.bins, "containerd"), env, "--config", configFile)
	if err != nil {
		return err
	}
	ctr := func(args ...string) error {
		out, err := exec.CommandContext(ctx, filepath.Join(h.bins, "ctr"), append([]string{"-a", n.socket, "-n", "k8s.io"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if err := n.exited(); err != nil {
			return false, err
		}
		return ctr("version") == nil, nil
	}); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	roles := make([]string, 0, len(h.images))
	for role := range h.images {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		if err := ctr("images", "import", h.images[role].Archive); err != nil {
			return err
		}
	}

	// The kubelet: a client certificate of the Node authorizer's form, a serving certificate for
	// the node's address (the API server verifies it for pods/log), cgroupfs, no swap check, no
	// image garbage collection (an image removed could not be pulled again).
	clientCert, clientKey := filepath.Join(n.dir, "kubelet-client.crt"), filepath.Join(n.dir, "kubelet-client.key")
	certPEM, keyPEM, err := c.pki.issue(10, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + n.Name, Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, clientCert, clientKey)
	if err != nil {
		return err
	}
	servingCert, servingKey := filepath.Join(n.dir, "kubelet.crt"), filepath.Join(n.dir, "kubelet.key")
	if _, _, err := c.pki.issue(11, &x509.Certificate{
		Subject:     pkix.Name{CommonName: n.Name},
		DNSNames:    []string{n.Name},
		IPAddresses: []net.IP{h.ip},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, servingCert, servingKey); err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.dir, "kubelet.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos["kubelet"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubelet"}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	kubeletConfig := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %q
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
containerRuntimeEndpoint: %q
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
tlsCertFile: %q
tlsPrivateKeyFile: %q
podLogsDir: %q
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
maxPods: 30
serializeImagePulls: false
`, RealNodeIP, ports[0], ports[1], "unix://"+n.socket, c.pki.caFile, servingCert, servingKey, filepath.Join(n.dir, "pod-logs"))
	kubeletConfigFile := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(kubeletConfigFile, []byte(kubeletConfig), 0o600); err != nil {
		return err
	}
	n.kubelet, err = c.startProc("kubelet", h.kubelet, env,
		"--config="+kubeletConfigFile, "--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(n.dir, "kubelet"), "--cert-dir="+filepath.Join(n.dir, "kubelet", "pki"),
		"--hostname-override="+n.Name, "--node-ip="+RealNodeIP, "--v=1")
	if err != nil {
		return err
	}
	return Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if err := n.exited(); err != nil {
			return false, err
		}
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil // not registered yet
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return untaint(ctx, c.Client, node)
			}
		}
		return false, nil
	})
}

func (n *Node) exited() error {
	for _, p := range []*proc{n.containerd, n.kubelet} {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("%s: %w: %v", p.name, errExited, p.err)
		default:
		}
	}
	return nil
}

func (n *Node) logTails() string {
	c := &Cluster{}
	for _, p := range []*proc{n.containerd, n.kubelet} {
		if p != nil {
			c.procs = append(c.procs, p)
		}
	}
	return c.logTails()
}

// stopNode drains the node (its pods' sandboxes and network namespaces go through the kubelet
// and containerd as in production), stops the kubelet, kills what is left of the pods (the shims
// of this containerd and the processes in the kubelet's cgroups, by pid), stops containerd and
// unmounts what the node mounted under its directory.
func (c *Cluster) stopNode(t testing.TB, n *Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if n.kubelet != nil && n.exited() == nil {
		_, _ = c.Client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
		onNode := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", n.Name).String()}
		grace := int64(1)
		err := Poll(ctx, 200*time.Millisecond, func() (bool, error) {
			pods, err := c.Client.CoreV1().Pods("").List(ctx, onNode)
			if err != nil {
				return false, err
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil {
					_ = c.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
				}
			}
			return len(pods.Items) == 0, nil
		})
		if err != nil {
			t.Logf("kubetest real node: drain: %v (killing what is left)", err)
		}
	}
	if n.kubelet != nil {
		n.kubelet.stop()
	}
	killLeftovers(n.socket)
	if n.containerd != nil {
		n.containerd.stop()
	}
	unmountUnder(n.dir)
	if t.Failed() {
		t.Logf("kubetest real node: logs in %s (containerd.log, kubelet.log; pod logs in node/pod-logs)", c.dir)
	}
}

// killLeftovers SIGKILLs the runc shims of the containerd at socket and every process still in
// the kubelet's cgroups (both started by this node).
func killLeftovers(socket string) {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte("containerd-shim")) && bytes.Contains(cmdline, []byte("\x00-address\x00"+socket+"\x00")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, root := range []string{"/sys/fs/cgroup/pids/kubepods", "/sys/fs/cgroup/kubepods"} {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(path)
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if pid, err := strconv.Atoi(sc.Text()); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// unmountUnder detaches every mount below dir (container root filesystems, pod volumes), deepest
// first, so that the directory can be removed.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// ForwardService makes a ClusterIP Service reachable from the test's host, as kube-proxy would
// make it reachable from a node: the cluster IP becomes an address of the node's veth and the
// test listens on each Service port, copying each connection to a ready endpoint of the
// Service's EndpointSlices (looked up per connection). It is a stand-in for kube-proxy, which
// needs iptables or nftables, which this kind of machine does not have; the bytes (TLS included)
// pass through unchanged, so a client still verifies the pod's certificate end to end.
func (c *Cluster) ForwardService(t testing.TB, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	svc, err := c.Client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("forward %s/%s: %v", namespace, name, err)
	}
	ip := net.ParseIP(svc.Spec.ClusterIP)
	if ip == nil || ip.To4() == nil {
		t.Fatalf("forward %s/%s: cluster IP %q", namespace, name, svc.Spec.ClusterIP)
	}
	if err := ipCmd("addr", "add", ip.String()+"/32", "dev", nodeVeth); err != nil {
		t.Fatalf("forward %s/%s: %v", namespace, name, err)
	}
	t.Cleanup(func() { _ = ipCmd("addr", "del", ip.String()+"/32", "dev", nodeVeth) })
	for _, port := range svc.Spec.Ports {
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(int(port.Port))))
		if err != nil {
			t.Fatalf("forward %s/%s: %v", namespace, name, err)
		}
		t.Cleanup(func() { l.Close() })
		go func(portName string) {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				go c.forward(conn, namespace, name, portName)
			}
		}(port.Name)
	}
}

func (c *Cluster) forward(conn net.Conn, namespace, service, portName string) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slices, err := c.Client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + service})
	if err != nil {
		return
	}
	var target string
	for _, s := range slices.Items {
		for _, p := range s.Ports {
			if p.Name == nil || *p.Name != portName || p.Port == nil {
				continue
			}
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) > 0 {
					target = net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(*p.Port)))
				}
			}
		}
	}
	if target == "" {
		return // no ready endpoint: the client sees the connection closed, as with kube-proxy's reject
	}
	up, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
}
