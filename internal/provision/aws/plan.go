package aws

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/pricing"
)

// PlanItem is one kind of resource `up` creates.
type PlanItem struct {
	Resource string `json:"resource"`
	Count    string `json:"count"`
	Detail   string `json:"detail,omitempty"`
	// MinHourly and MaxHourly are the estimated cost per hour (USD) with the node groups at
	// min_instances and at max_instances; equal for everything but nodes.
	MinHourly float64 `json:"min_hourly"`
	MaxHourly float64 `json:"max_hourly"`
	// Unpriced is set when cortex's price table does not know the item's price.
	Unpriced bool `json:"unpriced,omitempty"`
}

// Plan is what `up` will create for a cluster.yaml, with an estimated hourly cost.
type Plan struct {
	ClusterName string     `json:"cluster_name"`
	Region      string     `json:"region"`
	Items       []PlanItem `json:"items"`
	MinHourly   float64    `json:"min_hourly"`
	MaxHourly   float64    `json:"max_hourly"`
	Note        string     `json:"note"`
}

// PlanUp describes what Up creates for cfg (defaults applied, valid), priced with package
// pricing. It calls no AWS API.
func PlanUp(cfg *clusterconfig.Config) *Plan {
	p := &Plan{ClusterName: cfg.ClusterName, Region: cfg.Region, Note: pricing.Note}
	add := func(it PlanItem) {
		p.Items = append(p.Items, it)
		p.MinHourly += it.MinHourly
		p.MaxHourly += it.MaxHourly
	}
	zones := len(cfg.AvailabilityZones)
	if len(cfg.Subnets) > 0 {
		seen := map[string]bool{}
		for _, s := range cfg.Subnets {
			seen[s.AvailabilityZone] = true
		}
		zones = len(seen)
	}
	zoneText := fmt.Sprint(zones)
	if zones == 0 {
		zones, zoneText = 3, "3 (the region's first)"
	}
	private := cfg.SubnetVisibility == clusterconfig.VisibilityPrivate
	add(PlanItem{Resource: "S3 bucket, CloudWatch log group", Count: "1 + 1", Detail: "the cluster's state and logs"})
	add(PlanItem{Resource: "IAM policy and roles", Count: "1 + 2", Detail: "default policy; EKS cluster and node roles"})
	if len(cfg.Subnets) == 0 {
		subnets := zones
		if private {
			subnets *= 2
		}
		add(PlanItem{Resource: "VPC", Count: "1", Detail: fmt.Sprintf("%s, internet gateway, %d subnets in %s zones, route tables, 3 security groups", cfg.VPCCIDR, subnets, zoneText)})
		nats := 0
		switch cfg.NATGateway {
		case clusterconfig.NATSingle:
			nats = 1
		case clusterconfig.NATHighlyAvailable:
			nats = zones
		}
		if nats > 0 {
			h := float64(nats) * (pricing.NATGateway + pricing.PublicIPv4)
			add(PlanItem{Resource: "NAT gateways", Count: fmt.Sprint(nats), Detail: "each with an Elastic IP (" + cfg.NATGateway + ")", MinHourly: h, MaxHourly: h})
		} else {
			add(PlanItem{Resource: "NAT gateways", Count: "0", Detail: "nat_gateway: none"})
		}
	} else {
		add(PlanItem{Resource: "VPC", Count: "0", Detail: fmt.Sprintf("uses your %d subnets; 3 security groups", len(cfg.Subnets))})
	}
	add(PlanItem{Resource: "EKS cluster", Count: "1", Detail: "control plane", MinHourly: pricing.EKSCluster, MaxHourly: pricing.EKSCluster})
	for _, ng := range cfg.NodeGroups {
		it := PlanItem{Resource: "node group " + ng.Name, Count: fmt.Sprintf("%d-%d", ng.Min(), ng.Max())}
		it.Detail = ng.InstanceType + " instances"
		if ng.Spot {
			it.Detail += " (spot: usually cheaper; priced here at on-demand)"
		}
		price, ok := pricing.Instance(ng.InstanceType)
		if !ok {
			it.Unpriced = true
			it.Detail += "; no price for " + ng.InstanceType + " in cortex's table"
		}
		if !private && len(cfg.Subnets) == 0 {
			price += pricing.PublicIPv4 // each node gets a public IPv4 address
		}
		it.MinHourly, it.MaxHourly = float64(ng.Min())*price, float64(ng.Max())*price
		add(it)
	}
	lb := 2 * pricing.LoadBalancer
	add(PlanItem{Resource: "network load balancers", Count: "2", Detail: fmt.Sprintf("operator (%s), APIs (%s)", cfg.OperatorLoadBalancerScheme, cfg.APILoadBalancerScheme), MinHourly: lb, MaxHourly: lb})
	return p
}

// Unpriced reports whether some item has no price in the table.
func (p *Plan) Unpriced() bool {
	for _, it := range p.Items {
		if it.Unpriced {
			return true
		}
	}
	return false
}

func dollars(v float64) string { return fmt.Sprintf("$%.2f", v) }

// Render writes the plan as a table, the total and the estimate's note.
func (p *Plan) Render(w io.Writer) {
	fmt.Fprintf(w, "cluster up will create, in %s:\n", p.Region)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RESOURCE\tCOUNT\tCOST/HOUR\tDETAIL")
	for _, it := range p.Items {
		cost := "-"
		switch {
		case it.Unpriced:
			cost = "?"
		case it.MaxHourly > 0 && it.MinHourly != it.MaxHourly:
			cost = dollars(it.MinHourly) + "-" + dollars(it.MaxHourly) + "/h"
		case it.MaxHourly > 0:
			cost = dollars(it.MaxHourly) + "/h"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", it.Resource, it.Count, cost, it.Detail)
	}
	tw.Flush()
	total := dollars(p.MinHourly) + "/h"
	if p.MaxHourly != p.MinHourly {
		total = fmt.Sprintf("%s/h at min_instances, %s/h at max_instances", dollars(p.MinHourly), dollars(p.MaxHourly))
	}
	more := ""
	if p.Unpriced() {
		more = " plus the instance types cortex has no price for"
	}
	fmt.Fprintf(w, "estimated cost: about %s (about %s a month at min_instances)%s\n", total, dollars(p.MinHourly*730), more)
	fmt.Fprintf(w, "(%s)\n", strings.TrimSpace(p.Note))
}
