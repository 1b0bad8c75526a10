package install

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
)

// AWSSecretName is the Secret that holds the operator's AWS credentials when the cluster was
// given credentials of its own (cluster up --cluster-aws-key/--cluster-aws-secret or
// CLUSTER_AWS_*). Without them there is no such Secret: the operator's ServiceAccount is bound to
// an IAM role of its own by an EKS Pod Identity association (internal/provision/aws).
const AWSSecretName = "cortex-operator-aws"

// Keys of AWSSecretName, named like the variables the AWS SDKs read.
const (
	AWSAccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	AWSSecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
	AWSSessionTokenKey    = "AWS_SESSION_TOKEN"
)

// OperatorAWS is how the operator reaches AWS on an EKS cluster. With it, the operator checks its
// own credentials at start (--check-aws-identity: sts:GetCallerIdentity, the account) and refuses
// to start when they fail.
type OperatorAWS struct {
	// Credentials, when set, are the cluster credentials: they go into the Secret AWSSecretName
	// and reach the operator only as environment variables taken from it (secretKeyRef), never as
	// an argument or a literal value of the Deployment. Nil: the operator uses the role of its
	// ServiceAccount (EKS Pod Identity), and nothing about AWS credentials is installed.
	Credentials *AWSCredentials
	// TestEndpoint, TESTS ONLY (cluster up --aws-test-endpoint, hidden; empty on every real
	// cluster), is the operator container's AWS_ENDPOINT_URL: every AWS SDK call of the operator
	// (EKS, IAM; STS too unless --sts-test-endpoint names its own) goes to this emulator, for a
	// test node that has no route to AWS (test/e2e TestEKSRealNode). Without it the variable is
	// not set, and the SDK uses AWS's endpoints.
	TestEndpoint string
}

// AWSCredentials are an access key (and, for temporary credentials, a session token).
type AWSCredentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

var accessKeyIDRE = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

func (a *OperatorAWS) validate() error {
	if a == nil {
		return nil
	}
	if c := a.Credentials; c != nil {
		// The values are never part of an error: only which one is wrong.
		if !accessKeyIDRE.MatchString(c.AccessKeyID) {
			return errors.New("the operator's AWS access key id is not an access key id (16-128 capital letters and digits)")
		}
		if c.SecretAccessKey == "" {
			return errors.New("the operator's AWS secret access key is empty")
		}
	}
	if a.TestEndpoint != "" {
		return ValidateAWSTestEndpoint(a.TestEndpoint)
	}
	return nil
}

// ValidateAWSTestEndpoint accepts what OperatorAWS.TestEndpoint may be: an http or https URL of
// a host (and port), with no credentials, path, query or fragment (what the AWS SDK takes as a
// base endpoint). A URL with user info (any "@") is refused without being repeated: it may hold a
// password.
func ValidateAWSTestEndpoint(s string) error {
	if strings.Contains(s, "@") {
		return errors.New("--aws-test-endpoint: a URL with user info is refused (credentials never go into a URL)")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("--aws-test-endpoint %q: want http(s)://host[:port] (an AWS emulator, TESTS ONLY)", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("--aws-test-endpoint %q: invalid port", s)
		}
	}
	return nil
}

// awsSecrets is the Secret of the cluster credentials (none when the operator uses a role).
func awsSecrets(opts Options) []*coreac.SecretApplyConfiguration {
	if opts.OperatorAWS == nil || opts.OperatorAWS.Credentials == nil {
		return nil
	}
	c := opts.OperatorAWS.Credentials
	data := map[string][]byte{AWSAccessKeyIDKey: []byte(c.AccessKeyID), AWSSecretAccessKeyKey: []byte(c.SecretAccessKey)}
	if c.SessionToken != "" {
		data[AWSSessionTokenKey] = []byte(c.SessionToken)
	}
	return []*coreac.SecretApplyConfiguration{
		coreac.Secret(AWSSecretName, opts.Namespace).WithLabels(withName(OperatorName)).
			WithType(corev1.SecretTypeOpaque).WithData(data),
	}
}

// awsOperator adds the operator's AWS settings to its container: --check-aws-identity and,
// with cluster credentials, the variables taken from the Secret. The SDK's default chain then
// finds either these variables or, without them, the Pod Identity agent's endpoint that EKS
// injects into pods of an associated ServiceAccount.
func awsOperator(opts Options, pod *coreac.PodSpecApplyConfiguration) {
	a := opts.OperatorAWS
	if a == nil {
		return
	}
	c := &pod.Containers[0] // WithContainers copied the operator's container
	c.WithArgs("--check-aws-identity")
	if a.TestEndpoint != "" {
		c.WithEnv(coreac.EnvVar().WithName("AWS_ENDPOINT_URL").WithValue(a.TestEndpoint))
	}
	if a.Credentials == nil {
		return
	}
	ref := func(name, key string, optional bool) *coreac.EnvVarApplyConfiguration {
		sel := coreac.SecretKeySelector().WithName(AWSSecretName).WithKey(key)
		if optional {
			sel.WithOptional(true)
		}
		return coreac.EnvVar().WithName(name).WithValueFrom(coreac.EnvVarSource().WithSecretKeyRef(sel))
	}
	c.WithEnv(ref("AWS_ACCESS_KEY_ID", AWSAccessKeyIDKey, false), ref("AWS_SECRET_ACCESS_KEY", AWSSecretAccessKeyKey, false),
		ref("AWS_SESSION_TOKEN", AWSSessionTokenKey, true))
}
