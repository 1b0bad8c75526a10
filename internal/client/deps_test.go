package client

import (
	"os/exec"
	"strings"
	"testing"
)

// The client is a small package: its wire types come from apitypes, so using it never pulls in
// the operator and its process supervisor (workload).
func TestClientDoesNotDependOnTheOperator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/cortexlabs-go/cortex/internal/client").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/operator", "/internal/workload", "/internal/gateway"} {
			if strings.HasSuffix(dep, "cortex"+banned) || strings.Contains(dep, "cortex"+banned+"/") {
				t.Errorf("internal/client depends on %s", dep)
			}
		}
	}
}
