package aws

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cortexlabs-go/cortex/internal/iampolicy"
	"github.com/cortexlabs-go/cortex/internal/kube/ekstoken"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// eksHarness is an "EKS" for `up`: moto for the AWS resources, eksfake in front of it, and a real
// control plane (kubetest) standing in for the EKS cluster's API server. The provisioner's own
// EKS client configuration is used (an EKS token on every request) with the endpoint resolved to
// the local API server; kubetest authenticates the admin by client certificate, so the token is
// recorded and checked for its form, not verified.
type eksHarness struct {
	url  string // eksfake (-> moto)
	kube *kubetest.Cluster
	rec  *recorder

	failClient atomic.Bool  // the Kubernetes client cannot be made (API server unreachable)
	failKube   atomic.Value // "METHOD resource" of Kubernetes requests to refuse

	mu        sync.Mutex
	endpoints []string // EKS endpoints the provisioner asked a client for
	tokens    []string // Authorization headers the API server got
}

func newEKSHarness(t *testing.T) *eksHarness {
	u := moto(t)
	h := &eksHarness{kube: kubetest.Start(t), rec: newRecorder()}
	h.failKube.Store("")
	h.url = eksfake.Start(t, eksfake.Options{Upstream: u, CreatorARN: "arn:aws:iam::123456789012:user/moto"}).URL
	return h
}

func (h *eksHarness) newKubeClient(_ context.Context, e EKSEndpoint) (kubernetes.Interface, error) {
	if h.failClient.Load() {
		return nil, errors.New("injected fault: the API server is unreachable")
	}
	h.mu.Lock()
	h.endpoints = append(h.endpoints, e.URL)
	h.mu.Unlock()
	eksCfg, err := eksRESTConfig(e)
	if err != nil {
		return nil, err
	}
	local := rest.CopyConfig(h.kube.Config)
	local.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return eksCfg.WrapTransport(&kubeRecorder{next: rt, h: h})
	}
	return kubernetes.NewForConfig(local)
}

type kubeRecorder struct {
	next http.RoundTripper
	h    *eksHarness
}

func (k *kubeRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	k.h.mu.Lock()
	k.h.tokens = append(k.h.tokens, r.Header.Get("Authorization"))
	k.h.mu.Unlock()
	if f := k.h.failKube.Load().(string); f != "" {
		method, resource, _ := strings.Cut(f, " ")
		if r.Method == method && strings.Contains(r.URL.Path, "/"+resource+"/") {
			return nil, fmt.Errorf("injected fault in %s %s", r.Method, r.URL.Path)
		}
	}
	return k.next.RoundTrip(r)
}

// provisioner makes a provisioner that installs image. moto's EKS makes no Auto Scaling group for
// a node group (it only names one); when the node-groups step is done, the harness creates that
// group in moto (one instance in the node group's subnets), as EKS would have.
func (h *eksHarness) provisioner(t *testing.T, dir, image string) *Provisioner {
	t.Helper()
	var p *Provisioner
	progress := func(e Event) {
		if e.Step == stepNodeGroups && e.Phase == PhaseDone && p.snapshot().Status == StatusCreating {
			if err := h.makeASGs(p); err != nil {
				t.Errorf("make the node groups' Auto Scaling groups: %v", err)
			}
		}
	}
	p, err := New(Options{AWS: awsConfig(h.url, h.rec), StateDir: dir, PollInterval: 20 * time.Millisecond, WaitTimeout: time.Minute,
		Progress: progress, Image: image, NewKubeClient: h.newKubeClient})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *eksHarness) makeASGs(p *Provisioner) error {
	ctx := context.Background()
	st := p.snapshot()
	imgs, err := p.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		return fmt.Errorf("no image in moto: %v", err)
	}
	for ng := range st.NodeGroups {
		d, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng)})
		if err != nil {
			return err
		}
		for _, a := range d.Nodegroup.Resources.AutoScalingGroups {
			name := aws.ToString(a.Name)
			cur, err := p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
			if err != nil {
				return err
			}
			if len(cur.AutoScalingGroups) > 0 {
				continue
			}
			if _, err := p.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(name),
				LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium}}); err != nil {
				return err
			}
			if _, err := p.asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name),
				LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(name)},
				MinSize:        aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
				VPCZoneIdentifier: aws.String(strings.Join(d.Nodegroup.Subnets, ","))}); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeASGs deletes what makeASGs made (EKS deletes a node group's group with the node group).
func (h *eksHarness) removeASGs(t *testing.T, p *Provisioner, asgs []string) {
	t.Helper()
	ctx := context.Background()
	for _, a := range asgs {
		_, err := p.asg.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(a), ForceDelete: aws.Bool(true)})
		must(t, err)
		_, err = p.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String(a)})
		must(t, err)
	}
}

// objectVersions are the resource versions of every cortex object in the cluster.
func objectVersions(t *testing.T, c kubernetes.Interface) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	sel := metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=" + install.ManagedBy}
	for _, ns := range []string{"cortex", "cortex-apis"} {
		add := func(kind string, items []metav1.Object) {
			for _, o := range items {
				out[kind+" "+ns+"/"+o.GetName()] = o.GetResourceVersion()
			}
		}
		deps, err := c.AppsV1().Deployments(ns).List(ctx, sel)
		must(t, err)
		svcs, err := c.CoreV1().Services(ns).List(ctx, sel)
		must(t, err)
		secs, err := c.CoreV1().Secrets(ns).List(ctx, sel)
		must(t, err)
		roles, err := c.RbacV1().Roles(ns).List(ctx, sel)
		must(t, err)
		var objs []metav1.Object
		// A Deployment's resourceVersion also moves with its controller's status writes (a rollout
		// that the first run started may still be finishing): what a write of up would change is
		// its generation (the spec) or its metadata.
		for _, d := range deps.Items {
			out["Deployment "+ns+"/"+d.Name] = fmt.Sprint("generation ", d.Generation, " ", d.Labels, " ", d.Annotations)
		}
		for i := range svcs.Items {
			objs = append(objs, &svcs.Items[i])
		}
		add("Service", objs)
		objs = nil
		for i := range secs.Items {
			objs = append(objs, &secs.Items[i])
		}
		add("Secret", objs)
		objs = nil
		for i := range roles.Items {
			objs = append(objs, &roles.Items[i])
		}
		add("Role", objs)
	}
	return out
}

// checkGatewayFindsOperator: the gateway pods resolve the operator Service's name (in their
// --operator URL) to its cluster IP from a hosts entry, without cluster DNS.
func checkGatewayFindsOperator(t *testing.T, c kubernetes.Interface, gw *appsv1.Deployment) {
	t.Helper()
	svc, err := c.CoreV1().Services("cortex").Get(context.Background(), install.OperatorName, metav1.GetOptions{})
	must(t, err)
	want := []corev1.HostAlias{{IP: svc.Spec.ClusterIP, Hostnames: []string{install.OperatorName + ".cortex.svc"}}}
	if got := gw.Spec.Template.Spec.HostAliases; svc.Spec.ClusterIP == "" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("gateway hostAliases %v, want %v", got, want)
	}
	if !slices.Contains(gw.Spec.Template.Spec.Containers[0].Args, "--operator=https://"+install.OperatorName+".cortex.svc:8888") {
		t.Errorf("gateway args %v: not the operator Service's name", gw.Spec.Template.Spec.Containers[0].Args)
	}
}

// checkOperatorAWSEndpoint: AWS_ENDPOINT_URL is in the operator's container exactly when want is
// set (TESTS ONLY), with that value.
func checkOperatorAWSEndpoint(t *testing.T, dep *appsv1.Deployment, want string) {
	t.Helper()
	var got []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if strings.HasPrefix(e.Name, "AWS_ENDPOINT_URL") {
			got = append(got, e.Name+"="+e.Value)
		}
	}
	if w := "AWS_ENDPOINT_URL=" + want; (want == "" && len(got) > 0) || (want != "" && (len(got) != 1 || got[0] != w)) {
		t.Errorf("operator AWS endpoint variables %v, want %q", got, want)
	}
}

// checkInstalled asserts what `up` put into the cluster and in front of it.
func checkInstalled(t *testing.T, h *eksHarness, p *Provisioner, res *Result) []string {
	t.Helper()
	ctx := context.Background()
	st := res.State
	c := h.kube.Client
	if !res.Installed || st.Kubernetes == nil {
		t.Fatalf("up says nothing was installed: %+v", res)
	}
	opDNS, apiDNS := st.OperatorLoadBalancer.DNSName, st.APILoadBalancer.DNSName

	// The EKS client: DescribeCluster's endpoint, an EKS token on every request.
	d, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(st.EKSCluster)})
	must(t, err)
	h.mu.Lock()
	endpoints, tokens := slices.Clone(h.endpoints), slices.Clone(h.tokens)
	h.mu.Unlock()
	if len(endpoints) == 0 || endpoints[len(endpoints)-1] != aws.ToString(d.Cluster.Endpoint) {
		t.Errorf("client asked for %v, want DescribeCluster's endpoint %s", endpoints, aws.ToString(d.Cluster.Endpoint))
	}
	for _, tok := range tokens {
		if !strings.HasPrefix(tok, "Bearer "+ekstoken.Prefix) {
			t.Fatalf("a request to the API server carried %.30q, not an EKS token", tok)
		}
	}

	// The operator: provider aws, the load balancer's name as its public endpoint.
	dep, err := c.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	must(t, err)
	args := dep.Spec.Template.Spec.Containers[0].Args
	for _, want := range []string{"--provider=aws", "--namespace=cortex", "--public-endpoint=https://" + opDNS, "--cluster-id=" + st.ClusterID,
		"--account-id=" + st.AccountID, "--region=" + st.Region, "--creator-arn=" + st.CreatorARN,
		// Its own AWS identity checked at start, and per-API roles in this EKS cluster.
		"--check-aws-identity", "--eks-pod-identity", "--cluster-name=" + st.EKSCluster} {
		if !slices.Contains(args, want) {
			t.Errorf("operator args %v lack %s", args, want)
		}
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != st.Kubernetes.Image {
		t.Errorf("image %s, state says %s", img, st.Kubernetes.Image)
	}
	// The gateway's public endpoint (what tokens are bound to, what the operator reports): the
	// API load balancer's name pinned to the cluster CA, or with ssl_certificate_arn the domain
	// its certificate covers, verified against public roots (--apis-public-tls), and that alone.
	var gwArgs []string
	for _, a := range args {
		if strings.HasPrefix(a, "--apis-public-") {
			gwArgs = append(gwArgs, a)
		}
	}
	wantGW := []string{"--apis-public-endpoint=https://" + apiDNS}
	wantEndpoint := "https://" + apiDNS
	if st.Config.SSLCertificateARN != "" {
		wantGW = []string{"--apis-public-endpoint=https://" + st.APIDomain, "--apis-public-tls"}
		wantEndpoint = "https://" + st.APIDomain
		if st.APIDomain == "" {
			t.Error("ssl_certificate_arn without an API domain in the state")
		}
	}
	if !slices.Equal(gwArgs, wantGW) {
		t.Errorf("operator args: gateway %v, want %v", gwArgs, wantGW)
	}
	if res.APIEndpoint != wantEndpoint || res.APILoadBalancerDNSName != apiDNS {
		t.Errorf("up reports the API endpoint %s (load balancer %s), want %s (%s)", res.APIEndpoint, res.APILoadBalancerDNSName, wantEndpoint, apiDNS)
	}
	// The gateway runs as its own Deployment, with the same image.
	gw, err := c.AppsV1().Deployments("cortex").Get(ctx, install.GatewayName, metav1.GetOptions{})
	must(t, err)
	if img := gw.Spec.Template.Spec.Containers[0].Image; img != st.Kubernetes.Image {
		t.Errorf("gateway image %s, state says %s", img, st.Kubernetes.Image)
	}
	checkGatewayFindsOperator(t, c, gw)
	// The operator's AWS SDK endpoint: AWS's, unless the tests-only --aws-test-endpoint named one.
	checkOperatorAWSEndpoint(t, dep, p.opts.AWSTestEndpoint)
	// Services on the fixed node ports.
	for name, port := range map[string]int32{install.OperatorName: OperatorNodePort, install.GatewayName: GatewayNodePort} {
		svc, err := c.CoreV1().Services("cortex").Get(ctx, name, metav1.GetOptions{})
		must(t, err)
		if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort != port {
			t.Errorf("Service %s: %s node port %d, want NodePort %d", name, svc.Spec.Type, svc.Spec.Ports[0].NodePort, port)
		}
	}
	// The CA the state (and so the environment) pins is the cluster's, and the operator's
	// certificate covers both load balancers' names.
	sec, err := c.CoreV1().Secrets("cortex").Get(ctx, install.TLSSecretName, metav1.GetOptions{})
	must(t, err)
	if string(sec.Data["ca.crt"]) != st.Kubernetes.CACert {
		t.Error("the state's CA is not the installed one")
	}
	blk, _ := pem.Decode(sec.Data[corev1.TLSCertKey])
	cert, err := x509.ParseCertificate(blk.Bytes)
	must(t, err)
	for _, n := range []string{opDNS, apiDNS} {
		if err := cert.VerifyHostname(n); err != nil {
			t.Errorf("operator certificate: %v", err)
		}
	}

	// Each load balancer: one listener on 443 forwarding to its target group on the node port,
	// the group attached to the node group's Auto Scaling group, its instance a target.
	var asgs []string
	for _, ng := range sortedTagKeys(st.NodeGroups) {
		dn, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng)})
		must(t, err)
		for _, a := range dn.Nodegroup.Resources.AutoScalingGroups {
			asgs = append(asgs, aws.ToString(a.Name))
		}
	}
	groups, err := p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: asgs})
	must(t, err)
	if len(asgs) == 0 || len(groups.AutoScalingGroups) != len(asgs) {
		t.Fatalf("Auto Scaling groups %v: found %d", asgs, len(groups.AutoScalingGroups))
	}
	// ssl_certificate_arn: TLS at the API load balancer (re-encrypting to the gateway).
	apiProto := elbtypes.ProtocolEnumTcp
	if st.Config.SSLCertificateARN != "" {
		apiProto = elbtypes.ProtocolEnumTls
	}
	for _, r := range []struct {
		kind  string
		lb    *LoadBalancer
		port  int32
		proto elbtypes.ProtocolEnum
		cert  string
	}{{"operator", st.OperatorLoadBalancer, OperatorNodePort, elbtypes.ProtocolEnumTcp, ""}, {"api", st.APILoadBalancer, GatewayNodePort, apiProto, st.Config.SSLCertificateARN}} {
		ls, err := p.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(r.lb.ARN)})
		must(t, err)
		if len(ls.Listeners) != 1 {
			t.Fatalf("%s load balancer: %d listeners", r.kind, len(ls.Listeners))
		}
		l := ls.Listeners[0]
		tgARN := st.TargetGroups[r.kind]
		if !sameCert(l.Certificates, r.cert) {
			t.Errorf("%s listener certificates %+v, want %q", r.kind, l.Certificates, r.cert)
		}
		if aws.ToInt32(l.Port) != 443 || l.Protocol != r.proto || len(l.DefaultActions) != 1 || l.DefaultActions[0].Type != elbtypes.ActionTypeEnumForward ||
			aws.ToString(l.DefaultActions[0].TargetGroupArn) != tgARN || tgARN == "" {
			t.Errorf("%s listener: port %d %s -> %+v, want 443 %s -> %s", r.kind, aws.ToInt32(l.Port), l.Protocol, l.DefaultActions, r.proto, tgARN)
		}
		tgs, err := p.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{tgARN}})
		must(t, err)
		tg := tgs.TargetGroups[0]
		if aws.ToInt32(tg.Port) != r.port || tg.Protocol != r.proto || tg.TargetType != elbtypes.TargetTypeEnumInstance || aws.ToString(tg.VpcId) != st.VPCID {
			t.Errorf("%s target group: port %d, %s, VPC %s; want %d, instance, %s", r.kind, aws.ToInt32(tg.Port), tg.TargetType, aws.ToString(tg.VpcId), r.port, st.VPCID)
		}
		checkLocalTargetGroup(t, p, r.kind, tg)
		for _, g := range groups.AutoScalingGroups {
			if !slices.Contains(g.TargetGroupARNs, tgARN) {
				t.Errorf("Auto Scaling group %s: target groups %v lack the %s one", aws.ToString(g.AutoScalingGroupName), g.TargetGroupARNs, r.kind)
			}
			health, err := p.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
			must(t, err)
			var targets []string
			for _, th := range health.TargetHealthDescriptions {
				targets = append(targets, aws.ToString(th.Target.Id))
			}
			for _, in := range g.Instances {
				if !slices.Contains(targets, aws.ToString(in.InstanceId)) {
					t.Errorf("%s target group: targets %v lack node %s", r.kind, targets, aws.ToString(in.InstanceId))
				}
			}
		}
	}
	return asgs
}

// checkLocalTargetGroup: the Services are externalTrafficPolicy Local, so a node port answers only
// on nodes with a replica; the health check is a TCP connect to the traffic port every 10 s, 2
// failures out (a node without a replica leaves within ~25 s), the client's address is kept, and
// every zone reaches the few healthy nodes (cross-zone).
func checkLocalTargetGroup(t *testing.T, p *Provisioner, kind string, tg elbtypes.TargetGroup) {
	t.Helper()
	if tg.HealthCheckProtocol != elbtypes.ProtocolEnumTcp || aws.ToString(tg.HealthCheckPort) != "traffic-port" ||
		aws.ToInt32(tg.HealthCheckIntervalSeconds) != 10 || aws.ToInt32(tg.HealthCheckTimeoutSeconds) != 5 ||
		aws.ToInt32(tg.HealthyThresholdCount) != 2 || aws.ToInt32(tg.UnhealthyThresholdCount) != 2 ||
		!aws.ToBool(tg.HealthCheckEnabled) {
		t.Errorf("%s target group health check: %s on %s every %ds (timeout %ds), healthy after %d, unhealthy after %d, enabled %v; want TCP on traffic-port every 10s (timeout 5s), 2 and 2",
			kind, tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPort), aws.ToInt32(tg.HealthCheckIntervalSeconds), aws.ToInt32(tg.HealthCheckTimeoutSeconds),
			aws.ToInt32(tg.HealthyThresholdCount), aws.ToInt32(tg.UnhealthyThresholdCount), aws.ToBool(tg.HealthCheckEnabled))
	}
	attrs, err := p.elb.DescribeTargetGroupAttributes(context.Background(), &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn})
	must(t, err)
	kv := map[string]string{}
	for _, a := range attrs.Attributes {
		kv[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if kv["preserve_client_ip.enabled"] != "true" || kv["load_balancing.cross_zone.enabled"] != "true" {
		t.Errorf("%s target group attributes %v: want preserve_client_ip.enabled and load_balancing.cross_zone.enabled true", kind, kv)
	}
}

// checkManagementPolicyAllows: every load balancer call up or down made (and the Auto Scaling attach) is
// an action of the management policy, the least a user of up needs (docs/aws.md).
func checkManagementPolicyAllows(t *testing.T, calls map[string]int) {
	t.Helper()
	doc, err := iampolicy.Render(iampolicy.Management, PolicyParams("aws", "123456789012", "eks-install", testRegion))
	must(t, err)
	allowed, err := iampolicy.Actions(doc)
	must(t, err)
	for op := range calls {
		var action string
		switch {
		case strings.HasPrefix(op, "Elastic Load Balancing v2."):
			action = "elasticloadbalancing:" + strings.TrimPrefix(op, "Elastic Load Balancing v2.")
		case op == "Auto Scaling.AttachLoadBalancerTargetGroups":
			action = "autoscaling:AttachLoadBalancerTargetGroups"
		default:
			continue
		}
		if !slices.Contains(allowed, action) {
			t.Errorf("called %s, which the management policy does not allow", action)
		}
	}
}

func checkClean(t *testing.T, h *eksHarness, p *Provisioner, name string) {
	t.Helper()
	if inv := takeInventory(t, p, name); !inv.empty() {
		t.Errorf("down left %v", inv)
	}
	items, err := install.Installed(context.Background(), h.kube.Client, "cortex", "cortex-apis")
	must(t, err)
	if len(items) > 0 {
		t.Errorf("down left %d cortex objects in the cluster: %v", len(items), items)
	}
}

const installConfig = "region: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nsubnet_visibility: private\n"

// `up` installs the kubernetes provider into the EKS cluster and routes both load balancers to
// it; a second `up` changes nothing; `down` uninstalls first and leaves nothing; a fault at each
// new step (in AWS or in Kubernetes) converges on the next run.
func TestUpInstallsIntoEKS(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()

	t.Run("up-rerun-down", func(t *testing.T) {
		dir := t.TempDir()
		cfg := mustConfig(t, "cluster_name: eks-install\n"+installConfig+
			"api_iam: {allowed_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess], allowed_role_arns: [arn:aws:iam::123456789012:role/team]}\n")
		p := h.provisioner(t, dir, "cortex:test")
		h.rec.reset()
		res, err := p.Up(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkManagementPolicyAllows(t, h.rec.reset())
		asgs := checkInstalled(t, h, p, res)
		// cluster.yaml's api_iam is the operator's allowlist of what APIs may be given.
		dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
		must(t, err)
		for _, want := range []string{"--api-allowed-policy-arn=arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "--api-allowed-role-arn=arn:aws:iam::123456789012:role/team"} {
			if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, want) {
				t.Errorf("operator args %v lack %s", dep.Spec.Template.Spec.Containers[0].Args, want)
			}
		}
		before := objectVersions(t, h.kube.Client)
		tgBefore := res.State.TargetGroups

		// Re-run: the same objects (no write changed any), no new AWS resource.
		rec := h.rec
		rec.mu.Lock()
		rec.calls = map[string]int{}
		rec.mu.Unlock()
		res2, err := h.provisioner(t, dir, "").Up(ctx, cfg) // the recorded image
		if err != nil {
			t.Fatal(err)
		}
		checkInstalled(t, h, p, res2)
		if after := objectVersions(t, h.kube.Client); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("re-running up changed objects:\nbefore %v\nafter  %v", before, after)
		}
		if fmt.Sprint(res2.State.TargetGroups) != fmt.Sprint(tgBefore) {
			t.Errorf("target groups %v, then %v", tgBefore, res2.State.TargetGroups)
		}
		rec.mu.Lock()
		for op, n := range rec.calls {
			if (strings.HasPrefix(op, "Elastic Load Balancing v2.") || strings.HasPrefix(op, "Auto Scaling.")) &&
				!strings.Contains(op, ".Describe") && !strings.HasSuffix(op, ".AttachLoadBalancerTargetGroups") {
				t.Errorf("re-running up called %s %d times", op, n)
			}
		}
		rec.mu.Unlock()

		// A cluster made before the Services were Local: its target groups have the old health
		// check (the node port, every 30 s, 5 to be healthy), client IP preservation off and the
		// load balancer's cross-zone setting. up converges them in place (same target groups).
		for _, arn := range tgBefore {
			_, err := p.elb.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(arn),
				HealthCheckPort: aws.String("30888"), HealthCheckIntervalSeconds: aws.Int32(30), HealthCheckTimeoutSeconds: aws.Int32(10),
				HealthyThresholdCount: aws.Int32(5), UnhealthyThresholdCount: aws.Int32(3)})
			must(t, err)
			_, err = p.elb.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
				Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("preserve_client_ip.enabled"), Value: aws.String("false")},
					{Key: aws.String("load_balancing.cross_zone.enabled"), Value: aws.String("use_load_balancer_configuration")}}})
			must(t, err)
		}
		rec.mu.Lock()
		rec.calls = map[string]int{}
		rec.mu.Unlock()
		res3, err := h.provisioner(t, dir, "").Up(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		converge := h.rec.reset()
		checkManagementPolicyAllows(t, converge)
		checkInstalled(t, h, p, res3)
		if fmt.Sprint(res3.State.TargetGroups) != fmt.Sprint(tgBefore) {
			t.Errorf("converging the health check replaced the target groups: %v, then %v", tgBefore, res3.State.TargetGroups)
		}
		for _, op := range []string{"ModifyTargetGroup", "ModifyTargetGroupAttributes"} {
			if n := converge["Elastic Load Balancing v2."+op]; n != 2 {
				t.Errorf("converging up called %s %d times, want 2 (once per target group)", op, n)
			}
		}

		// The APIs' image: the operator's until --api-image names one, which later runs keep,
		// also when they upgrade the operator's image.
		operatorArgs := func() []string {
			dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
			must(t, err)
			return dep.Spec.Template.Spec.Containers[0].Args
		}
		if args := operatorArgs(); !slices.Contains(args, "--api-image=cortex:test") {
			t.Errorf("without --api-image the APIs run the operator's image: %v", args)
		}
		p3 := h.provisioner(t, dir, "")
		p3.opts.APIImage = "registry.example/py:1"
		if _, err := p3.Up(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if args := operatorArgs(); !slices.Contains(args, "--api-image=registry.example/py:1") {
			t.Errorf("--api-image not installed: %v", args)
		}
		if _, err := h.provisioner(t, dir, "cortex:test2").Up(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if args := operatorArgs(); !slices.Contains(args, "--api-image=registry.example/py:1") {
			t.Errorf("an upgrade of the operator's image dropped the APIs' image: %v", args)
		}

		// TESTS ONLY: --aws-test-endpoint is the operator's AWS_ENDPOINT_URL for that run; a run
		// without it (every real one) leaves none.
		operatorDep := func() *appsv1.Deployment {
			dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
			must(t, err)
			return dep
		}
		p4 := h.provisioner(t, dir, "")
		p4.opts.AWSTestEndpoint = "http://127.0.0.1:5000"
		if _, err := p4.Up(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		checkOperatorAWSEndpoint(t, operatorDep(), "http://127.0.0.1:5000")
		if _, err := h.provisioner(t, dir, "").Up(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		checkOperatorAWSEndpoint(t, operatorDep(), "")

		h.rec.reset()
		rep, err := p.Down(ctx, "eks-install", DownOptions{})
		if err != nil {
			t.Fatalf("%v: %+v", err, rep.Leftovers)
		}
		checkManagementPolicyAllows(t, h.rec.reset())
		h.removeASGs(t, p, asgs)
		checkClean(t, h, p, "eks-install")
	})

	// ssl_certificate_arn: the API load balancer's listener is TLS with the certificate (one
	// imported into moto's ACM, so ISSUED); the operator's stays TCP (its CA stays pinned). APIs
	// are called at a name the certificate covers; a certificate that cannot serve is refused
	// before anything exists, and configure moves the API domain with the certificate.
	t.Run("ssl_certificate_arn", func(t *testing.T) {
		dir := t.TempDir()
		p := h.provisioner(t, dir, "cortex:test")
		am := acm.NewFromConfig(p.opts.AWS)
		both := importCert(t, am, "api.example.com", "*.example.com")
		wildcard := importCert(t, am, "*.example.com")
		pending, err := am.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("api.example.com")})
		must(t, err)
		arnPrefix := strings.TrimSuffix(both, both[strings.LastIndex(both, "/")+1:])
		for _, tc := range []struct{ yaml, err string }{
			{"ssl_certificate_arn: " + aws.ToString(pending.CertificateArn), "ssl_certificate_arn: the certificate for api.example.com is PENDING_VALIDATION, not ISSUED"},
			{"ssl_certificate_arn: " + arnPrefix + "12345678-1234-1234-1234-123456789012", "ssl_certificate_arn: ACM has no certificate"},
			{"ssl_certificate_arn: " + wildcard, "api_domain: required: the certificate " + wildcard + " has only wildcard names (*.example.com); set api_domain"},
			{"ssl_certificate_arn: " + both + "\napi_domain: api.example.org", "api_domain: api.example.org is not covered"},
			{"ssl_certificate_arn: " + wildcard + "\napi_domain: a.b.example.com", "api_domain: a.b.example.com is not covered"},
		} {
			_, err := h.provisioner(t, t.TempDir(), "cortex:test").Up(ctx, mustConfig(t, "cluster_name: eks-tls-bad\n"+tc.yaml+"\n"+installConfig))
			if err == nil || !strings.Contains(err.Error(), "nothing was created") || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want nothing created and %q", tc.yaml, err, tc.err)
			}
		}
		checkClean(t, h, p, "eks-tls-bad")

		cfg := mustConfig(t, "cluster_name: eks-tls\nssl_certificate_arn: "+both+"\n"+installConfig)
		res, err := p.Up(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.State.APIDomain != "api.example.com" {
			t.Errorf("API domain %q, want the certificate's first name that is not a wildcard", res.State.APIDomain)
		}
		asgs := checkInstalled(t, h, p, res)

		// configure: another name the certificate covers moves the gateway's endpoint; one the
		// certificate does not cover is refused and changes nothing.
		p = h.provisioner(t, dir, "")
		uncovered := mustConfig(t, "cluster_name: eks-tls\nssl_certificate_arn: "+wildcard+"\napi_domain: models.example.org\n"+installConfig)
		if _, err := p.PlanConfigure(ctx, uncovered); err == nil || !strings.Contains(err.Error(), "api_domain: models.example.org is not covered") {
			t.Errorf("plan of a configure to an uncovered api_domain: %v", err)
		}
		if _, err := p.Configure(ctx, uncovered); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("configure to an uncovered api_domain: %v", err)
		}
		ls, err := p.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(res.State.APILoadBalancer.ARN)})
		must(t, err)
		if len(ls.Listeners) != 1 || !sameCert(ls.Listeners[0].Certificates, both) {
			t.Errorf("a refused configure changed the listener: %+v", ls.Listeners)
		}
		// The same certificate (its wildcard covers the new name): moto 5.2 answers ModifyListener
		// of a TLS listener with UnsupportedProtocol and ignores certificates of TLS listeners, so
		// a change of certificate on a running cluster is not exercised here.
		cfg2 := mustConfig(t, "cluster_name: eks-tls\nssl_certificate_arn: "+both+"\napi_domain: models.example.com\n"+installConfig)
		if _, err := p.Configure(ctx, cfg2); err != nil {
			t.Fatal(err)
		}
		info, err := h.provisioner(t, dir, "").Info(ctx, "eks-tls")
		must(t, err)
		if info.APIEndpoint != "https://models.example.com" || info.APILoadBalancerDNSName != res.State.APILoadBalancer.DNSName {
			t.Errorf("info after configure: API endpoint %s at %s", info.APIEndpoint, info.APILoadBalancerDNSName)
		}
		res.State, res.APIEndpoint = info.State, info.APIEndpoint
		checkInstalled(t, h, p, res)
		rep, err := p.Down(ctx, "eks-tls", DownOptions{})
		if err != nil {
			t.Fatalf("%v: %+v", err, rep.Leftovers)
		}
		h.removeASGs(t, p, asgs)
		checkClean(t, h, p, "eks-tls")
	})

	faults := []struct{ aws, kube string }{
		{kube: "client"},                        // the API server cannot be reached
		{kube: "PATCH deployments"},             // the install stops before the operator
		{aws: "CreateTargetGroup"},              // lb-listeners
		{aws: "CreateListener"},                 // lb-listeners
		{aws: "AttachLoadBalancerTargetGroups"}, // lb-listeners
	}
	for i, f := range faults {
		name := fmt.Sprintf("eks-fault-%02d", i)
		t.Run(strings.ReplaceAll(f.aws+f.kube, " ", "-"), func(t *testing.T) {
			dir := t.TempDir()
			cfg := mustConfig(t, "cluster_name: "+name+"\n"+installConfig)
			switch {
			case f.aws != "":
				h.rec.failOp.Store(f.aws)
			case f.kube == "client":
				h.failClient.Store(true)
			default:
				h.failKube.Store(f.kube)
			}
			_, err := h.provisioner(t, dir, "cortex:test").Up(ctx, cfg)
			h.rec.failOp.Store("")
			h.failClient.Store(false)
			h.failKube.Store("")
			if err == nil || !strings.Contains(err.Error(), "injected fault") {
				t.Fatalf("up with a fault in %s%s: want the injected error, got %v", f.aws, f.kube, err)
			}
			p := h.provisioner(t, dir, "cortex:test")
			res, err := p.Up(ctx, cfg)
			if err != nil {
				t.Fatalf("re-run: %v", err)
			}
			asgs := checkInstalled(t, h, p, res)
			checkInventory(t, takeInventory(t, p, name), inventory{"lb": 2, "tg": 2, "eks": 1, "nodegroup": 1})
			rep, err := p.Down(ctx, name, DownOptions{})
			if err != nil {
				t.Fatalf("%v: %+v", err, rep.Leftovers)
			}
			h.removeASGs(t, p, asgs)
			checkClean(t, h, p, name)
		})
	}
}

// importCert imports a self-signed certificate for names into ACM (moto marks it ISSUED, as ACM
// does an imported certificate) and returns its ARN.
func importCert(t *testing.T, c *acm.Client, names ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	out, err := c.ImportCertificate(context.Background(), &acm.ImportCertificateInput{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})})
	must(t, err)
	return aws.ToString(out.CertificateArn)
}
