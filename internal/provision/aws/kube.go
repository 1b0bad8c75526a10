package aws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/ekstoken"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// Steps of the Kubernetes install (after the AWS resources) and of the load balancers' routing.
const (
	stepKubeInstall = "kubernetes"
	stepListeners   = "lb-listeners"
)

// Fixed node ports of the operator and gateway Services: the load balancers' target groups send
// to these ports on every node of the node groups (docs/aws.md "Load balancers").
const (
	OperatorNodePort int32 = 30888
	GatewayNodePort  int32 = 30443
	// lbListenerPort is what clients dial on both load balancers (https://<dns name>).
	lbListenerPort int32 = 443
)

// KubeInstall is what `up` installed into the EKS cluster.
type KubeInstall struct {
	Namespace        string `json:"namespace"`
	APIsNamespace    string `json:"apis_namespace"`
	Image            string `json:"image"`
	APIImage         string `json:"api_image,omitempty"`
	OperatorNodePort int32  `json:"operator_node_port"`
	GatewayNodePort  int32  `json:"gateway_node_port"`
	// CACert is the CA clients pin (public; its key stays in the cluster's Secret).
	CACert string `json:"ca_cert"`
	// PublicEndpoints are the operator's (its load balancer), GatewayPublicEndpoints the
	// gateway's (the API load balancer): the URLs identity tokens are bound to.
	PublicEndpoints        []string `json:"public_endpoints"`
	GatewayPublicEndpoints []string `json:"gateway_public_endpoints"`
}

// EKSEndpoint is how to reach an EKS cluster's API server: what DescribeCluster says, and the
// credentials the token is signed with.
type EKSEndpoint struct {
	ClusterName string
	URL         string
	CA          []byte
	Region      string
	Partition   string
	Credentials aws.CredentialsProvider
}

// KubeClientFunc makes the Kubernetes client of an EKS cluster.
type KubeClientFunc func(ctx context.Context, e EKSEndpoint) (kubernetes.Interface, error)

// NewEKSClient is the default KubeClientFunc: the API server at e.URL, its certificate checked
// against e.CA only, every request carrying a fresh-enough EKS token (internal/kube/ekstoken)
// signed with e.Credentials.
func NewEKSClient(_ context.Context, e EKSEndpoint) (kubernetes.Interface, error) {
	cfg, err := eksRESTConfig(e)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func eksRESTConfig(e EKSEndpoint) (*rest.Config, error) {
	if e.URL == "" || len(e.CA) == 0 {
		return nil, fmt.Errorf("EKS cluster %s has no endpoint or certificate authority yet", e.ClusterName)
	}
	src := &eksTokenSource{e: e, now: time.Now}
	return &rest.Config{
		Host:            e.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.CA},
		UserAgent:       "cortex",
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return &bearerTransport{next: rt, token: src.token}
		},
	}, nil
}

// eksTokenSource mints an EKS token and reuses it until a minute before it should be replaced.
type eksTokenSource struct {
	e   EKSEndpoint
	now func() time.Time

	mu  sync.Mutex
	tok string
	exp time.Time
}

func (s *eksTokenSource) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != "" && s.now().Before(s.exp.Add(-time.Minute)) {
		return s.tok, nil
	}
	creds, err := s.e.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("EKS token: credentials: %w", err)
	}
	tok, exp, err := ekstoken.Mint(ctx, creds, ekstoken.Input{ClusterName: s.e.ClusterName, Region: s.e.Region, Partition: s.e.Partition, Now: s.now()})
	if err != nil {
		return "", err
	}
	s.tok, s.exp = tok, exp
	return tok, nil
}

type bearerTransport struct {
	next  http.RoundTripper
	token func(context.Context) (string, error)
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.next.RoundTrip(r)
}

// kubeClient reads the EKS cluster's endpoint and CA and makes its client (Options.NewKubeClient).
func (p *Provisioner) kubeClient(ctx context.Context, cluster, partition string) (kubernetes.Interface, error) {
	d, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
	if err != nil {
		return nil, fmt.Errorf("describe EKS cluster %s: %w", cluster, err)
	}
	e := EKSEndpoint{ClusterName: cluster, URL: aws.ToString(d.Cluster.Endpoint), Region: p.region, Partition: partition, Credentials: p.opts.AWS.Credentials}
	if d.Cluster.CertificateAuthority != nil && d.Cluster.CertificateAuthority.Data != nil {
		if e.CA, err = base64.StdEncoding.DecodeString(aws.ToString(d.Cluster.CertificateAuthority.Data)); err != nil {
			return nil, fmt.Errorf("EKS cluster %s: certificate authority: %w", cluster, err)
		}
	}
	if e.Credentials == nil {
		return nil, errors.New("no AWS credentials to sign the EKS token with")
	}
	return p.opts.NewKubeClient(ctx, e)
}

// image is what the operator runs: Options.Image, else what the last `up` installed.
func (p *Provisioner) image(st *State) string {
	if p.opts.Image != "" {
		return p.opts.Image
	}
	if st != nil && st.Kubernetes != nil {
		return st.Kubernetes.Image
	}
	return ""
}

// apiImage is what python and command APIs run: Options.APIImage, else what the last `up`
// installed (empty: the install's default, the operator's image).
func (p *Provisioner) apiImage(st *State) string {
	if p.opts.APIImage != "" {
		return p.opts.APIImage
	}
	if st != nil && st.Kubernetes != nil {
		return st.Kubernetes.APIImage
	}
	return ""
}

// kubeInstall installs (or upgrades in place) the kubernetes provider in the EKS cluster: the
// objects of internal/kube/install with NodePort Services on fixed ports, the operator reporting
// provider aws, and a certificate that covers the load balancers' names (the public endpoints).
// The CA of a previous install is kept, so clients keep their pin.
func (u *upper) kubeInstall(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	if st.OperatorLoadBalancer == nil || st.APILoadBalancer == nil {
		return "", errors.New("the load balancers are not recorded in the cluster state")
	}
	c, err := p.kubeClient(ctx, st.EKSCluster, st.Partition)
	if err != nil {
		return "", err
	}
	ns := install.DefaultNamespace
	ex, err := install.LoadExisting(ctx, c, ns)
	if err != nil {
		return "", err
	}
	var prev *install.TLS
	if ex != nil {
		prev = ex.TLS
		if ex.ClusterID != "" && ex.ClusterID != st.ClusterID {
			return "", fmt.Errorf("namespace %s of EKS cluster %s holds the install of cortex cluster id %s, not %s (this cluster's); remove it first", ns, st.EKSCluster, ex.ClusterID, st.ClusterID)
		}
	}
	// The operator's creator is an IAM user or role: a creator that signed in through a role
	// (SSO, an assumed role) is recorded as its session's ARN; the operator gets the role.
	creator, _, _, err := PrincipalARN(st.CreatorARN)
	if err != nil {
		return "", fmt.Errorf("creator %s: %w", st.CreatorARN, err)
	}
	names := []string{st.OperatorLoadBalancer.DNSName, st.APILoadBalancer.DNSName}
	endpoints := []string{"https://" + st.OperatorLoadBalancer.DNSName}
	// With ssl_certificate_arn, clients call APIs at the certificate's name (they could not verify
	// the load balancer's name, which no ACM certificate has): tokens are bound to it alone.
	gateway := []string{"https://" + st.APILoadBalancer.DNSName}
	if st.APIDomain != "" {
		gateway = []string{"https://" + st.APIDomain}
	}
	tlsm, err := install.NewTLS(ns, names, prev)
	if err != nil {
		return "", err
	}
	build := func(operatorIP string) (*install.Objects, error) {
		return install.Build(install.Options{
			Namespace: ns, Image: p.image(st), APIImage: p.apiImage(st), ServiceType: corev1.ServiceTypeNodePort,
			OperatorNodePort: OperatorNodePort, GatewayNodePort: GatewayNodePort,
			ClusterID: st.ClusterID, AccountID: st.AccountID, Region: st.Region, CreatorARN: creator,
			PublicEndpoints: endpoints, GatewayPublicEndpoints: gateway, GatewayPublicTLS: st.APIDomain != "", TLS: tlsm, Provider: "aws",
			// The operator's AWS identity (cluster credentials in a Secret, or its role), and per-API
			// roles by EKS Pod Identity in this EKS cluster.
			OperatorAWS: p.OperatorAWS(), EKSPodIdentity: true, ClusterName: st.EKSCluster,
			// What APIs may be given: cluster.yaml's api_iam, the cluster admin's (empty: nothing).
			APIIAM: u.cfg.APIIAM,
			// Who may use the cluster: cluster.yaml's auth_mode and account_role (empty: account).
			Auth: install.Auth{Mode: u.cfg.AuthMode, AccountRole: u.cfg.AccountRole},
			// TESTS ONLY (empty on a real cluster): see Options.
			STSTestEndpoint: p.opts.STSTestEndpoint, APIServer: p.opts.APIServer,
			OperatorServiceIP: operatorIP,
		})
	}
	// The gateway pods dial the operator at its Service's name (cortex-operator.<ns>.svc, which
	// the operator's certificate covers) and resolve it from a hosts entry (hostAliases) for the
	// Service's cluster IP, as the kubernetes provider's install does. On EKS this is harmless:
	// CoreDNS answers that name with that very IP, and a Service's cluster IP never changes while
	// it exists (spec.clusterIP is immutable). It makes the gateway independent of cluster DNS
	// (a node without it: test/e2e TestEKSRealNode). A Service made by this apply (the first
	// install, or one deleted by hand) has its IP only afterwards: then the gateway is applied
	// again with it. A re-run knows the IP before and applies once, changing nothing.
	operatorIP, err := install.OperatorServiceIP(ctx, c, ns)
	if err != nil {
		return "", err
	}
	objs, err := build(operatorIP)
	if err != nil {
		return "", err
	}
	// Recorded before the apply: a down after an apply that stopped half way knows to uninstall.
	o := objs.Options()
	if err := p.update(ctx, func(s *State) {
		s.Kubernetes = &KubeInstall{Namespace: o.Namespace, APIsNamespace: o.APIsNamespace, Image: o.Image, APIImage: p.apiImage(st),
			OperatorNodePort: OperatorNodePort, GatewayNodePort: GatewayNodePort, CACert: string(tlsm.CACert),
			PublicEndpoints: endpoints, GatewayPublicEndpoints: gateway}
	}); err != nil {
		return "", err
	}
	n := 0
	if err := install.Apply(ctx, c, objs, func(string) { n++ }); err != nil {
		return "", err
	}
	if now, err := install.OperatorServiceIP(ctx, c, ns); err != nil {
		return "", err
	} else if now != operatorIP {
		if objs, err = build(now); err != nil {
			return "", err
		}
		if err := install.Apply(ctx, c, objs, func(string) {}); err != nil {
			return "", err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, p.opts.WaitTimeout)
	defer cancel()
	p.emit(Event{Step: stepKubeInstall, Phase: PhaseWaiting, Detail: "the operator and gateway Deployments to be available"})
	if err := install.WaitAvailable(waitCtx, c, ns, p.opts.PollInterval); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d objects applied in %s, operator and gateway available (image %s)", n, ns, o.Image), nil
}

// lbRoute is one load balancer's route to the nodes.
type lbRoute struct {
	kind     string // operator|api
	lb       *LoadBalancer
	nodePort int32
	cert     string // ACM certificate: a TLS listener (and TLS to the targets)
}

func (u *upper) routes(st *State) []lbRoute {
	return []lbRoute{
		{kind: "operator", lb: st.OperatorLoadBalancer, nodePort: OperatorNodePort},
		{kind: "api", lb: st.APILoadBalancer, nodePort: GatewayNodePort, cert: u.cfg.SSLCertificateARN},
	}
}

// listeners makes each load balancer lead to its Service: a target group on the Service's node
// port (instance targets), attached to every node group's Auto Scaling group (so nodes that come
// later are registered by Auto Scaling), and a listener on 443 that forwards to it. The operator's
// is TCP (TLS passes through to the operator, whose CA clients pin); the API load balancer's is
// TLS with ssl_certificate_arn when set, re-encrypting to the gateway.
func (u *upper) listeners(ctx context.Context) (string, error) {
	p := u.p
	st := p.snapshot()
	asgs, err := p.nodeGroupASGs(ctx, st)
	if err != nil {
		return "", err
	}
	tgs := map[string]string{}
	for _, r := range u.routes(st) {
		if r.lb == nil {
			return "", fmt.Errorf("the %s load balancer is not recorded in the cluster state", r.kind)
		}
		proto := elbtypes.ProtocolEnumTcp
		if r.cert != "" {
			proto = elbtypes.ProtocolEnumTls
		}
		tg, err := p.ensureTargetGroup(ctx, u.cfg, r, st.VPCID, proto)
		if err != nil {
			return "", err
		}
		tgs[r.kind] = tg
		if err := p.ensureListener(ctx, r, tg, proto); err != nil {
			return "", err
		}
		for _, asg := range asgs {
			if _, err := p.asg.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
				AutoScalingGroupName: aws.String(asg), TargetGroupARNs: []string{tg}}); err != nil {
				return "", fmt.Errorf("attach target group %s to Auto Scaling group %s: %w", r.lb.Name, asg, err)
			}
		}
	}
	if err := p.update(ctx, func(s *State) { s.TargetGroups = tgs }); err != nil {
		return "", err
	}
	return fmt.Sprintf("443 -> node ports %d (operator), %d (api) on %d Auto Scaling group(s)", OperatorNodePort, GatewayNodePort, len(asgs)), nil
}

// nodeGroupASGs are the Auto Scaling groups EKS made for the cluster's node groups.
func (p *Provisioner) nodeGroupASGs(ctx context.Context, st *State) ([]string, error) {
	var out []string
	for _, ng := range sortedTagKeys(st.NodeGroups) {
		d, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(st.EKSCluster), NodegroupName: aws.String(ng)})
		if err != nil {
			return nil, fmt.Errorf("describe node group %s: %w", ng, err)
		}
		if d.Nodegroup.Resources != nil {
			for _, a := range d.Nodegroup.Resources.AutoScalingGroups {
				out = append(out, aws.ToString(a.Name))
			}
		}
	}
	return out, nil
}

func (p *Provisioner) findTargetGroup(ctx context.Context, name string) (*elbtypes.TargetGroup, error) {
	out, err := p.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{name}})
	if isCode(err, "TargetGroupNotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe target group %s: %w", name, err)
	}
	if len(out.TargetGroups) == 0 {
		return nil, nil
	}
	return &out.TargetGroups[0], nil
}

// ensureTargetGroup finds the target group (named as its load balancer) or creates it; one with
// another port or protocol (a changed ssl_certificate_arn) is replaced.
func (p *Provisioner) ensureTargetGroup(ctx context.Context, cfg *clusterconfig.Config, r lbRoute, vpc string, proto elbtypes.ProtocolEnum) (string, error) {
	tg, err := p.findTargetGroup(ctx, r.lb.Name)
	if err != nil {
		return "", err
	}
	if tg != nil && aws.ToInt32(tg.Port) == r.nodePort && tg.Protocol == proto {
		// A cluster made before the Services were Local has the old health check: converge it.
		if !healthCheckIsLocal(tg) {
			in := &elb.ModifyTargetGroupInput{TargetGroupArn: tg.TargetGroupArn}
			localHealthCheck(&in.HealthCheckProtocol, &in.HealthCheckPort, &in.HealthCheckIntervalSeconds,
				&in.HealthCheckTimeoutSeconds, &in.HealthyThresholdCount, &in.UnhealthyThresholdCount)
			if _, err := p.elb.ModifyTargetGroup(ctx, in); err != nil {
				return "", fmt.Errorf("update the health check of target group %s: %w", r.lb.Name, err)
			}
		}
		return aws.ToString(tg.TargetGroupArn), p.setTargetGroupAttributes(ctx, r.lb.Name, aws.ToString(tg.TargetGroupArn))
	}
	if tg != nil {
		// Listeners that use it go first; the new one is made right after.
		if err := p.deleteListeners(ctx, r.lb.ARN); err != nil {
			return "", err
		}
		if _, err := p.elb.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn}); err != nil {
			return "", fmt.Errorf("replace target group %s: %w", r.lb.Name, err)
		}
	}
	t := p.tagsFor(cfg, "tg-"+r.kind)
	var tags []elbtypes.Tag
	for _, k := range sortedTagKeys(t) {
		tags = append(tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	in := &elb.CreateTargetGroupInput{
		Name: aws.String(r.lb.Name), Protocol: proto, Port: aws.Int32(r.nodePort), VpcId: aws.String(vpc),
		TargetType: elbtypes.TargetTypeEnumInstance, Tags: tags,
	}
	localHealthCheck(&in.HealthCheckProtocol, &in.HealthCheckPort, &in.HealthCheckIntervalSeconds,
		&in.HealthCheckTimeoutSeconds, &in.HealthyThresholdCount, &in.UnhealthyThresholdCount)
	out, err := p.elb.CreateTargetGroup(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create target group %s: %w", r.lb.Name, err)
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	return arn, p.setTargetGroupAttributes(ctx, r.lb.Name, arn)
}

// The target groups' health check. The Services are externalTrafficPolicy Local (the client's
// address reaches the operator and gateway), so a node port answers only on nodes that run a
// replica: kube-proxy drops connections elsewhere. A TCP check of the traffic port is therefore
// exactly "this node has a replica"; every 10 s, 2 failures (each timing out after 5 s) take a
// node out in 15-25 s, 2 successes bring one in within ~20 s. (healthCheckNodePort, the HTTP
// check kube-proxy serves for Local Services, exists only for type LoadBalancer, not NodePort.)
const (
	healthCheckPort               = "traffic-port"
	healthCheckIntervalSeconds    = 10
	healthCheckTimeoutSeconds     = 5
	healthCheckHealthyThreshold   = 2
	healthCheckUnhealthyThreshold = 2
)

// targetGroupAttributes are the attributes up sets on both target groups. Client IP preservation
// is on by default for instance targets; set anyway so that a changed default or a hand edit
// cannot hand the operator the load balancer's address. Cross-zone: with Local only the nodes
// that run a replica are healthy (for the operator, one node), so each zone's load balancer node
// must be able to reach a target in another zone instead of relying on DNS to drop its zone.
var targetGroupAttributes = []struct{ key, value string }{
	{"preserve_client_ip.enabled", "true"},
	{"load_balancing.cross_zone.enabled", "true"},
}

// localHealthCheck fills the health check fields of a CreateTargetGroup or ModifyTargetGroup input.
func localHealthCheck(proto *elbtypes.ProtocolEnum, port **string, interval, timeout, healthy, unhealthy **int32) {
	*proto, *port = elbtypes.ProtocolEnumTcp, aws.String(healthCheckPort)
	*interval, *timeout = aws.Int32(healthCheckIntervalSeconds), aws.Int32(healthCheckTimeoutSeconds)
	*healthy, *unhealthy = aws.Int32(healthCheckHealthyThreshold), aws.Int32(healthCheckUnhealthyThreshold)
}

func healthCheckIsLocal(tg *elbtypes.TargetGroup) bool {
	return tg.HealthCheckProtocol == elbtypes.ProtocolEnumTcp && aws.ToString(tg.HealthCheckPort) == healthCheckPort &&
		aws.ToInt32(tg.HealthCheckIntervalSeconds) == healthCheckIntervalSeconds &&
		aws.ToInt32(tg.HealthCheckTimeoutSeconds) == healthCheckTimeoutSeconds &&
		aws.ToInt32(tg.HealthyThresholdCount) == healthCheckHealthyThreshold &&
		aws.ToInt32(tg.UnhealthyThresholdCount) == healthCheckUnhealthyThreshold &&
		(tg.HealthCheckEnabled == nil || *tg.HealthCheckEnabled)
}

// setTargetGroupAttributes sets targetGroupAttributes where the target group differs (a re-run makes no write).
func (p *Provisioner) setTargetGroupAttributes(ctx context.Context, name, arn string) error {
	out, err := p.elb.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("describe attributes of target group %s: %w", name, err)
	}
	have := map[string]string{}
	for _, a := range out.Attributes {
		have[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	var set []elbtypes.TargetGroupAttribute
	for _, a := range targetGroupAttributes {
		if have[a.key] != a.value {
			set = append(set, elbtypes.TargetGroupAttribute{Key: aws.String(a.key), Value: aws.String(a.value)})
		}
	}
	if len(set) == 0 {
		return nil
	}
	if _, err := p.elb.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: set}); err != nil {
		return fmt.Errorf("set client IP preservation and cross-zone on target group %s: %w", name, err)
	}
	return nil
}

// ensureListener makes the load balancer's listener on 443 forward to tg with the right protocol
// (and certificate); any other listener cortex did not ask for is left alone.
func (p *Provisioner) ensureListener(ctx context.Context, r lbRoute, tg string, proto elbtypes.ProtocolEnum) error {
	out, err := p.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(r.lb.ARN)})
	if err != nil {
		return fmt.Errorf("describe listeners of %s: %w", r.lb.Name, err)
	}
	action := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}
	var certs []elbtypes.Certificate
	if r.cert != "" {
		certs = []elbtypes.Certificate{{CertificateArn: aws.String(r.cert)}}
	}
	for _, l := range out.Listeners {
		if aws.ToInt32(l.Port) != lbListenerPort {
			continue
		}
		if l.Protocol == proto && len(l.DefaultActions) == 1 && aws.ToString(l.DefaultActions[0].TargetGroupArn) == tg && sameCert(l.Certificates, r.cert) {
			return nil
		}
		in := &elb.ModifyListenerInput{ListenerArn: l.ListenerArn, Protocol: proto, Port: aws.Int32(lbListenerPort), DefaultActions: action, Certificates: certs}
		if r.cert != "" {
			in.SslPolicy = aws.String(tlsPolicy)
		}
		if _, err := p.elb.ModifyListener(ctx, in); err != nil {
			return fmt.Errorf("update listener %d of %s: %w", lbListenerPort, r.lb.Name, err)
		}
		return nil
	}
	in := &elb.CreateListenerInput{LoadBalancerArn: aws.String(r.lb.ARN), Protocol: proto, Port: aws.Int32(lbListenerPort), DefaultActions: action, Certificates: certs}
	if r.cert != "" {
		in.SslPolicy = aws.String(tlsPolicy)
	}
	if _, err := p.elb.CreateListener(ctx, in); err != nil {
		return fmt.Errorf("create listener %d of %s: %w", lbListenerPort, r.lb.Name, err)
	}
	return nil
}

// tlsPolicy is the API load balancer's TLS policy with ssl_certificate_arn: TLS 1.2 and 1.3 only.
const tlsPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

func sameCert(have []elbtypes.Certificate, want string) bool {
	if want == "" {
		return len(have) == 0
	}
	return len(have) == 1 && aws.ToString(have[0].CertificateArn) == want
}

func (p *Provisioner) deleteListeners(ctx context.Context, lbARN string) error {
	out, err := p.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if isCode(err, "LoadBalancerNotFound") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe listeners: %w", err)
	}
	for _, l := range out.Listeners {
		if _, err := p.elb.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: l.ListenerArn}); err != nil && !isCode(err, "ListenerNotFound") {
			return fmt.Errorf("delete listener %s: %w", aws.ToString(l.ListenerArn), err)
		}
	}
	return nil
}

// ---- down ----

// kubeUninstall removes every cortex object from the EKS cluster (the install, the state Secrets
// and the APIs) while it still exists. With NodePort Services, Kubernetes made nothing in AWS; an
// unreachable API server is reported and down goes on, since deleting the EKS cluster deletes
// what is in it.
func (d *downer) kubeUninstall(ctx context.Context) (string, error) {
	p := d.p
	st := p.snapshot()
	if d.hadState && st.Kubernetes == nil {
		return "nothing installed", nil
	}
	if _, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(d.names.EKSCluster)}); isCode(err, "ResourceNotFoundException") {
		return "no EKS cluster", nil
	}
	ns, apis := install.DefaultNamespace, install.DefaultNamespace+"-apis"
	if st.Kubernetes != nil {
		ns, apis = st.Kubernetes.Namespace, st.Kubernetes.APIsNamespace
	}
	partition := st.Partition
	if partition == "" {
		partition = "aws"
	}
	c, err := p.kubeClient(ctx, d.names.EKSCluster, partition)
	var items []install.Item
	if err == nil {
		items, err = install.Installed(ctx, c, ns, apis)
	}
	if err != nil {
		p.emit(Event{Step: stepKubeInstall, Phase: PhaseInfo, Detail: "could not reach the EKS cluster's API server; its objects go with the cluster: " + err.Error()})
		return "skipped", nil
	}
	// Reachable: a delete that fails is a leftover (run down again).
	if err := install.Uninstall(ctx, c, nil, ns, apis); err != nil {
		return "", err
	}
	if len(items) > 0 {
		d.deleted(fmt.Sprintf("%d Kubernetes object(s) in %s and %s", len(items), ns, apis))
	}
	return fmt.Sprintf("%d object(s) deleted", len(items)), nil
}

// targetGroups deletes the listeners (with their load balancers, or here when a load balancer is
// kept) and the target groups.
func (d *downer) targetGroups(ctx context.Context) (string, error) {
	p := d.p
	n, err := collect([]string{d.names.OperatorLB, d.names.APILB}, func(name string) (string, error) {
		tg, err := p.findTargetGroup(ctx, name)
		if err != nil || tg == nil {
			return name, err
		}
		for _, lb := range tg.LoadBalancerArns {
			if err := p.deleteListeners(ctx, lb); err != nil {
				return "", err
			}
		}
		if _, err := p.elb.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn}); err != nil && !isCode(err, "TargetGroupNotFound") {
			return "", fmt.Errorf("delete target group %s: %w", name, err)
		}
		d.deleted("target group " + name)
		return name, nil
	})
	return fmt.Sprintf("%d checked", n), err
}

// ---- info ----

// InstallInfo is the state of the install in the EKS cluster.
type InstallInfo struct {
	Namespace string `json:"namespace"`
	Image     string `json:"image,omitempty"`
	// APIImage is the image of python and command APIs when `up --api-image` named one.
	APIImage string `json:"api_image,omitempty"`
	// Operator and Gateway: "ready", "not ready (0/1 available)", "not installed", or "in the
	// operator" (the gateway when it runs inside the operator's process).
	Operator string `json:"operator"`
	Gateway  string `json:"gateway"`
	Error    string `json:"error,omitempty"`
	// AuthMode and AccountRole are what the operator's Deployment runs with (its arguments).
	AuthMode    string `json:"auth_mode,omitempty"`
	AccountRole string `json:"account_role,omitempty"`
}

func (p *Provisioner) installInfo(ctx context.Context, st *State) *InstallInfo {
	ii := &InstallInfo{Namespace: install.DefaultNamespace}
	if st.Kubernetes != nil {
		ii.Namespace, ii.Image, ii.APIImage = st.Kubernetes.Namespace, st.Kubernetes.Image, st.Kubernetes.APIImage
	}
	c, err := p.kubeClient(ctx, st.EKSCluster, st.Partition)
	if err != nil {
		ii.Error = err.Error()
		return ii
	}
	status := func(name string) (string, error) {
		dep, err := c.AppsV1().Deployments(ii.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "not installed", nil
		}
		if err != nil {
			return "", err
		}
		if name == install.OperatorName {
			a := install.AuthOf(dep).Effective()
			ii.AuthMode, ii.AccountRole = a.Mode, a.AccountRole
		}
		want := int32(1)
		if dep.Spec.Replicas != nil {
			want = *dep.Spec.Replicas
		}
		if dep.Status.ObservedGeneration >= dep.Generation && dep.Status.AvailableReplicas >= want && dep.Status.UpdatedReplicas >= want {
			return "ready", nil
		}
		return fmt.Sprintf("not ready (%d/%d available)", dep.Status.AvailableReplicas, want), nil
	}
	if ii.Operator, err = status(install.OperatorName); err == nil {
		ii.Gateway, err = status(install.GatewayName)
		if ii.Gateway == "not installed" && ii.Operator != "not installed" {
			ii.Gateway = "in the operator (" + ii.Operator + ")"
		}
	}
	if err != nil {
		ii.Error = err.Error()
	}
	return ii
}
