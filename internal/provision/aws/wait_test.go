package aws

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// A long wait keeps saying how long it has waited (a test clock: every reading is 20 s later).
func TestLongWaitShowsElapsedTime(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(20 * time.Second)
		return now
	}
	var events []Event
	p, err := New(Options{AWS: aws.Config{Region: "us-west-2"}, PollInterval: time.Millisecond, WaitTimeout: time.Minute, Now: clock,
		Progress: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	polls := 0
	err = p.wait(context.Background(), stepEKSCluster, "EKS cluster x to be active", func(context.Context) (bool, error) {
		polls++
		return polls == 10, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var waiting []Event
	for _, e := range events {
		if e.Phase == PhaseWaiting {
			waiting = append(waiting, e)
		}
	}
	if len(waiting) < 3 {
		t.Fatalf("%d waiting events over %d polls (3 minutes of the test clock): %+v", len(waiting), polls, events)
	}
	last := waiting[len(waiting)-1]
	if last.Elapsed < time.Minute || last.Detail != "EKS cluster x to be active" {
		t.Fatalf("the last waiting event says %q after %s", last.Detail, last.Elapsed)
	}
}
