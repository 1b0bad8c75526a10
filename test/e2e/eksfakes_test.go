//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// This file holds two FAKES of test/e2e TestEKSRealNode, for what no server on this machine does.

// ---- EKS's authenticator ----

// eksAuthenticator is a FAKE of EKS's authenticator (aws-iam-authenticator's server side): a
// TokenReview webhook of the test's real kube-apiserver that accepts the EKS bearer tokens
// `cortex cluster up` mints (internal/kube/ekstoken) and maps the identity by its EKS access
// entry in the EKS fake, as EKS does. It exists because no server here authenticates EKS tokens.
//
// What it checks: the token's shape (k8s-aws-v1. + a presigned STS GetCallerIdentity URL on an
// sts.*.amazonaws.com host, SigV4 query signing with x-k8s-aws-id among the signed headers, at most
// 15 minutes old, as EKS accepts), the access key's owner in moto's IAM (the principal), and that principal's access
// entry (no entry: not authenticated). Its username and Kubernetes groups are the entry's; an
// entry with AmazonEKSClusterAdminPolicy (the creator's bootstrapped entry) also gets
// system:masters, the RBAC group that stands for that policy here (EKS's own authorizer, which
// reads the access policies, is not modelled). What it cannot check: the signature and so the
// cluster name bound in x-k8s-aws-id; aws-iam-authenticator checks both by sending the presigned
// request to STS, and moto 5.2.5 with authentication on answers a presigned GetCallerIdentity with
// a 500 (measured), so the key's owner is looked up instead.
type eksAuthenticator struct {
	iam     *iam.Client // moto's IAM (authentication on), as an administrator
	eks     func() *eks.Client
	cluster string

	mu      sync.Mutex
	reviews []string // "principal -> username groups" or "refused: why", in order
}

var ekstokenRE = regexp.MustCompile(`^sts(\.[a-z0-9-]+)?\.amazonaws\.com$`)

// serve starts the webhook over TLS and returns the kube-apiserver's webhook kubeconfig file.
func (a *eksAuthenticator) serve(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(a.review))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["eks-authenticator"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["apiserver"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["w"] = &clientcmdapi.Context{Cluster: "eks-authenticator", AuthInfo: "apiserver"}
	cfg.CurrentContext = "w"
	file := filepath.Join(dir, "eks-authenticator.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		t.Fatal(err)
	}
	return file
}

func (a *eksAuthenticator) review(w http.ResponseWriter, r *http.Request) {
	var rev authnv1.TokenReview
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rev); err != nil {
		http.Error(w, "not a TokenReview", http.StatusBadRequest)
		return
	}
	out := authnv1.TokenReview{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}}
	user, err := a.authenticate(r.Context(), rev.Spec.Token)
	a.mu.Lock()
	if err != nil {
		out.Status.Error = err.Error()
		a.reviews = append(a.reviews, "refused: "+err.Error())
	} else {
		out.Status.Authenticated, out.Status.User = true, *user
		a.reviews = append(a.reviews, fmt.Sprintf("%s %v", user.Username, user.Groups))
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *eksAuthenticator) authenticate(ctx context.Context, token string) (*authnv1.UserInfo, error) {
	raw, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		return nil, errors.New("not an EKS token")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("EKS token: not base64url")
	}
	u, err := url.Parse(string(b))
	if err != nil || u.Scheme != "https" || !ekstokenRE.MatchString(u.Host) || (u.Path != "/" && u.Path != "") {
		return nil, errors.New("EKS token: not an STS URL")
	}
	q := u.Query()
	if q.Get("Action") != "GetCallerIdentity" || q.Get("Version") != "2011-06-15" || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" {
		return nil, errors.New("EKS token: not a presigned GetCallerIdentity")
	}
	if !slices.Contains(strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), "x-k8s-aws-id") {
		return nil, errors.New("EKS token: x-k8s-aws-id is not signed")
	}
	// EKS accepts a token for 15 minutes after its date, whatever X-Amz-Expires says (60 s, as
	// the AWS CLI sets it); the CLI reuses its token for 14 (internal/kube/ekstoken).
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil || q.Get("X-Amz-Expires") == "" || time.Now().After(signed.Add(15*time.Minute)) || time.Until(signed) > 5*time.Minute {
		return nil, errors.New("EKS token: expired or not yet valid")
	}
	akid, _, _ := strings.Cut(q.Get("X-Amz-Credential"), "/")
	principal, err := a.keyOwner(ctx, akid)
	if err != nil {
		return nil, err
	}
	ec := a.eks()
	d, err := ec.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String(a.cluster), PrincipalArn: aws.String(principal)})
	var nf *ekstypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("%s has no access entry", principal)
	}
	if err != nil {
		return nil, err
	}
	groups := append([]string(nil), d.AccessEntry.KubernetesGroups...)
	pols, err := ec.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String(a.cluster), PrincipalArn: aws.String(principal)})
	if err != nil {
		return nil, err
	}
	for _, p := range pols.AssociatedAccessPolicies {
		if strings.HasSuffix(aws.ToString(p.PolicyArn), "/AmazonEKSClusterAdminPolicy") && p.AccessScope != nil && p.AccessScope.Type == ekstypes.AccessScopeTypeCluster {
			groups = append(groups, "system:masters")
		}
	}
	return &authnv1.UserInfo{Username: aws.ToString(d.AccessEntry.Username), Groups: groups}, nil
}

// keyOwner is the ARN of the IAM user that owns an access key (moto's IAM).
func (a *eksAuthenticator) keyOwner(ctx context.Context, akid string) (string, error) {
	users, err := a.iam.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		return "", err
	}
	for _, u := range users.Users {
		keys, err := a.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
		if err != nil {
			return "", err
		}
		for _, k := range keys.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == akid && k.Status == "Active" {
				return aws.ToString(u.Arn), nil
			}
		}
	}
	return "", errors.New("EKS token: the access key is not known to IAM")
}

// ---- the network load balancer and kube-proxy ----

// lbProxy is a FAKE of a network load balancer and of kube-proxy's NodePorts, as an HTTPS proxy
// (CONNECT) that the CLI is pointed at with HTTPS_PROXY: no server here is an NLB, and the test
// node has no kube-proxy (no iptables). For a CONNECT to a load balancer's DNS name and port it
// follows what `cluster up` made in moto: the load balancer with that DNS name, its listener on
// that port, the listener's forward target group and its port (the node port), and the Auto
// Scaling groups attached to that target group, which must have an instance in service (the node
// group's: the one real node stands for it). Then, as kube-proxy would on that node, it finds the
// Service with that node port and copies bytes, unchanged, to a ready endpoint of it (like
// kubetest.ForwardService). So the CLI dials the very name in its environment (TLS verified with
// the pinned CA for that name, tokens bound to it), and a broken link anywhere in listener ->
// target group -> node port -> Service is a refused CONNECT.
type lbProxy struct {
	elb  *elb.Client
	asg  *autoscaling.Client
	kube kubernetes.Interface
	url  string

	mu     sync.Mutex
	routes []string // "host:port -> tg port -> ns/svc -> ip:port", in order
}

func startLBProxy(t *testing.T, elbc *elb.Client, asg *autoscaling.Client, kube kubernetes.Interface) *lbProxy {
	t.Helper()
	p := &lbProxy{elb: elbc, asg: asg, kube: kube}
	srv := httptest.NewServer(http.HandlerFunc(p.connect))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *lbProxy) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	target, err := p.resolve(r.Context(), r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	up, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	// Either side's end ends both (as a load balancer's idle connection would).
	go func() {
		_, _ = io.Copy(up, buf)
		up.Close()
		conn.Close()
	}()
	go func() {
		_, _ = io.Copy(conn, up)
		up.Close()
		conn.Close()
	}()
}

// resolve follows load balancer -> listener -> target group -> Auto Scaling group -> node port
// -> Service -> ready endpoint.
func (p *lbProxy) resolve(ctx context.Context, hostPort string) (string, error) {
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	port, _ := strconv.Atoi(portStr)
	lbs, err := p.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		return "", err
	}
	var lbARN string
	for _, lb := range lbs.LoadBalancers {
		if strings.EqualFold(aws.ToString(lb.DNSName), host) {
			lbARN = aws.ToString(lb.LoadBalancerArn)
		}
	}
	if lbARN == "" {
		return "", fmt.Errorf("no load balancer named %s", host)
	}
	ls, err := p.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil {
		return "", err
	}
	var tgARN string
	for _, l := range ls.Listeners {
		if int(aws.ToInt32(l.Port)) == port && len(l.DefaultActions) > 0 && l.DefaultActions[0].Type == "forward" {
			tgARN = aws.ToString(l.DefaultActions[0].TargetGroupArn)
		}
	}
	if tgARN == "" {
		return "", fmt.Errorf("load balancer %s has no forward listener on port %d", host, port)
	}
	tgs, err := p.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{tgARN}})
	if err != nil || len(tgs.TargetGroups) != 1 {
		return "", fmt.Errorf("target group %s: %v", tgARN, err)
	}
	nodePort := aws.ToInt32(tgs.TargetGroups[0].Port)
	groups, err := p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		return "", err
	}
	inService := 0
	for _, g := range groups.AutoScalingGroups {
		if slices.Contains(g.TargetGroupARNs, tgARN) {
			for _, i := range g.Instances {
				if i.LifecycleState == "InService" {
					inService++
				}
			}
		}
	}
	if inService == 0 {
		return "", fmt.Errorf("target group %s (port %d) has no instance in service behind it", tgARN, nodePort)
	}
	// kube-proxy on the node: the Service with that node port, one of its ready endpoints.
	svcs, err := p.kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, s := range svcs.Items {
		for _, sp := range s.Spec.Ports {
			if s.Spec.Type != corev1.ServiceTypeNodePort || sp.NodePort != nodePort {
				continue
			}
			addr, err := p.readyEndpoint(ctx, &s, sp)
			if err != nil {
				return "", err
			}
			p.mu.Lock()
			p.routes = append(p.routes, fmt.Sprintf("%s -> target group port %d -> %s/%s -> %s", hostPort, nodePort, s.Namespace, s.Name, addr))
			p.mu.Unlock()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no Service has node port %d", nodePort)
}

func (p *lbProxy) readyEndpoint(ctx context.Context, s *corev1.Service, sp corev1.ServicePort) (string, error) {
	slices_, err := p.kube.DiscoveryV1().EndpointSlices(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name})
	if err != nil {
		return "", err
	}
	for _, es := range slices_.Items {
		for _, port := range es.Ports {
			if aws.ToString(port.Name) != sp.Name || port.Port == nil {
				continue
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready && len(ep.Addresses) > 0 {
					return net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(*port.Port))), nil
				}
			}
		}
	}
	return "", fmt.Errorf("Service %s/%s has no ready endpoint", s.Namespace, s.Name)
}

// log is what the authenticator answered, one review a line.
func (a *eksAuthenticator) log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.reviews, "\n")
}

func (p *lbProxy) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.routes, "\n")
}

// writeFile0600 writes a file only the test's user reads.
func writeFile0600(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
