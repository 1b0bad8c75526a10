package aws

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
)

// testOperatorRules is a real operator (in-process, signed in with its local admin credential:
// no STS needed) as the operator's side of access.
func testOperatorRules(t *testing.T) client.AccessRules {
	t.Helper()
	state := t.TempDir()
	tokenFile := filepath.Join(state, "admin.token")
	op := opserver.Start(t, operator.Config{StateDir: filepath.Join(state, "state"), Provider: "local", LocalTokenFile: tokenFile,
		STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012"})
	cl, err := client.New(client.Options{Endpoint: op.URL, CAPEM: op.CAPEM(), Tokens: client.LocalTokens{File: tokenFile}})
	must(t, err)
	t.Cleanup(cl.Close)
	return client.AccessRules{Client: cl}
}

// accessView is both sides of every identity: "principal=operator role/kubernetes role".
func accessView(t *testing.T, p *Provisioner, rules client.AccessRules, cluster string) []string {
	t.Helper()
	ctx := context.Background()
	have, err := rules.List(ctx)
	must(t, err)
	grants, err := (&kubeaccess.AccessEntries{EKS: p.eks, Cluster: cluster, Namespaces: []string{"cortex-apis"}}).List(ctx)
	must(t, err)
	view := map[string][2]string{}
	for pr, r := range have {
		v := view[pr]
		v[0] = string(r)
		view[pr] = v
	}
	for _, g := range grants {
		if g.Type != "STANDARD" || strings.HasSuffix(g.Principal, ":user/moto") { // the creator's bootstrap entry
			continue
		}
		v := view[g.Principal]
		v[1] = string(g.Role)
		if g.Role == "" {
			v[1] = "drift"
		}
		view[g.Principal] = v
	}
	var out []string
	for pr, v := range view {
		out = append(out, fmt.Sprintf("%s=%s/%s", pr, v[0], v[1]))
	}
	slices.Sort(out)
	return out
}

func (r *recorder) writes(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w []string
	for op, n := range r.calls {
		if strings.HasPrefix(op, prefix) && !strings.Contains(op, ".Describe") && !strings.Contains(op, ".List") && n > 0 {
			w = append(w, op)
		}
	}
	return w
}

const (
	ann  = "arn:aws:iam::123456789012:user/ann"
	bob  = "arn:aws:iam::123456789012:user/bob"
	carl = "arn:aws:iam::123456789012:user/carl"
	dave = "arn:aws:iam::123456789012:user/dave"
	ml   = "arn:aws:iam::123456789012:role/team/ml" // a role with a path: EKS matches it as written
	mlC  = "arn:aws:iam::123456789012:role/ml"      // its canonical form (the operator's rule)
)

// cluster.yaml's access: up applies it (both sides of each rule, as cortex cluster access grant
// does) and a second run writes nothing; configure applies the difference from what cluster.yaml
// applied (added, changed, removed) and leaves a grant made outside cluster.yaml alone; the
// creator cannot be listed; a fault part way converges on the next run, and a rule whose grant
// stopped part way is still revoked when cluster.yaml drops it.
func TestAccessFromClusterYAML(t *testing.T) {
	h := newEKSHarness(t)
	ctx := context.Background()
	const name = "yaml-access"
	dir := t.TempDir()
	rules := testOperatorRules(t)
	withAccess := func(rules string) *clusterconfig.Config {
		return mustConfig(t, "cluster_name: "+name+"\n"+installConfig+"access:\n"+rules)
	}
	cfg1 := withAccess("- {principal: " + ann + ", role: read}\n- {principal: " + ml + ", role: deploy}\n- {principal: \"210987654321\", role: read}\n")
	p := h.provisioner(t, dir, "cortex:test")
	res, err := p.Up(ctx, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	asgs := checkInstalled(t, h, p, res)
	done, err := p.ApplyAccess(ctx, cfg1, rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 3 {
		t.Errorf("applied: %v", done)
	}
	want := []string{"210987654321=read/", ann + "=read/read", mlC + "=deploy/", ml + "=/deploy"}
	slices.Sort(want)
	if got := accessView(t, p, rules, name); !slices.Equal(got, want) {
		t.Errorf("after up:\n got %v\nwant %v", got, want)
	}

	// A grant made with cortex cluster access grant (the same GrantBoth), outside cluster.yaml.
	store := &kubeaccess.AccessEntries{EKS: p.eks, Cluster: name, Namespaces: []string{"cortex-apis"}}
	must(t, kubeaccess.GrantBoth(ctx, rules, store, bob, access.RoleRead))

	// Again: nothing differs, nothing is written (no EKS write, no state write, no operator write).
	statePath := LocalStatePath(dir, name, testRegion)
	before, _ := os.ReadFile(statePath)
	rulesBefore, _ := rules.Client.AccessList(ctx)
	h.rec.mu.Lock()
	h.rec.calls = map[string]int{}
	h.rec.mu.Unlock()
	p = h.provisioner(t, dir, "")
	if done, err := p.ApplyAccess(ctx, cfg1, rules); err != nil || len(done) != 0 {
		t.Fatalf("second run: %v %v", done, err)
	}
	if w := append(h.rec.writes("EKS."), h.rec.writes("S3.")...); len(w) != 0 {
		t.Errorf("second run wrote: %v", w)
	}
	after, _ := os.ReadFile(statePath)
	rulesAfter, _ := rules.Client.AccessList(ctx)
	if string(before) != string(after) || fmt.Sprint(rulesBefore) != fmt.Sprint(rulesAfter) {
		t.Error("second run changed the state or the operator's rules")
	}

	// configure: ann read -> admin, ml dropped, carl added; bob (granted outside) stays.
	cfg2 := withAccess("- {principal: " + ann + ", role: admin}\n- {principal: \"210987654321\", role: read}\n- {principal: " + carl + ", role: read}\n")
	changes, err := p.PlanConfigure(ctx, cfg2)
	must(t, err)
	if got := fmt.Sprint(changes); got != "[{access["+ann+"] read admin} {access["+carl+"] none read} {access["+ml+"] deploy none}]" {
		t.Errorf("configure's diff: %s", got)
	}
	_, err = p.Configure(ctx, cfg2)
	must(t, err)
	if _, err := p.ApplyAccess(ctx, cfg2, rules); err != nil {
		t.Fatal(err)
	}
	want = []string{"210987654321=read/", ann + "=admin/admin", bob + "=read/read", carl + "=read/read"}
	slices.Sort(want)
	if got := accessView(t, p, rules, name); !slices.Equal(got, want) {
		t.Errorf("after configure:\n got %v\nwant %v", got, want)
	}

	// A fault in the EKS side of dave's grant: his entry is removed (no Kubernetes access, never
	// more), the run stops; the next run converges.
	cfg3 := withAccess("- {principal: " + ann + ", role: admin}\n- {principal: \"210987654321\", role: read}\n- {principal: " + carl + ", role: read}\n- {principal: " + dave + ", role: deploy}\n")
	h.rec.failOp.Store("AssociateAccessPolicy")
	_, err = h.provisioner(t, dir, "").ApplyAccess(ctx, cfg3, rules)
	h.rec.failOp.Store("")
	if err == nil || !strings.Contains(err.Error(), "injected fault") || !strings.Contains(err.Error(), "run again") {
		t.Fatalf("fault in the access entry: %v", err)
	}
	if got := accessView(t, p, rules, name); !slices.Contains(got, dave+"=deploy/") {
		t.Errorf("after the fault dave has %v, want the operator rule and no entry", got)
	}
	// cluster.yaml drops dave before the grant was finished: he is revoked, as recorded.
	p = h.provisioner(t, dir, "")
	if _, err := p.ApplyAccess(ctx, cfg2, rules); err != nil {
		t.Fatal(err)
	}
	if got := accessView(t, p, rules, name); !slices.Equal(got, want) {
		t.Errorf("dave dropped after a partial grant:\n got %v\nwant %v", got, want)
	}
	// The same fault, then a run with the same cluster.yaml: converged.
	h.rec.failOp.Store("AssociateAccessPolicy")
	_, err = h.provisioner(t, dir, "").ApplyAccess(ctx, cfg3, rules)
	h.rec.failOp.Store("")
	if err == nil {
		t.Fatal("no fault")
	}
	if _, err := h.provisioner(t, dir, "").ApplyAccess(ctx, cfg3, rules); err != nil {
		t.Fatal(err)
	}
	if got := accessView(t, p, rules, name); !slices.Equal(got, sorted(append(slices.Clone(want), dave+"=deploy/deploy"))) {
		t.Errorf("after the re-run: %v", got)
	}

	rep, err := p.Down(ctx, name, DownOptions{})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep.Leftovers)
	}
	h.removeASGs(t, p, asgs)
	checkClean(t, h, p, name)
}

func sorted(s []string) []string { slices.Sort(s); return s }

// The creator is always admin: a rule naming it (as a user, or as the role of its assumed-role
// session, with or without a path) is refused before anything changes.
func TestCheckAccessCreator(t *testing.T) {
	rules := func(p string) []clusterconfig.AccessRule {
		return []clusterconfig.AccessRule{{Principal: p, Role: "read"}}
	}
	for _, c := range []struct {
		creator, principal string
		refused            bool
	}{
		{"arn:aws:iam::123456789012:user/ann", "arn:aws:iam::123456789012:user/ann", true},
		{"arn:aws:sts::123456789012:assumed-role/admin/session", "arn:aws:iam::123456789012:role/admin", true},
		{"arn:aws:sts::123456789012:assumed-role/admin/session", "arn:aws:iam::123456789012:role/ops/admin", true},
		{"arn:aws:iam::123456789012:user/ann", "arn:aws:iam::123456789012:user/bob", false},
		{"arn:aws:iam::123456789012:user/ann", "123456789012", false},
	} {
		err := checkAccessCreator(c.creator, rules(c.principal))
		if (err != nil) != c.refused || (err != nil && !strings.Contains(err.Error(), "access[0]: "+c.principal+" created the cluster and is always admin")) {
			t.Errorf("creator %s, rule %s: %v", c.creator, c.principal, err)
		}
	}
}
