package awscluster

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/credentials"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
)

// operatorCredentials picks what the operator uses on AWS. Cluster credentials given apart from
// the spin-up ones (--cluster-aws-key/--cluster-aws-secret, the cache, CLUSTER_AWS_*) are
// returned, to be installed as the Secret; the resolver's fallback to the spin-up credentials is
// not: then the operator gets an IAM role of its own, and the spin-up credentials are never
// written into the cluster. (Half a pair was already refused by the resolver, with the names of
// both halves.)
func operatorCredentials(ctx context.Context, cluster *credentials.Creds) (*aws.Credentials, error) {
	if cluster == nil || cluster.Source == credentials.SourceSpinUp {
		return nil, nil
	}
	c, err := cluster.CredentialsProvider().Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("the cluster credentials (%s): %w", cluster.Source, err)
	}
	return &c, nil
}

// revocationAdvice is what `up` says at the end about the two sets of credentials.
func revocationAdvice(st *provaws.State, spinUp *credentials.Creds, opCreds *aws.Credentials) []string {
	var lines []string
	switch {
	case opCreds == nil:
		lines = append(lines, fmt.Sprintf("the operator uses its own IAM role %s (EKS Pod Identity, ServiceAccount cortex/cortex-operator); no AWS key is stored in the cluster", st.OperatorRoleARN))
	default:
		lines = append(lines, fmt.Sprintf("the operator uses the cluster credentials (access key id ****%s) from the Secret cortex/%s", last4(opCreds.AccessKeyID), install.AWSSecretName))
		if opCreds.SessionToken != "" {
			lines = append(lines, "warning: the cluster credentials are temporary (they have a session token): the operator stops working when they expire; use an IAM user's access key, or no cluster credentials (the operator then gets its own role)")
		}
	}
	if opCreds != nil && opCreds.AccessKeyID == spinUpKeyID(spinUp) {
		lines = append(lines, "warning: the cluster credentials are the spin-up credentials: revoking them stops the operator")
		return lines
	}
	lines = append(lines, fmt.Sprintf("the spin-up credentials (%s) were used by cluster up only and are not stored in the cluster: you may revoke them now (keep credentials with the management policy for cluster configure/down)", spinUp.Describe()))
	return lines
}

func spinUpKeyID(c *credentials.Creds) string {
	if c.AccessKeyID != "" {
		return c.AccessKeyID
	}
	if c.Provider != nil {
		if v, err := c.Provider.Retrieve(context.Background()); err == nil {
			return v.AccessKeyID
		}
	}
	return ""
}

func last4(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}

// operatorAWSText is the info line of the operator's AWS credentials (json: the state's fields).
func operatorAWSText(st *provaws.State) string {
	switch st.OperatorAuth {
	case provaws.OperatorAuthPodIdentity:
		return fmt.Sprintf("role %s (EKS Pod Identity, association %s)", st.OperatorRoleARN, st.OperatorAssociationID)
	case provaws.OperatorAuthSecret:
		return "cluster credentials in the Secret cortex/" + install.AWSSecretName
	}
	return "-"
}
