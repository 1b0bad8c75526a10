package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// creates lists the operations of rec that create something.
func creates(rec *recorder) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for op, n := range rec.calls {
		name := op[strings.LastIndexByte(op, '.')+1:]
		for _, verb := range []string{"Create", "Put", "Attach", "Allocate", "Associate", "Authorize", "Tag"} {
			if strings.HasPrefix(name, verb) && n > 0 {
				out = append(out, op)
			}
		}
	}
	return out
}

// A cluster.yaml naming a zone or a region AWS does not have is refused before anything is
// created, and the corrected file then goes through (no half-made cluster blocks it).
func TestUpChecksRegionAndZonesBeforeCreating(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name, yaml, region, want string
	}{
		{"unknown zone", "cluster_name: badzone\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2q]\n", testRegion, `availability_zones[1]: "us-west-2q" is not an availability zone of us-west-2`},
		{"unknown subnet zone", "cluster_name: badsubnetzone\nregion: us-west-2\nsubnets: [{availability_zone: us-west-2a, subnet_id: subnet-0123456789abcdef0}, {availability_zone: us-west-2q, subnet_id: subnet-0123456789abcdef1}]\n", testRegion, `subnets[1].availability_zone: "us-west-2q" is not an availability zone of us-west-2`},
		{"unknown region", "cluster_name: badregion\nregion: us-nowhere-1\n", "us-nowhere-1", `region: "us-nowhere-1" is not a region of AWS`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := mustConfig(t, c.yaml)
			awsCfg := awsConfig(u, rec)
			awsCfg.Region = c.region
			stateDir := t.TempDir()
			p, err := New(Options{AWS: awsCfg, StateDir: stateDir, PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Up(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("up: got %v, want %q", err, c.want)
			}
			if made := creates(rec); len(made) > 0 {
				t.Errorf("up created resources before refusing the config: %v", made)
			}
			if st, _ := LoadLocalState(stateDir, cfg.ClusterName, c.region); st != nil {
				t.Errorf("up left a cluster state behind: %+v", st)
			}
		})
	}
	// The corrected zone goes through with the same CLI cache.
	stateDir := t.TempDir()
	p := newTestProvisioner(t, u, nil, stateDir)
	if _, err := p.Up(ctx, mustConfig(t, "cluster_name: fixzone\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2q]\n")); err == nil {
		t.Fatal("want an error")
	}
	if _, err := p.Up(ctx, mustConfig(t, "cluster_name: fixzone\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n")); err != nil {
		t.Fatalf("corrected cluster.yaml: %v", err)
	}
	if _, err := p.Down(ctx, "fixzone", DownOptions{}); err != nil {
		t.Fatal(err)
	}
}

// down of a cluster that does not exist is an error that says so; down in a region that does not
// exist finishes (and forgets the CLI's copy of the state) instead of waiting for AWS.
func TestDownOfMissingCluster(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	p := newTestProvisioner(t, u, nil, t.TempDir())
	rep, err := p.Down(ctx, "never-made", DownOptions{})
	if !errors.Is(err, ErrClusterNotFound) {
		t.Fatalf("down of a missing cluster: %v (report %+v)", err, rep)
	}
	if rep == nil || len(rep.Deleted) != 0 || len(rep.NotFound) == 0 {
		t.Fatalf("report %+v: want nothing deleted and what was looked for", rep)
	}

	stateDir := t.TempDir()
	st := &State{Version: 1, ClusterName: "lost", Region: "us-nowhere-1", Status: StatusCreating}
	awsCfg := awsConfig(u, nil)
	awsCfg.Region = "us-nowhere-1"
	bad, err := New(Options{AWS: awsCfg, StateDir: stateDir, PollInterval: 5 * time.Millisecond, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bad.state = st
	if err := bad.save(ctx, st, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := bad.Down(ctx, "lost", DownOptions{}); done <- err }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute): // a bound so a hang fails rather than blocks the suite
		t.Fatal("down in a region that does not exist did not finish")
	}
	if !errors.Is(err, ErrClusterNotFound) || !strings.Contains(err.Error(), "us-nowhere-1") {
		t.Fatalf("down in a missing region: %v", err)
	}
	if st, _ := LoadLocalState(stateDir, "lost", "us-nowhere-1"); st != nil {
		t.Error("down kept the CLI's copy of the state")
	}
}

// docs/aws.md: the log group and the bucket (which holds the state) are deleted last.
func TestDownDeletesLogGroupAndBucketLast(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	if _, err := newTestProvisioner(t, u, nil, t.TempDir()).Up(ctx, mustConfig(t, "cluster_name: lastones\nregion: us-west-2\n")); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	if _, err := newTestProvisioner(t, u, rec, t.TempDir()).Down(ctx, "lastones", DownOptions{}); err != nil {
		t.Fatal(err)
	}
	lastOther, firstFinal := -1, -1
	for i, op := range rec.order {
		name := op[strings.LastIndexByte(op, '.')+1:]
		switch {
		case name == "DeleteLogGroup" || name == "DeleteBucket" || name == "DeleteObjects":
			if firstFinal < 0 {
				firstFinal = i
			}
		case strings.HasPrefix(name, "Delete") || strings.HasPrefix(name, "Detach") || strings.HasPrefix(name, "Disassociate") || strings.HasPrefix(name, "Release") || strings.HasPrefix(name, "Remove"):
			lastOther = i
		}
	}
	if firstFinal < 0 || lastOther < 0 || firstFinal < lastOther {
		t.Fatalf("log group or bucket deleted before other resources: %v", rec.order)
	}
}
