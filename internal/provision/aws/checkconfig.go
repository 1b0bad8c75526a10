package aws

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/fielderr"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// partitionOf is the AWS partition a region name belongs to.
func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return identity.PartitionChina
	case strings.HasPrefix(region, "us-gov-"):
		return identity.PartitionGov
	}
	return identity.PartitionAWS
}

// checkRegionOffline refuses a region without an STS endpoint (internal/identity's table): the
// cluster's identity tokens could not be verified there, and AWS has no such region (yet).
func checkRegionOffline(region string) error {
	if _, err := identity.RegionalHost(partitionOf(region), region); err != nil {
		return fmt.Errorf("%q is not a region of AWS that cortex knows (it has no STS endpoint in cortex's table)", region)
	}
	return nil
}

// CheckConfig checks what cluster.yaml names against AWS before anything is created: the region
// has an STS endpoint and is enabled for the account (ec2:DescribeRegions), and every availability
// zone of availability_zones and subnets exists in it (ec2:DescribeAvailabilityZones), and
// ssl_certificate_arn is issued and covers the API domain (acm:DescribeCertificate). Problems
// are fielderr.Errors naming the field.
func (p *Provisioner) CheckConfig(ctx context.Context, cfg *clusterconfig.Config) error {
	var errs fielderr.List
	if cfg.Region != p.region {
		errs.Add("region", "the config says %s but the AWS client is for %s", cfg.Region, p.region)
		return errs.Err()
	}
	if err := checkRegionOffline(cfg.Region); err != nil {
		errs.Add("region", "%v", err)
		return errs.Err()
	}
	regions, err := p.ec2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("check region %s (ec2:DescribeRegions): %w", cfg.Region, err)
	}
	found := false
	for _, r := range regions.Regions {
		if aws.ToString(r.RegionName) != cfg.Region {
			continue
		}
		found = true
		if aws.ToString(r.OptInStatus) == "not-opted-in" {
			errs.Add("region", "%s is not enabled for this account; enable it in the AWS console (Account, AWS Regions) or choose another region", cfg.Region)
		}
	}
	if !found {
		errs.Add("region", "%q is not a region of this AWS account (ec2:DescribeRegions does not list it)", cfg.Region)
	}
	if errs.Len() > 0 {
		return errs.Err()
	}
	out, err := p.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{AllAvailabilityZones: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("check availability zones of %s (ec2:DescribeAvailabilityZones): %w", cfg.Region, err)
	}
	zones := map[string]string{} // name -> state
	var names []string
	for _, z := range out.AvailabilityZones {
		if aws.ToString(z.ZoneType) != "" && aws.ToString(z.ZoneType) != "availability-zone" {
			continue // local and wavelength zones cannot hold an EKS cluster
		}
		zones[aws.ToString(z.ZoneName)] = string(z.State)
		names = append(names, aws.ToString(z.ZoneName))
	}
	sort.Strings(names)
	check := func(field, zone string) {
		state, ok := zones[zone]
		switch {
		case !ok:
			errs.Add(field, "%q is not an availability zone of %s (its zones: %s)", zone, cfg.Region, strings.Join(names, ", "))
		case state != "" && state != "available":
			errs.Add(field, "%q is %s, not available", zone, state)
		}
	}
	for i, z := range cfg.AvailabilityZones {
		check(fmt.Sprintf("availability_zones[%d]", i), z)
	}
	for i, s := range cfg.Subnets {
		check(fmt.Sprintf("subnets[%d].availability_zone", i), s.AvailabilityZone)
	}
	if errs.Len() > 0 {
		return errs.Err()
	}
	// ssl_certificate_arn: issued, and covering api_domain (or a name of its own).
	_, err = p.APIDomain(ctx, cfg)
	return err
}
