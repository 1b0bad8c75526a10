package aws

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/fielderr"
)

// APIDomain is the DNS name clients call APIs at when the API load balancer terminates TLS with
// ssl_certificate_arn: cluster.yaml's api_domain, else the certificate's first name that is not a
// wildcard. The certificate (acm:DescribeCertificate) must be issued and cover that name, since
// clients verify it against their system roots; the load balancer's own DNS name is never on an
// ACM certificate. Empty without ssl_certificate_arn (clients then dial the load balancer's
// name and pin the cluster's CA). Problems are fielderr.Errors naming the field.
func (p *Provisioner) APIDomain(ctx context.Context, cfg *clusterconfig.Config) (string, error) {
	if cfg.SSLCertificateARN == "" {
		return "", nil
	}
	var errs fielderr.List
	out, err := p.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(cfg.SSLCertificateARN)})
	if isCode(err, "ResourceNotFoundException") {
		errs.Add("ssl_certificate_arn", "ACM has no certificate %s in this account and region", cfg.SSLCertificateARN)
		return "", errs.Err()
	}
	if err != nil {
		return "", fmt.Errorf("check ssl_certificate_arn (acm:DescribeCertificate): %w", err)
	}
	c := out.Certificate
	names := certNames(c)
	if c.Status != acmtypes.CertificateStatusIssued {
		errs.Add("ssl_certificate_arn", "the certificate for %s is %s, not ISSUED: a load balancer cannot use it (finish its validation in ACM first)", strings.Join(names, ", "), c.Status)
		return "", errs.Err()
	}
	if cfg.APIDomain != "" {
		if !certCovers(names, cfg.APIDomain) {
			errs.Add("api_domain", "%s is not covered by the certificate %s (its names: %s); name one it covers, or use a certificate for %s", cfg.APIDomain, cfg.SSLCertificateARN, strings.Join(names, ", "), cfg.APIDomain)
			return "", errs.Err()
		}
		return cfg.APIDomain, nil
	}
	for _, n := range names {
		if clusterconfig.IsDNSName(n) {
			return n, nil
		}
	}
	errs.Add("api_domain", "required: the certificate %s has only wildcard names (%s); set api_domain to the name clients call APIs at, e.g. api.%s", cfg.SSLCertificateARN, strings.Join(names, ", "), strings.TrimPrefix(firstOr(names, "*.example.com"), "*."))
	return "", errs.Err()
}

// certNames are the certificate's DomainName then its other SubjectAlternativeNames, lower case.
func certNames(c *acmtypes.CertificateDetail) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range append([]string{aws.ToString(c.DomainName)}, c.SubjectAlternativeNames...) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// certCovers reports whether one of a certificate's names matches host as TLS clients match it
// (RFC 6125): exactly, or a wildcard "*.parent" for one label directly under parent.
func certCovers(names []string, host string) bool {
	for _, n := range names {
		if n == host {
			return true
		}
		if parent, ok := strings.CutPrefix(n, "*."); ok {
			if label, rest, found := strings.Cut(host, "."); found && label != "" && rest == parent {
				return true
			}
		}
	}
	return false
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}
