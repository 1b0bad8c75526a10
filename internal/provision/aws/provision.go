// Package aws provisions a cortex cluster's AWS resources with aws-sdk-go-v2: an ordered set of
// idempotent steps (find by state or tag, else create; record the id; persist the state) that run
// in dependency order, independent steps in parallel, with progress events, bounded waits, and
// the reverse for deletion. It knows nothing of the CLI.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
)

// Tag keys cortex puts on every resource it creates.
const (
	TagClusterName = "cortex.dev/cluster-name"
	TagClusterID   = "cortex.dev/cluster-id"
	TagResource    = "cortex.dev/resource"
)

// Phases of a progress event.
const (
	PhaseStart   = "start"
	PhaseDone    = "done"
	PhaseWaiting = "waiting"
	PhaseSkipped = "skipped"
	PhaseFailed  = "failed"
	PhaseInfo    = "info"
)

// Event is one line of progress.
type Event struct {
	Step    string
	Phase   string
	Detail  string
	Err     error
	Elapsed time.Duration
}

// Options configure a Provisioner.
type Options struct {
	// AWS is the SDK configuration: credentials, region, endpoint (AWS_ENDPOINT_URL) and HTTP client.
	AWS aws.Config
	// StateDir, when set, is where the CLI keeps its copy of the cluster state (the cluster cache).
	StateDir string
	// Progress receives events; it is called from several goroutines, one event at a time.
	Progress func(Event)
	// PollInterval is how often a wait polls (default 10s); WaitTimeout bounds each wait (default 30m).
	PollInterval time.Duration
	WaitTimeout  time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ClusterCredentials, when set, are the credentials the operator uses (cluster up
	// --cluster-aws-key/--cluster-aws-secret, CLUSTER_AWS_*), installed as a Secret; nil: the
	// operator gets a role of its own (operatorcreds.go). Never the spin-up credentials.
	ClusterCredentials *aws.Credentials
	// Image is the cortex image `up` installs into the EKS cluster (default: the image the last
	// `up` installed). With neither, `up` stops after the AWS resources.
	Image string
	// APIImage is the image of python and command APIs (default: the one the last `up`
	// installed, else Image, which has no Python).
	APIImage string
	// NewKubeClient makes the EKS cluster's Kubernetes client from DescribeCluster's endpoint and
	// CA (default NewEKSClient: an EKS token of the AWS credentials). Tests resolve the endpoint
	// to a local API server (internal/testutil/kubetest).
	NewKubeClient KubeClientFunc
	// STSTestEndpoint and APIServer, TESTS ONLY (cluster up's hidden flags), are
	// install.Options' fields of the same names: the operator verifies identity tokens against an
	// STS emulator, and reaches the Kubernetes API at host:port (a test node without a Service
	// proxy). Empty on every real cluster.
	STSTestEndpoint, APIServer string
	// AWSTestEndpoint, TESTS ONLY (cluster up --aws-test-endpoint, hidden), is
	// install.OperatorAWS.TestEndpoint: the operator pod's AWS SDK calls (EKS, IAM) go to this
	// emulator. Empty on every real cluster.
	AWSTestEndpoint string
}

// Provisioner creates, inspects, changes and deletes one cluster.
type Provisioner struct {
	opts   Options
	region string

	s3   *s3.Client
	logs *cloudwatchlogs.Client
	iam  *iam.Client
	ec2  *ec2.Client
	eks  *eks.Client
	elb  *elb.Client
	sts  *sts.Client
	asg  *autoscaling.Client
	acm  *acm.Client

	progressMu sync.Mutex
	stateMu    sync.Mutex
	saveMu     sync.Mutex
	state      *State
}

// New builds a Provisioner. The region of opts.AWS must be set.
func New(opts Options) (*Provisioner, error) {
	if opts.AWS.Region == "" {
		return nil, errors.New("no AWS region configured")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 10 * time.Second
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 30 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewKubeClient == nil {
		opts.NewKubeClient = NewEKSClient
	}
	if opts.AWS.HTTPClient == nil {
		opts.AWS.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	cfg := opts.AWS
	return &Provisioner{
		opts:   opts,
		region: cfg.Region,
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			// Custom endpoints (moto, localstack) serve buckets by path, not by virtual host.
			if cfg.BaseEndpoint != nil {
				o.UsePathStyle = true
			}
		}),
		logs: cloudwatchlogs.NewFromConfig(cfg),
		iam:  iam.NewFromConfig(cfg),
		ec2:  ec2.NewFromConfig(cfg),
		eks:  eks.NewFromConfig(cfg),
		elb:  elb.NewFromConfig(cfg),
		sts:  sts.NewFromConfig(cfg),
		asg:  autoscaling.NewFromConfig(cfg),
		acm:  acm.NewFromConfig(cfg),
	}, nil
}

func (p *Provisioner) emit(e Event) {
	if p.opts.Progress == nil {
		return
	}
	p.progressMu.Lock()
	defer p.progressMu.Unlock()
	p.opts.Progress(e)
}

// Identity is who the credentials belong to.
type Identity struct {
	Account   string `json:"account"`
	ARN       string `json:"arn"`
	UserID    string `json:"user_id"`
	Partition string `json:"partition"`
}

// WhoAmI calls sts:GetCallerIdentity.
func (p *Provisioner) WhoAmI(ctx context.Context) (*Identity, error) {
	out, err := p.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("sts:GetCallerIdentity: %w", err)
	}
	id := &Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId), Partition: "aws"}
	if a, err := parseARN(id.ARN); err == nil {
		id.Partition = a.partition
	}
	return id, nil
}

// WaitReport is how often a long wait reports its elapsed time.
const WaitReport = 30 * time.Second

// wait polls check until it reports done, the context ends, or WaitTimeout passes.
func (p *Provisioner) wait(ctx context.Context, step, what string, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.WaitTimeout)
	defer cancel()
	start := p.opts.Now()
	var announced time.Time
	for {
		done, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		// Say what is awaited at once, then again with the elapsed time every WaitReport, so a
		// 15-minute EKS creation never looks stuck.
		if now := p.opts.Now(); announced.IsZero() || now.Sub(announced) >= WaitReport {
			p.emit(Event{Step: step, Phase: PhaseWaiting, Detail: what, Elapsed: now.Sub(start)})
			announced = now
		}
		t := time.NewTimer(p.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up waiting for %s after %s (run the command again to keep waiting): %w", what, p.opts.Now().Sub(start).Round(time.Second), ctx.Err())
		case <-t.C:
		}
	}
}

// errCode returns the AWS error code of err ("" if none).
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isCode(err error, codes ...string) bool {
	c := errCode(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// Names derived from the cluster name, region and account.
type Names struct {
	Bucket, LogGroup, PolicyName, PolicyARN, ClusterRole, NodeRole, EKSCluster, OperatorLB, APILB string
}

// NamesFor returns the deterministic names of a cluster's resources.
func NamesFor(partition, account, clusterName, region string) Names {
	pol := clusterconfig.PolicyName(clusterName, region)
	return Names{
		Bucket:      clusterconfig.BucketName(clusterName, account, region),
		LogGroup:    clusterconfig.LogGroupName(clusterName),
		PolicyName:  pol,
		PolicyARN:   fmt.Sprintf("arn:%s:iam::%s:policy/%s", partition, account, pol),
		ClusterRole: clusterconfig.RoleName(clusterName, region, "cluster"),
		NodeRole:    clusterconfig.RoleName(clusterName, region, "node"),
		EKSCluster:  clusterName,
		OperatorLB:  clusterconfig.LoadBalancerName(clusterName, region, "operator"),
		APILB:       clusterconfig.LoadBalancerName(clusterName, region, "api"),
	}
}

// natGatewaysOf lists the cluster's NAT gateways. The tag filter is also applied here, because
// some implementations (moto) ignore tag filters of DescribeNatGateways.
func (p *Provisioner) natGatewaysOf(ctx context.Context, clusterName string) ([]ec2types.NatGateway, error) {
	var out []ec2types.NatGateway
	pg := ec2.NewDescribeNatGatewaysPaginator(p.ec2, &ec2.DescribeNatGatewaysInput{Filter: p.ec2Filters(clusterName, "")})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("find NAT gateways: %w", err)
		}
		for _, n := range page.NatGateways {
			if tagValue(n.Tags, TagClusterName) == clusterName {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
