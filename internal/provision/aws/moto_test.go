package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

const testRegion = "us-west-2"

// recorder is the HTTP transport of the tests: it counts AWS calls by operation and can fail the
// requests of one operation (a failure moto cannot produce by itself).
type recorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	calls  map[string]int
	total  atomic.Int64
	failOp atomic.Value // string
	order  []string     // operations in the order they were sent
}

func newRecorder() *recorder {
	r := &recorder{next: http.DefaultTransport, calls: map[string]int{}}
	r.failOp.Store("")
	return r
}

// reset forgets the calls recorded so far and returns them.
func (r *recorder) reset() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = map[string]int{}
	return calls
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	op := awsmiddleware.GetServiceID(req.Context()) + "." + awsmiddleware.GetOperationName(req.Context())
	r.total.Add(1)
	r.mu.Lock()
	r.calls[op]++
	r.order = append(r.order, op)
	r.mu.Unlock()
	if f := r.failOp.Load().(string); f != "" && strings.HasSuffix(op, "."+f) {
		return nil, fmt.Errorf("injected fault in %s", op)
	}
	return r.next.RoundTrip(req)
}

func awsConfig(url string, rt http.RoundTripper) aws.Config {
	return aws.Config{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   &http.Client{Transport: rt, Timeout: 30 * time.Second},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

func newTestProvisioner(t testing.TB, url string, rt http.RoundTripper, stateDir string) *Provisioner {
	t.Helper()
	if rt == nil {
		rt = http.DefaultTransport
	}
	url = withEKSFake(url)
	start := time.Now()
	progress := func(e Event) {
		if os.Getenv("CORTEX_TEST_PROGRESS") != "" {
			t.Logf("%6.2fs %-16s %-8s %s %v", time.Since(start).Seconds(), e.Step, e.Phase, e.Detail, e.Err)
		}
	}
	p, err := New(Options{AWS: awsConfig(url, rt), StateDir: stateDir, PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustConfig(t testing.TB, yaml string) *clusterconfig.Config {
	t.Helper()
	c, err := clusterconfig.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	motoOnce sync.Once
	motoURL  string
	motoErr  string
)

// TestMain-less sharing: every test of this package uses one moto, started by the first that needs
// it and stopped when the package's tests end.
func TestMain(m *testing.M) {
	// The EKS roles attach AWS managed policies, which moto loads only when asked.
	os.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	code := m.Run()
	if stopEKSFake != nil {
		stopEKSFake()
	}
	if stopMoto != nil {
		stopMoto()
	}
	os.Exit(code)
}

var stopMoto func()

var (
	eksFakeOnce sync.Once
	eksFakeURL  string
	stopEKSFake func()
)

// withEKSFake puts the fake of the EKS operations moto lacks (add-ons, pod identity associations,
// access entries; internal/testutil/eksfake) in front of the package's shared moto, once for all
// tests, so that the fake knows every cluster any test created (a resume in another Provisioner
// finds it). Other URLs (a test's own fake, a stub server) are used as they are.
func withEKSFake(url string) string {
	if url == "" || url != motoURL {
		return url
	}
	eksFakeOnce.Do(func() {
		srv := httptest.NewServer(eksfake.New(eksfake.Options{Upstream: motoURL}))
		eksFakeURL, stopEKSFake = srv.URL, srv.Close
	})
	return eksFakeURL
}

type tbShim struct {
	testing.TB
	cleanups []func()
}

func (s *tbShim) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

func moto(t testing.TB) string {
	t.Helper()
	motoserver.SkipIfShort(t) // before the Once: a skip inside it would leave moto unstarted for every later test
	motoOnce.Do(func() {
		shim := &tbShim{TB: t}
		func() {
			defer func() {
				if r := recover(); r != nil {
					motoErr = fmt.Sprint(r)
				}
			}()
			srv := motoserver.Start(shim, motoserver.Options{})
			// moto answers the EKS operations of pod identity associations (which `down` calls)
			// with 404: the fake of those operations sits in front of it for every test.
			motoURL = eksfake.Start(shim, eksfake.Options{Upstream: srv.URL}).URL
		}()
		stopMoto = func() {
			for i := len(shim.cleanups) - 1; i >= 0; i-- {
				shim.cleanups[i]()
			}
		}
	})
	if motoURL == "" {
		t.Fatalf("moto is not running: %s", motoErr)
	}
	return motoURL
}

// inventory counts the resources in moto that carry the cluster's tag or name.
type inventory map[string]int

func (inv inventory) String() string {
	var keys []string
	for k, v := range inv {
		if v != 0 {
			keys = append(keys, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func takeInventory(t *testing.T, p *Provisioner, cluster string) inventory {
	t.Helper()
	ctx := context.Background()
	inv := inventory{}
	f := p.ec2Filters(cluster, "")
	vpcs, err := p.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: f})
	must(t, err)
	inv["vpc"] = len(vpcs.Vpcs)
	sns, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: f})
	must(t, err)
	inv["subnet"] = len(sns.Subnets)
	igws, err := p.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: f})
	must(t, err)
	inv["igw"] = len(igws.InternetGateways)
	nats, err := p.natGatewaysOf(ctx, cluster)
	must(t, err)
	for _, n := range nats {
		if n.State != ec2types.NatGatewayStateDeleted {
			inv["nat"]++
		}
	}
	eips, err := p.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: f})
	must(t, err)
	inv["eip"] = len(eips.Addresses)
	rts, err := p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: f})
	must(t, err)
	inv["rtb"] = len(rts.RouteTables)
	sgs, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: f})
	must(t, err)
	inv["sg"] = len(sgs.SecurityGroups)
	// Everything in EC2 with the tag, whatever its type (catches duplicates of any kind).
	tags, err := p.ec2.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("key"), Values: []string{TagClusterName}}, {Name: aws.String("value"), Values: []string{cluster}}}})
	must(t, err)
	// moto keeps the tags of deleted resources, so count only tagged resources that still exist.
	for _, tg := range tags.Tags {
		if ec2Alive(t, p, string(tg.ResourceType), aws.ToString(tg.ResourceId)) {
			inv["ec2-tagged"]++
			inv["ec2-tagged:"+string(tg.ResourceType)]++
		}
	}

	id, err := p.WhoAmI(ctx)
	must(t, err)
	names := NamesFor(id.Partition, id.Account, cluster, testRegion)
	for _, r := range []string{names.ClusterRole, names.NodeRole, OperatorRoleName(cluster, testRegion)} {
		if _, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r)}); err == nil {
			inv["role"]++
		} else if !isCode(err, "NoSuchEntity") {
			t.Fatal(err)
		}
	}
	if _, err := p.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(names.PolicyARN)}); err == nil {
		inv["policy"]++
	}
	if _, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)}); err == nil {
		inv["eks"]++
		ngs, err := p.eks.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster)})
		must(t, err)
		inv["nodegroup"] = len(ngs.Nodegroups)
		// Through the fake (moto has neither; see withEKSFake).
		if a, err := p.findPodIdentityAssociation(ctx, cluster, operatorNamespace, operatorServiceAccount); err == nil && a != nil {
			inv["pod-identity"]++
		}
		if _, err := p.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(cluster), AddonName: aws.String(PodIdentityAgentAddon)}); err == nil {
			inv["addon"]++
		}
	}
	for _, n := range []string{names.OperatorLB, names.APILB} {
		lb, err := p.findLoadBalancer(ctx, n)
		must(t, err)
		if lb != nil {
			inv["lb"]++
		}
	}
	for _, n := range []string{names.OperatorLB, names.APILB} {
		tg, err := p.findTargetGroup(ctx, n)
		must(t, err)
		if tg != nil {
			inv["tg"]++
		}
	}
	all, err := p.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	must(t, err)
	for _, lb := range all.LoadBalancers {
		if strings.HasPrefix(aws.ToString(lb.LoadBalancerName), strings.TrimSuffix(names.APILB, "api")) {
			inv["lb-by-prefix"]++
		}
	}
	if _, err := p.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(names.Bucket)}); err == nil {
		inv["bucket"]++
	}
	lgs, err := p.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(cluster)})
	must(t, err)
	for _, g := range lgs.LogGroups {
		if aws.ToString(g.LogGroupName) == cluster {
			inv["log-group"]++
		}
	}
	return inv
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (inv inventory) empty() bool {
	for _, v := range inv {
		if v != 0 {
			return false
		}
	}
	return true
}

func ec2Alive(t *testing.T, p *Provisioner, kind, id string) bool {
	t.Helper()
	ctx := context.Background()
	var err error
	n := 0
	switch kind {
	case "vpc":
		var o *ec2.DescribeVpcsOutput
		if o, err = p.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}}); err == nil {
			n = len(o.Vpcs)
		}
	case "subnet":
		var o *ec2.DescribeSubnetsOutput
		if o, err = p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}}); err == nil {
			n = len(o.Subnets)
		}
	case "internet-gateway":
		var o *ec2.DescribeInternetGatewaysOutput
		if o, err = p.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{InternetGatewayIds: []string{id}}); err == nil {
			n = len(o.InternetGateways)
		}
	case "security-group":
		var o *ec2.DescribeSecurityGroupsOutput
		if o, err = p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}}); err == nil {
			n = len(o.SecurityGroups)
		}
	case "route-table":
		var o *ec2.DescribeRouteTablesOutput
		if o, err = p.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{id}}); err == nil {
			n = len(o.RouteTables)
		}
	case "natgateway", "nat-gateway":
		var o *ec2.DescribeNatGatewaysOutput
		if o, err = p.ec2.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}}); err == nil {
			for _, g := range o.NatGateways {
				if g.State != ec2types.NatGatewayStateDeleted {
					n++
				}
			}
		}
	case "elastic-ip", "vpc-elastic-ip":
		var o *ec2.DescribeAddressesOutput
		if o, err = p.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{id}}); err == nil {
			n = len(o.Addresses)
		}
	default:
		return true // a kind cortex does not create: report it
	}
	if err != nil {
		if strings.Contains(errCode(err), "NotFound") {
			return false
		}
		t.Fatalf("describe %s %s: %v", kind, id, err)
	}
	return n > 0
}
