package identity

import (
	"fmt"
	"net/url"
	"strings"
)

// Partitions an operator can be configured for.
const (
	PartitionAWS   = "aws"
	PartitionChina = "aws-cn"
	PartitionGov   = "aws-us-gov"
)

// Regions with an STS endpoint, per partition. A token's host must be one of the hosts built from
// this table for the operator's partition, byte for byte: no user info, port, trailing dot, case
// folding or IDNA mapping (the host string is compared, never resolved or normalized).
var partitionRegions = map[string][]string{
	PartitionAWS: {
		"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
		"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
		"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
		"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
		"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
		"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	},
	PartitionChina: {"cn-north-1", "cn-northwest-1"},
	PartitionGov:   {"us-gov-east-1", "us-gov-west-1"},
}

// Regions whose STS has a separate FIPS host (sts-fips.<region>.<suffix>).
var fipsRegions = map[string][]string{
	PartitionAWS: {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1"},
	PartitionGov: {"us-gov-east-1", "us-gov-west-1"},
}

var partitionSuffix = map[string]string{
	PartitionAWS:   "amazonaws.com",
	PartitionChina: "amazonaws.com.cn",
	PartitionGov:   "amazonaws.com",
}

// STSEndpoint is one allowed STS endpoint: where the operator sends a token's request, and the
// signing region the token's credential scope must name.
type STSEndpoint struct {
	Scheme string // https, or http only for an explicit test endpoint
	Host   string
	Region string
}

// URL is the endpoint the rebuilt request is POSTed to.
func (e STSEndpoint) URL() string { return e.Scheme + "://" + e.Host + "/" }

// HostTable maps the exact host strings a token may name to their endpoint.
type HostTable map[string]STSEndpoint

// PartitionHosts returns the official STS hosts of a partition: the global host (aws only,
// signed for us-east-1), every regional host and the FIPS hosts.
func PartitionHosts(partition string) (HostTable, error) {
	regions, ok := partitionRegions[partition]
	if !ok {
		return nil, fmt.Errorf("unknown partition %q: use aws, aws-cn or aws-us-gov", partition)
	}
	suffix := partitionSuffix[partition]
	t := HostTable{}
	add := func(host, region string) { t[host] = STSEndpoint{Scheme: "https", Host: host, Region: region} }
	if partition == PartitionAWS {
		add("sts.amazonaws.com", "us-east-1")
	}
	for _, r := range regions {
		add("sts."+r+"."+suffix, r)
	}
	for _, r := range fipsRegions[partition] {
		add("sts-fips."+r+"."+suffix, r)
	}
	return t, nil
}

// RegionalHost is the STS host a client in region should sign for.
func RegionalHost(partition, region string) (STSEndpoint, error) {
	t, err := PartitionHosts(partition)
	if err != nil {
		return STSEndpoint{}, err
	}
	e, ok := t["sts."+region+"."+partitionSuffix[partition]]
	if !ok {
		return STSEndpoint{}, fmt.Errorf("region %q has no STS endpoint in partition %s", region, partition)
	}
	return e, nil
}

// TestEndpointHosts builds the table of an operator in test mode: exactly one endpoint (an
// emulator such as moto), which replaces the official hosts entirely.
func TestEndpointHosts(rawURL, region string) (HostTable, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid STS test endpoint %q: %v", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid STS test endpoint %q: want http(s)://host[:port]", rawURL)
	}
	if region == "" {
		region = "us-east-1"
	}
	host := strings.ToLower(u.Host)
	return HostTable{host: {Scheme: u.Scheme, Host: host, Region: region}}, nil
}
