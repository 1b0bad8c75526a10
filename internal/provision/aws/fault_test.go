package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each subtest makes `up` fail at one AWS operation (the transport refuses it), runs `up` again
// without the fault, and checks that the cluster converged to exactly the resource set of a clean
// run, with no duplicates; then `down` removes everything.
func TestUpResumesAfterFailureAtEachStep(t *testing.T) {
	u := moto(t)
	// One creating operation per step (plus the identity and the state write).
	ops := []string{
		"GetCallerIdentity", "CreateBucket", "PutObject", "CreateLogGroup", "CreatePolicy", "CreateVpc",
		"AttachInternetGateway", "CreateSubnet", "CreateNatGateway", "CreateRoute", "AuthorizeSecurityGroupIngress",
		"AttachRolePolicy", "CreateCluster", "CreateNodegroup", "CreateLoadBalancer",
		"CreateAddon", "PutRolePolicy", "CreatePodIdentityAssociation",
	}
	want := inventory{"vpc": 1, "subnet": 4, "igw": 1, "nat": 1, "eip": 1, "rtb": 3, "sg": 3, "role": 3, "policy": 1, "pod-identity": 1, "addon": 1,
		"eks": 1, "nodegroup": 1, "lb": 2, "lb-by-prefix": 2, "bucket": 1, "log-group": 1,
		"ec2-tagged": 1 + 4 + 1 + 1 + 1 + 3 + 3}
	for i, op := range ops {
		op, name := op, fmt.Sprintf("fault-%02d", i)
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			rec := newRecorder()
			rec.failOp.Store(op)
			cfg := mustConfig(t, "cluster_name: "+name+"\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nsubnet_visibility: private\niam_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]\n")
			_, err := newTestProvisioner(t, u, rec, dir).Up(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), "injected fault") {
				t.Fatalf("up with a fault in %s: want the injected error, got %v", op, err)
			}
			rec.failOp.Store("")
			p := newTestProvisioner(t, u, rec, dir)
			res, err := p.Up(ctx, cfg)
			if err != nil {
				t.Fatalf("re-run after a fault in %s: %v", op, err)
			}
			if res.State.Status != StatusReady {
				t.Fatalf("status %s", res.State.Status)
			}
			checkInventory(t, takeInventory(t, p, name), want)
			// Every resource carries the id of the first run.
			checkPolicyDocument(t, p, res.State)
			rep, err := p.Down(ctx, name, DownOptions{})
			if err != nil {
				t.Fatalf("%v: %+v", err, rep.Leftovers)
			}
			if inv := takeInventory(t, p, name); !inv.empty() {
				t.Fatalf("down left %v", inv)
			}
		})
	}
}

// A resume must use the configuration the first run started with: changing a field that cannot
// change is refused before anything is created, and the original configuration still resumes.
func TestResumeRefusesChangedImmutableFields(t *testing.T) {
	u := moto(t)
	ctx := context.Background()
	dir := t.TempDir()
	rec := newRecorder()
	rec.failOp.Store("CreateNatGateway")
	base := "cluster_name: resume-changed\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\nsubnet_visibility: private\n"
	if _, err := newTestProvisioner(t, u, rec, dir).Up(ctx, mustConfig(t, base)); err == nil {
		t.Fatal("want the injected fault")
	}
	rec.failOp.Store("")
	p := newTestProvisioner(t, u, rec, dir)
	before := takeInventory(t, p, "resume-changed")
	_, err := p.Up(ctx, mustConfig(t, base+"vpc_cidr: 10.20.0.0/16\n"))
	if err == nil || !strings.Contains(err.Error(), "vpc_cidr") || !strings.Contains(err.Error(), "partly created") {
		t.Fatalf("resume with another vpc_cidr: %v", err)
	}
	checkInventory(t, takeInventory(t, p, "resume-changed"), before)
	res, err := p.Up(ctx, mustConfig(t, base))
	if err != nil || res.State.Status != StatusReady {
		t.Fatalf("resume with the original config: %v", err)
	}
	if _, err := p.Down(ctx, "resume-changed", DownOptions{}); err != nil {
		t.Fatal(err)
	}
}

// down on a cluster whose creation stopped half way (and that was never resumed) cleans up too,
// also without the CLI's local copy of the state.
func TestDownHalfCreated(t *testing.T) {
	u := moto(t)
	for _, op := range []string{"CreateCluster", "CreateNatGateway", "CreateLoadBalancer"} {
		op := op
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			name := "half-" + strings.ToLower(op)
			rec := newRecorder()
			rec.failOp.Store(op)
			cfg := mustConfig(t, "cluster_name: "+name+"\nregion: us-west-2\nsubnet_visibility: private\n")
			if _, err := newTestProvisioner(t, u, rec, t.TempDir()).Up(ctx, cfg); err == nil {
				t.Fatal("want an error")
			}
			rec.failOp.Store("")
			p := newTestProvisioner(t, u, rec, t.TempDir()) // a fresh CLI cache: state comes from the bucket
			if inv := takeInventory(t, p, name); inv.empty() {
				t.Fatal("nothing was created before the fault")
			}
			rep, err := p.Down(ctx, name, DownOptions{})
			if err != nil {
				t.Fatalf("%v: %+v", err, rep.Leftovers)
			}
			if inv := takeInventory(t, p, name); !inv.empty() {
				t.Fatalf("down left %v", inv)
			}
		})
	}
}

// A failure down cannot get past is reported with the resource and the reason.
func TestDownReportsLeftovers(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	cfg := mustConfig(t, "cluster_name: leftover\nregion: us-west-2\n")
	if _, err := newTestProvisioner(t, u, nil, t.TempDir()).Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	rec.failOp.Store("DeleteVpc")
	p := newTestProvisioner(t, u, rec, t.TempDir())
	rep, err := p.Down(ctx, "leftover", DownOptions{})
	if err == nil {
		t.Fatal("want an error")
	}
	found := false
	for _, l := range rep.Leftovers {
		found = found || (l.Resource == "vpc" && strings.Contains(l.Reason, "injected fault"))
	}
	if !found {
		t.Fatalf("leftovers %+v do not name the VPC and the reason", rep.Leftovers)
	}
	var se *StepError
	_ = errors.As(err, &se)
	rec.failOp.Store("")
	if _, err := p.Down(ctx, "leftover", DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if inv := takeInventory(t, p, "leftover"); !inv.empty() {
		t.Fatalf("down left %v", inv)
	}
}
