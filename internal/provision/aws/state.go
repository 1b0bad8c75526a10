package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
)

// StateKey is where the state lives in the cluster's bucket.
const StateKey = "cortex/cluster-state.json"

// Cluster statuses.
const (
	StatusCreating = "creating"
	StatusReady    = "ready"
	StatusDeleting = "deleting"
)

// LoadBalancer is what the state records of a load balancer.
type LoadBalancer struct {
	Name    string   `json:"name"`
	ARN     string   `json:"arn"`
	DNSName string   `json:"dns_name"`
	Scheme  string   `json:"scheme"`
	Subnets []string `json:"subnets"`
}

// State is everything `cluster up` created, and what the operator will need.
type State struct {
	Version     int                   `json:"version"`
	ClusterName string                `json:"cluster_name"`
	Region      string                `json:"region"`
	ClusterID   string                `json:"cluster_id"`
	AccountID   string                `json:"account_id"`
	Partition   string                `json:"partition"`
	CreatorARN  string                `json:"creator_arn"`
	Status      string                `json:"status"`
	CreatedAt   time.Time             `json:"created_at"`
	UpdatedAt   time.Time             `json:"updated_at"`
	Config      *clusterconfig.Config `json:"config"`

	Bucket    string `json:"bucket,omitempty"`
	LogGroup  string `json:"log_group,omitempty"`
	PolicyARN string `json:"policy_arn,omitempty"`

	Zones              []string          `json:"zones,omitempty"`
	VPCID              string            `json:"vpc_id,omitempty"`
	CreatedVPC         bool              `json:"created_vpc,omitempty"`
	InternetGatewayID  string            `json:"internet_gateway_id,omitempty"`
	PublicSubnets      map[string]string `json:"public_subnets,omitempty"`  // zone -> subnet id
	PrivateSubnets     map[string]string `json:"private_subnets,omitempty"` // zone -> subnet id
	ElasticIPs         map[string]string `json:"elastic_ips,omitempty"`     // zone -> allocation id
	NATGateways        map[string]string `json:"nat_gateways,omitempty"`    // zone -> nat gateway id
	PublicRouteTable   string            `json:"public_route_table,omitempty"`
	PrivateRouteTables map[string]string `json:"private_route_tables,omitempty"` // zone -> route table id
	SecurityGroups     map[string]string `json:"security_groups,omitempty"`      // nodes|operator-lb|api-lb -> id

	ClusterRoleARN string            `json:"cluster_role_arn,omitempty"`
	NodeRoleARN    string            `json:"node_role_arn,omitempty"`
	NodeRolePolicy []string          `json:"node_role_policies,omitempty"`
	EKSCluster     string            `json:"eks_cluster,omitempty"`
	EKSEndpoint    string            `json:"eks_endpoint,omitempty"`
	NodeGroups     map[string]string `json:"node_groups,omitempty"` // name -> ARN

	OperatorLoadBalancer *LoadBalancer `json:"operator_load_balancer,omitempty"`
	APILoadBalancer      *LoadBalancer `json:"api_load_balancer,omitempty"`
	// APIDomain is where clients call APIs when the API load balancer terminates TLS with
	// ssl_certificate_arn (APIDomain in apidomain.go); empty: at the load balancer's name.
	APIDomain string `json:"api_domain,omitempty"`
	// TargetGroups are the load balancers' target groups (operator|api -> ARN).
	TargetGroups map[string]string `json:"target_groups,omitempty"`
	// Kubernetes is what `up` installed into the EKS cluster.
	Kubernetes *KubeInstall `json:"kubernetes,omitempty"`

	// The operator's AWS credentials (operatorcreds.go): the mode, and in pod-identity mode its
	// role and association; never a key.
	OperatorAuth          string `json:"operator_auth,omitempty"`
	OperatorRoleARN       string `json:"operator_role_arn,omitempty"`
	OperatorAssociationID string `json:"operator_association_id,omitempty"`
	PodIdentityAgent      string `json:"pod_identity_agent,omitempty"` // add-on version

	// AccessApplied are the rules of cluster.yaml's access that up or configure applied, as
	// written (access.go). Only these are ever revoked when cluster.yaml drops them: grants made
	// with `cortex cluster access grant` are not here. A rule is recorded before it is granted, so
	// a grant that stopped part way is still revoked by a later configure that drops it.
	AccessApplied []clusterconfig.AccessRule `json:"access_applied,omitempty"`

	// APIIAMPending says a configure of api_iam started and did not finish: Config.APIIAM then
	// holds the union of the lists before and after (what may be applied somewhere), so that the
	// next configure's in-use check and order start from it, and that configure applies api_iam
	// even when cluster.yaml's equals Config's (configureiam.go).
	APIIAMPending bool `json:"api_iam_pending,omitempty"`

	// Completed lists the steps that finished, in order.
	Completed []string `json:"completed,omitempty"`
}

func (s *State) clone() *State {
	data, _ := json.Marshal(s)
	c := &State{}
	_ = json.Unmarshal(data, c)
	return c
}

func (s *State) markDone(step string) {
	for _, c := range s.Completed {
		if c == step {
			return
		}
	}
	s.Completed = append(s.Completed, step)
}

// LocalStatePath is the CLI cache's copy of a cluster's state.
func LocalStatePath(dir, clusterName, region string) string {
	return filepath.Join(dir, clusterName+"-"+region+".state.json")
}

// LoadLocalState reads the CLI cache's copy (nil, nil when there is none).
func LoadLocalState(dir, clusterName, region string) (*State, error) {
	if dir == "" {
		return nil, nil
	}
	data, err := os.ReadFile(LocalStatePath(dir, clusterName, region))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("cluster state %s: %w", LocalStatePath(dir, clusterName, region), err)
	}
	return s, nil
}

// RemoveLocalState deletes the CLI cache's copy.
func RemoveLocalState(dir, clusterName, region string) error {
	if dir == "" {
		return nil
	}
	err := os.Remove(LocalStatePath(dir, clusterName, region))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// update changes the state under the lock and persists it in the CLI cache. The copy in the
// bucket is written by checkpoint, after each step (ids recorded in between are found again by
// tag or name on a resume, so the bucket copy need not follow every change).
func (p *Provisioner) update(ctx context.Context, f func(s *State)) error {
	return p.persist(ctx, f, false)
}

// checkpoint is update plus the copy in the cluster's bucket (once the bucket exists).
func (p *Provisioner) checkpoint(ctx context.Context, f func(s *State)) error {
	return p.persist(ctx, f, true)
}

func (p *Provisioner) persist(ctx context.Context, f func(s *State), remote bool) error {
	p.stateMu.Lock()
	f(p.state)
	p.state.UpdatedAt = p.opts.Now().UTC()
	snap := p.state.clone()
	p.stateMu.Unlock()
	return p.save(ctx, snap, remote)
}

// snapshot returns a copy of the current state.
func (p *Provisioner) snapshot() *State {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.state.clone()
}

func (p *Provisioner) save(ctx context.Context, s *State, remote bool) error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if p.opts.StateDir != "" {
		if err := fsutil.WriteFileAtomic(LocalStatePath(p.opts.StateDir, s.ClusterName, s.Region), data); err != nil {
			return fmt.Errorf("save cluster state: %w", err)
		}
	}
	if remote && s.Bucket != "" && contains(s.Completed, stepBucket) && s.Status != StatusDeleting {
		_, err := p.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Bucket), Key: aws.String(StateKey), Body: bytes.NewReader(data),
			ContentType: aws.String("application/json"), ServerSideEncryption: s3types.ServerSideEncryptionAes256,
		})
		if err != nil {
			return fmt.Errorf("save cluster state to s3://%s/%s: %w", s.Bucket, StateKey, err)
		}
	}
	return nil
}

// loadBucketState reads the state from the cluster's bucket (nil, nil when absent).
func (p *Provisioner) loadBucketState(ctx context.Context, bucket string) (*State, error) {
	out, err := p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(StateKey)})
	if err != nil {
		if isCode(err, "NoSuchKey", "NoSuchBucket", "NotFound") {
			return nil, nil
		}
		return nil, fmt.Errorf("read cluster state from s3://%s/%s: %w", bucket, StateKey, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("cluster state in s3://%s/%s: %w", bucket, StateKey, err)
	}
	return s, nil
}

// LoadState finds a cluster's state: the CLI cache first, else the cluster's bucket.
func (p *Provisioner) LoadState(ctx context.Context, id *Identity, clusterName string) (*State, error) {
	s, err := LoadLocalState(p.opts.StateDir, clusterName, p.region)
	if err != nil || s != nil {
		return s, err
	}
	return p.loadBucketState(ctx, NamesFor(id.Partition, id.Account, clusterName, p.region).Bucket)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
