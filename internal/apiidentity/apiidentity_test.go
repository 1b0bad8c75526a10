package apiidentity

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

const (
	account = "123456789012"
	prefix  = "cortex-idt-1a2b3c4d"
	ns      = "cortex-apis"
)

// ops records the operations sent through the SDK (by the SDK's own operation names).
type ops struct {
	mu   sync.Mutex
	seen []string
}

func (o *ops) RoundTrip(r *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.seen = append(o.seen, awsmiddleware.GetOperationName(r.Context()))
	o.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// take returns and forgets what was recorded.
func (o *ops) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.seen
	o.seen = nil
	return s
}

var recorded = &ops{}

func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second, Transport: recorded},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

type env struct {
	iam  *iam.Client
	eks  *eks.Client
	fake *eksfake.Server
}

// setup starts moto (IAM) and the EKS fake (pod identity associations, which moto answers with
// 404) with one cluster, and makes the SDK clients with base endpoints.
func setup(t *testing.T, cluster string) (*EKS, env) {
	t.Helper()
	motoserver.SkipIfShort(t)
	moto := motoserver.Start(t, motoserver.Options{})
	fake := eksfake.Start(t, eksfake.Options{AccountID: account})
	fake.AddCluster(cluster, eksfake.ModeAPIAndConfigMap)
	e := env{iam: iam.NewFromConfig(awsConfig(moto.URL)), eks: eks.NewFromConfig(awsConfig(fake.URL)), fake: fake}
	b, err := New(Config{IAM: e.iam, EKS: e.eks, Cluster: cluster, Namespace: ns, Partition: "aws",
		Region: "us-west-2", AccountID: account, RolePrefix: prefix, Allowed: testAllowed})
	if err != nil {
		t.Fatal(err)
	}
	return b, e
}

// testAllowed is the cluster admin's allowlist of these tests: the policies and roles they name
// (moto's ARNs are the account's and the name), so the other checks are the ones they exercise.
// The roles cortex manages are listed too (an admin's mistake): the binder still refuses them.
var testAllowed = Allowed{
	PolicyARNs: []string{"arn:aws:iam::" + account + ":policy/p1", "arn:aws:iam::" + account + ":policy/p2",
		"arn:aws:iam::" + account + ":policy/p3", "arn:aws:iam::" + account + ":policy/missing"},
	RoleARNs: []string{"arn:aws:iam::" + account + ":role/team-reader",
		"arn:aws:iam::" + account + ":role/" + prefix + "-api-iris",
		"arn:aws:iam::" + account + ":role" + RolePath(prefix) + "renamed",
		"arn:aws:iam::" + account + ":role/cortex-staging-9f8e7d6c-operator",
		"arn:aws:iam::" + account + ":role/cortex-a-very-long-cluster-name-of-forty-c-0123abcd-op",
		"arn:aws:iam::" + account + ":role/cortex-apis/cortex-staging-9f8e7d6c/cortex-staging-9f8e7d6c-api-iris"},
}

func policy(t *testing.T, c *iam.Client, name string) string {
	t.Helper()
	out, err := c.CreatePolicy(context.Background(), &iam.CreatePolicyInput{PolicyName: aws.String(name),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Policy.Arn)
}

func attachedPolicies(t *testing.T, c *iam.Client, role string) []string {
	t.Helper()
	out, err := c.ListAttachedRolePolicies(context.Background(), &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, aws.ToString(p.PolicyArn))
	}
	slices.Sort(arns)
	return arns
}

// association returns the role of the ServiceAccount's association ("" when there is none).
func association(t *testing.T, c *eks.Client, cluster, sa string) string {
	t.Helper()
	ctx := context.Background()
	l, err := c.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster), Namespace: aws.String(ns), ServiceAccount: aws.String(sa)})
	if err != nil {
		t.Fatal(err)
	}
	switch len(l.Associations) {
	case 0:
		return ""
	case 1:
	default:
		t.Fatalf("%d associations for %s", len(l.Associations), sa)
	}
	d, err := c.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: l.Associations[0].AssociationId})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(d.Association.RoleArn)
}

func roleExists(t *testing.T, c *iam.Client, name string) bool {
	t.Helper()
	_, err := c.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil && !IsCode(err, "NoSuchEntity") {
		t.Fatal(err)
	}
	return err == nil
}

func TestRoleName(t *testing.T) {
	if got := RoleName("cortex-c-1234abcd", "iris"); got != "cortex-c-1234abcd-api-iris" {
		t.Errorf("short: %s", got)
	}
	long := "cortex-" + strings.Repeat("c", 40) + "-1234abcd"
	a, b := RoleName(long, "iris-classifier"), RoleName(long, "iris-classifier2")
	if len(a) > 64 || len(b) > 64 || a == b || !strings.HasPrefix(a, long+"-") {
		t.Errorf("long: %s %s", a, b)
	}
}

func TestPolicyRoleLifecycle(t *testing.T) {
	b, e := setup(t, "idt")
	ctx := context.Background()
	p1, p2, p3 := policy(t, e.iam, "p1"), policy(t, e.iam, "p2"), policy(t, e.iam, "p3")
	req := Request{API: "iris", ServiceAccount: "iris", PolicyARNs: []string{p1, p2}}
	recorded.take()
	role, err := b.Bind(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	first := recorded.take()
	t.Logf("first bind: %d AWS calls %v", len(first), first)
	name := prefix + "-api-iris"
	if role != "arn:aws:iam::"+account+":role"+RolePath(prefix)+name {
		t.Fatalf("role %s", role)
	}
	if got := attachedPolicies(t, e.iam, name); !slices.Equal(got, []string{p1, p2}) {
		t.Errorf("policies %v", got)
	}
	if got := association(t, e.eks, "idt", "iris"); got != role {
		t.Errorf("association role %q", got)
	}
	// The trust policy: EKS Pod Identity only, this cluster, namespace and ServiceAccount.
	got, err := e.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument))
	for _, want := range []string{`"pods.eks.amazonaws.com"`, `"sts:AssumeRole"`, `"sts:TagSession"`,
		`"aws:RequestTag/kubernetes-service-account":"iris"`, `"aws:RequestTag/kubernetes-namespace":"cortex-apis"`,
		`"aws:RequestTag/eks-cluster-name":"idt"`, `"aws:SourceArn":"arn:aws:eks:us-west-2:123456789012:cluster/idt"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("trust policy lacks %s: %s", want, doc)
		}
	}
	tags, err := roleTags(ctx, e.iam, name)
	if err != nil || tags[TagClusterName] != "idt" || tags[TagResource] != ResourceAPIRole || tags[TagAPI] != "iris" {
		t.Errorf("tags %v %v", tags, err)
	}

	// Idempotent: the same request changes nothing (one association, same policies), and
	// sends no write at all.
	recorded.take()
	if again, err := b.Bind(ctx, req); err != nil || again != role {
		t.Fatalf("rebind: %s %v", again, err)
	}
	rebind := recorded.take()
	t.Logf("rebind: %d AWS calls %v", len(rebind), rebind)
	for _, op := range rebind {
		if !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List") && !strings.HasPrefix(op, "Describe") {
			t.Errorf("rebind of an unchanged API sent %s", op)
		}
	}
	if got := association(t, e.eks, "idt", "iris"); got != role {
		t.Errorf("association role after rebind %q", got)
	}

	// Update: p1 removed, p3 added.
	req.PolicyARNs = []string{p2, p3}
	if _, err := b.Bind(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := attachedPolicies(t, e.iam, name); !slices.Equal(got, []string{p2, p3}) {
		t.Errorf("policies after update %v", got)
	}

	// Delete: association and role gone; twice is fine.
	for i := 0; i < 2; i++ {
		if err := b.Unbind(ctx, "iris", "iris"); err != nil {
			t.Fatal(err)
		}
	}
	if got := association(t, e.eks, "idt", "iris"); got != "" {
		t.Errorf("association left: %s", got)
	}
	if roleExists(t, e.iam, name) {
		t.Error("role left after unbind")
	}
	// The policies themselves are the user's: never deleted.
	if _, err := e.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(p1)}); err != nil {
		t.Errorf("policy p1: %v", err)
	}
}

func TestUserRoleIsNeverDeleted(t *testing.T) {
	b, e := setup(t, "idt")
	ctx := context.Background()
	mine, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("team-reader"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	userRole := aws.ToString(mine.Role.Arn)
	// First with policies (cortex makes a role), then the user's role: the association moves and
	// cortex's role is removed.
	p1 := policy(t, e.iam, "p1")
	if _, err := b.Bind(ctx, Request{API: "echo", ServiceAccount: "echo", PolicyARNs: []string{p1}}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Bind(ctx, Request{API: "echo", ServiceAccount: "echo", RoleARN: userRole}); err != nil || got != userRole {
		t.Fatalf("bind user role: %s %v", got, err)
	}
	if got := association(t, e.eks, "idt", "echo"); got != userRole {
		t.Errorf("association role %q, want the user's", got)
	}
	if roleExists(t, e.iam, prefix+"-api-echo") {
		t.Error("cortex's role of the API is left after the API named its own")
	}
	if err := b.Unbind(ctx, "echo", "echo"); err != nil {
		t.Fatal(err)
	}
	if got := association(t, e.eks, "idt", "echo"); got != "" {
		t.Errorf("association left: %s", got)
	}
	if !roleExists(t, e.iam, "team-reader") {
		t.Fatal("the user's role was deleted")
	}
	// A role of the same name as cortex's, not made by cortex, is neither taken over nor deleted.
	if _, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(prefix + "-api-other"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bind(ctx, Request{API: "other", ServiceAccount: "other", PolicyARNs: []string{p1}}); err == nil || !strings.Contains(err.Error(), "not made by cortex") {
		t.Errorf("took over a role it did not make: %v", err)
	}
	if err := b.Unbind(ctx, "other", "other"); err != nil {
		t.Fatal(err)
	}
	if !roleExists(t, e.iam, prefix+"-api-other") {
		t.Error("deleted a role it did not make")
	}
	// Naming another API's role (cortex's prefix) is refused: it would borrow that identity.
	if _, err := b.Bind(ctx, Request{API: "x", ServiceAccount: "x", RoleARN: "arn:aws:iam::" + account + ":role/" + prefix + "-api-iris"}); err == nil {
		t.Error("an API borrowed a role cortex manages")
	}
	if _, err := b.Bind(ctx, Request{API: "x", ServiceAccount: "x", RoleARN: "arn:aws:iam::" + account + ":role" + RolePath(prefix) + "renamed"}); err == nil {
		t.Error("an API borrowed a role under cortex's path")
	}
	if got := association(t, e.eks, "idt", "x"); got != "" {
		t.Errorf("association made for a refused role: %s", got)
	}
}

func TestBindFailureLeavesNoAssociation(t *testing.T) {
	b, e := setup(t, "idt")
	ctx := context.Background()
	// A policy that does not exist: the role cannot get it, and no association may exist.
	_, err := b.Bind(ctx, Request{API: "bad", ServiceAccount: "bad", PolicyARNs: []string{"arn:aws:iam::" + account + ":policy/missing"}})
	if err == nil {
		t.Fatal("bind with a missing policy succeeded")
	}
	if got := association(t, e.eks, "idt", "bad"); got != "" {
		t.Errorf("association made although the role is incomplete: %s", got)
	}
	// EKS failing once: an error, and a retry converges.
	p1 := policy(t, e.iam, "p1")
	e.fake.FailNext("CreatePodIdentityAssociation", 1)
	if _, err := b.Bind(ctx, Request{API: "bad", ServiceAccount: "bad", PolicyARNs: []string{p1}}); err == nil {
		t.Fatal("bind succeeded although EKS failed")
	}
	role, err := b.Bind(ctx, Request{API: "bad", ServiceAccount: "bad", PolicyARNs: []string{p1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := association(t, e.eks, "idt", "bad"); got != role {
		t.Errorf("after retry: %q", got)
	}
}

func TestRemoveAll(t *testing.T) {
	b, e := setup(t, "idt")
	ctx := context.Background()
	p1 := policy(t, e.iam, "p1")
	for _, api := range []string{"a", "b", "c"} {
		if _, err := b.Bind(ctx, Request{API: api, ServiceAccount: api, PolicyARNs: []string{p1}}); err != nil {
			t.Fatal(err)
		}
	}
	// Someone else's association in the cluster and a role of another cluster stay.
	if _, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("idt"),
		Namespace: aws.String("kube-system"), ServiceAccount: aws.String("ebs-csi"), RoleArn: aws.String("arn:aws:iam::" + account + ":role/ebs")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("cortex-other-99999999-api-a"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := RemoveAll(ctx, e.iam, e.eks, "idt", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Associations) != 3 || len(got.Roles) != 3 {
		t.Errorf("removed %+v", got)
	}
	l, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("idt")})
	if err != nil || len(l.Associations) != 1 || aws.ToString(l.Associations[0].Namespace) != "kube-system" {
		t.Errorf("associations left: %+v %v", l, err)
	}
	if !roleExists(t, e.iam, "cortex-other-99999999-api-a") {
		t.Error("deleted another cluster's role")
	}
	// Again, and on a cluster that is gone: nothing to do.
	if got, err := RemoveAll(ctx, e.iam, e.eks, "idt", prefix); err != nil || len(got.Roles)+len(got.Associations) != 0 {
		t.Errorf("second run %+v %v", got, err)
	}
	if _, err := RemoveAll(ctx, e.iam, e.eks, "gone", prefix); err != nil {
		t.Errorf("gone cluster: %v", err)
	}
}
