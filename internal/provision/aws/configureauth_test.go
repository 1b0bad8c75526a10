package aws

import (
	"context"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// operatorAuthArgs are the operator's auth arguments as its Deployment has them.
func operatorAuthArgs(t *testing.T, h *eksHarness) []string {
	t.Helper()
	dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(context.Background(), install.OperatorName, metav1.GetOptions{})
	must(t, err)
	var out []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--auth-mode") || strings.HasPrefix(a, "--account-role") {
			out = append(out, a)
		}
	}
	return out
}

// cluster.yaml's auth_mode and account_role reach the operator: up without them passes no
// argument (the operator's default, account); configure changes them on the running cluster and
// waits for the rollout; a plan (--dry-run) shows `auth_mode: account -> rules` and changes
// nothing; a fault in the Deployment's update leaves the state as it was, and the next configure
// converges; up with the same cluster.yaml keeps the mode; info reports it.
func TestConfigureAuthMode(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "conf-auth"
	dir := t.TempDir()
	cfg := func(extra string) *clusterconfig.Config {
		return mustConfig(t, "cluster_name: "+name+"\n"+installConfig+extra)
	}
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, cfg(""))
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)
	if got := operatorAuthArgs(t, h); got != nil {
		t.Fatalf("auth args after up without auth_mode: %q", got)
	}

	rules := cfg("auth_mode: rules\n")
	changes, err := p.PlanConfigure(ctx, rules)
	if err != nil || len(changes) != 1 || changes[0] != (clusterconfig.Change{Field: "auth_mode", From: "account", To: "rules"}) {
		t.Fatalf("plan: %+v %v", changes, err)
	}
	if got := operatorAuthArgs(t, h); got != nil {
		t.Fatalf("a plan changed the operator: %q", got)
	}
	h.failKube.Store("PUT deployments")
	_, err = h.provisioner(t, dir, "").Configure(ctx, rules)
	h.failKube.Store("")
	if err == nil || !strings.Contains(err.Error(), "auth_mode (run configure again to finish)") || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("configure with a fault in the Deployment's update: %v", err)
	}
	if st, err := LoadLocalState(dir, name, testRegion); err != nil || st.Config.AuthMode != "" {
		t.Fatalf("a failed configure recorded auth_mode %q (%v)", st.Config.AuthMode, err)
	}
	p = h.provisioner(t, dir, "")
	if changes, err = p.Configure(ctx, rules); err != nil || len(changes) != 1 || changes[0].Field != "auth_mode" {
		t.Fatalf("configure: %+v %v", changes, err)
	}
	if got := operatorAuthArgs(t, h); !slices.Equal(got, []string{"--auth-mode=rules"}) {
		t.Errorf("auth args after configure: %q", got)
	}
	dep, err := h.kube.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	must(t, err)
	if dep.Status.ObservedGeneration < dep.Generation || dep.Status.UpdatedReplicas != 1 || dep.Status.AvailableReplicas != 1 {
		t.Errorf("configure returned before the operator's rollout: %+v", dep.Status)
	}
	if st, err := LoadLocalState(dir, name, testRegion); err != nil || st.Config.AuthMode != "rules" {
		t.Errorf("state's auth_mode after configure: %v", err)
	}
	if changes, err := p.PlanConfigure(ctx, rules); err != nil || len(changes) != 0 {
		t.Errorf("plan after configure: %v %v", changes, err)
	}
	if info, err := p.Info(ctx, name); err != nil || info.Install == nil || info.Install.AuthMode != "rules" || info.Install.AccountRole != "" {
		t.Errorf("info: %+v %v", info.Install, err)
	}
	// up never changes the mode of a running cluster: a cluster.yaml that left auth_mode out
	// does not open it to the whole account.
	if _, err := h.provisioner(t, dir, "").Up(ctx, cfg("")); err == nil || !strings.Contains(err.Error(), "auth_mode: cluster conf-auth runs in auth mode rules") {
		t.Fatalf("up without auth_mode on a cluster in rules mode: %v", err)
	}
	if got := operatorAuthArgs(t, h); !slices.Equal(got, []string{"--auth-mode=rules"}) {
		t.Errorf("auth args after a refused up: %q", got)
	}
	res, err = h.provisioner(t, dir, "").Up(ctx, rules)
	must(t, err)
	checkInstalled(t, h, p, res)
	if got := operatorAuthArgs(t, h); !slices.Equal(got, []string{"--auth-mode=rules"}) {
		t.Errorf("auth args after up with auth_mode: rules: %q", got)
	}

	// Back to account mode with role read.
	read := cfg("auth_mode: account\naccount_role: read\n")
	if changes, err = h.provisioner(t, dir, "").Configure(ctx, read); err != nil || len(changes) != 1 ||
		changes[0] != (clusterconfig.Change{Field: "auth_mode", From: "rules", To: "account"}) {
		t.Fatalf("configure to account/read: %+v %v", changes, err)
	}
	if got := operatorAuthArgs(t, h); !slices.Equal(got, []string{"--auth-mode=account", "--account-role=read"}) {
		t.Errorf("auth args after configure to account/read: %q", got)
	}

	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}
