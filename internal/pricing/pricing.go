// Package pricing is a small, offline table of AWS on-demand prices, for the cost estimate
// `cortex cluster up` shows before it creates anything. It is an estimate by design: the prices
// are us-east-1 list prices at one date, other regions cost more or less, and cortex never calls a
// pricing API (the CLI talks only to the services it manages). docs/aws.md lists the table.
package pricing

import "sort"

// The table's provenance, printed with every estimate.
const (
	Region = "us-east-1"
	AsOf   = "2025-01"
	Page   = "https://aws.amazon.com/pricing/"
)

// Note is the sentence every estimate carries.
const Note = "estimate, on-demand " + Region + " prices as of " + AsOf + "; data transfer, NAT data processing, load balancer capacity units, EBS volumes and logs are extra, and other regions differ: check " + Page

// Hourly prices in US dollars.
const (
	EKSCluster   = 0.10   // EKS control plane (standard support)
	NATGateway   = 0.045  // per NAT gateway, before data processing
	LoadBalancer = 0.0225 // per network load balancer, before capacity units
	PublicIPv4   = 0.005  // per public IPv4 address (NAT EIPs, instances in public subnets)
)

// instances are Linux on-demand prices per hour of the instance types most used with cortex.
var instances = map[string]float64{
	"t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
	"m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
	"m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768,
	"c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
	"r5.large": 0.126, "r5.xlarge": 0.252, "r5.2xlarge": 0.504,
	"g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g4dn.4xlarge": 1.204,
	"g5.xlarge": 1.006, "g5.2xlarge": 1.212,
	"p3.2xlarge":  3.06,
	"inf1.xlarge": 0.228, "inf1.2xlarge": 0.362,
}

// Instance is the hourly on-demand price of an instance type (ok false: not in the table).
func Instance(instanceType string) (price float64, ok bool) {
	price, ok = instances[instanceType]
	return price, ok
}

// InstanceTypes lists the types the table knows, sorted.
func InstanceTypes() []string {
	out := make([]string, 0, len(instances))
	for t := range instances {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
