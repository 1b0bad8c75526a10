package aws

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/pricing"
)

func TestPlanUpPricesWhatItCreates(t *testing.T) {
	cfg := mustConfig(t, "cluster_name: demo\nregion: us-west-2\nsubnet_visibility: private\nnat_gateway: highly_available\navailability_zones: [us-west-2a, us-west-2b]\nnode_groups: [{name: cpu, instance_type: m5.large, min_instances: 1, max_instances: 3}, {name: odd, instance_type: x9.large, min_instances: 0, max_instances: 1}]\n")
	p := PlanUp(cfg)
	byName := map[string]PlanItem{}
	for _, it := range p.Items {
		byName[it.Resource] = it
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if it := byName["NAT gateways"]; it.Count != "2" || !near(it.MaxHourly, 2*(pricing.NATGateway+pricing.PublicIPv4)) {
		t.Errorf("NAT gateways: %+v", it)
	}
	if it := byName["EKS cluster"]; !near(it.MaxHourly, pricing.EKSCluster) {
		t.Errorf("EKS: %+v", it)
	}
	if it := byName["node group cpu"]; it.Count != "1-3" || !near(it.MinHourly, 0.096) || !near(it.MaxHourly, 3*0.096) {
		t.Errorf("node group cpu (private: no public IPv4): %+v", it)
	}
	if it := byName["node group odd"]; !it.Unpriced || !p.Unpriced() {
		t.Errorf("an instance type without a price must say so: %+v", it)
	}
	if it := byName["network load balancers"]; it.Count != "2" || !near(it.MaxHourly, 2*pricing.LoadBalancer) {
		t.Errorf("load balancers: %+v", it)
	}
	wantMin := 2*(pricing.NATGateway+pricing.PublicIPv4) + pricing.EKSCluster + 0.096 + 2*pricing.LoadBalancer
	if !near(p.MinHourly, wantMin) {
		t.Errorf("min hourly %.4f, want %.4f", p.MinHourly, wantMin)
	}
	var out bytes.Buffer
	p.Render(&out)
	for _, want := range []string{"estimate", "us-east-1", pricing.AsOf, pricing.Page, "plus the instance types cortex has no price for"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rendered plan lacks %q:\n%s", want, out.String())
		}
	}
}
