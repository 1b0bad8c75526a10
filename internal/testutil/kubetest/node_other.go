//go:build !linux

package kubetest

import (
	"net"
	"os"
	"testing"
	"time"
)

// Node is a real node (Linux only).
type Node struct {
	Name, IP  string
	Images    map[string]string
	StartTime time.Duration
}

type nodeHost struct{ ip net.IP }

func prepareNode(t testing.TB, _ string, _ func(string)) *nodeHost {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("kubetest real node: needs Linux")
	}
	t.Skip("kubetest real node: needs Linux")
	return nil
}

func (c *Cluster) startNode(testing.TB, *nodeHost) *Node { return nil }

// ForwardService is Linux only (see node_linux.go).
func (c *Cluster) ForwardService(t testing.TB, _, _ string) {
	t.Skip("kubetest real node: needs Linux")
}
