package install_test

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

const (
	testKeyID  = "AKIAOPERATORTEST0001"
	testSecret = "s3cr3t/operator+key/never-in-the-deployment"
	testToken  = "session-token-of-the-operator"
)

func operatorContainer(t *testing.T, objs *install.Objects) coreac.ContainerApplyConfiguration {
	t.Helper()
	for _, d := range objs.Deployments {
		if *d.Name == install.OperatorName {
			return d.Spec.Template.Spec.Containers[0]
		}
	}
	t.Fatal("no operator Deployment")
	return coreac.ContainerApplyConfiguration{}
}

// The gateway never gets the operator's AWS credentials.
func TestGatewayGetsNoAWSCredentials(t *testing.T) {
	o := options(t, "cortex")
	o.OperatorAWS = &install.OperatorAWS{Credentials: &install.AWSCredentials{AccessKeyID: "AKIAEXAMPLEKEY000001", SecretAccessKey: "secret-value"}}
	objs, err := install.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range objs.Deployments {
		if *d.Name != install.GatewayName {
			continue
		}
		if env := awsEnv(d.Spec.Template.Spec.Containers[0]); len(env) != 0 {
			t.Errorf("gateway AWS variables %v", env)
		}
		return
	}
	t.Fatal("no gateway Deployment")
}

func awsSecret(objs *install.Objects) *coreac.SecretApplyConfiguration {
	for _, s := range objs.Secrets {
		if *s.Name == install.AWSSecretName {
			return s
		}
	}
	return nil
}

// awsEnv returns the container's AWS_* variables.
func awsEnv(c coreac.ContainerApplyConfiguration) map[string]coreac.EnvVarApplyConfiguration {
	out := map[string]coreac.EnvVarApplyConfiguration{}
	for _, e := range c.Env {
		if strings.HasPrefix(*e.Name, "AWS_") {
			out[*e.Name] = e
		}
	}
	return out
}

// Cluster credentials become a Secret of their own, which the operator's container reads only
// through secretKeyRef: the Deployment (its args, its env, anything in it) holds no value.
func TestOperatorAWSCredentialsAreASecretReference(t *testing.T) {
	o := options(t, "cortex")
	o.OperatorAWS = &install.OperatorAWS{Credentials: &install.AWSCredentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken}}
	objs, err := install.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	s := awsSecret(objs)
	if s == nil {
		t.Fatalf("no Secret %s", install.AWSSecretName)
	}
	if *s.Namespace != "cortex" || *s.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret in %s of type %s", *s.Namespace, *s.Type)
	}
	// Uninstall removes what carries the managed-by label.
	if s.Labels[install.LabelManagedBy] != install.ManagedBy {
		t.Errorf("Secret labels %v lack %s=%s", s.Labels, install.LabelManagedBy, install.ManagedBy)
	}
	want := map[string]string{install.AWSAccessKeyIDKey: testKeyID, install.AWSSecretAccessKeyKey: testSecret, install.AWSSessionTokenKey: testToken}
	if len(s.Data) != len(want) {
		t.Errorf("Secret keys: %d, want %d", len(s.Data), len(want))
	}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("Secret key %s has the wrong value", k)
		}
	}

	c := operatorContainer(t, objs)
	env := awsEnv(c)
	for name, key := range map[string]string{"AWS_ACCESS_KEY_ID": install.AWSAccessKeyIDKey, "AWS_SECRET_ACCESS_KEY": install.AWSSecretAccessKeyKey, "AWS_SESSION_TOKEN": install.AWSSessionTokenKey} {
		e, ok := env[name]
		if !ok {
			t.Errorf("no %s in the operator's env", name)
			continue
		}
		if e.Value != nil {
			t.Errorf("%s has a literal value", name)
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || *e.ValueFrom.SecretKeyRef.Name != install.AWSSecretName || *e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s is not a secretKeyRef to %s/%s: %+v", name, install.AWSSecretName, key, e.ValueFrom)
		}
	}
	if len(env) != 3 {
		t.Errorf("AWS variables: %v", env)
	}
	if !contains(c.Args, "--check-aws-identity") {
		t.Errorf("args %v lack --check-aws-identity", c.Args)
	}
	dep, err := json.Marshal(objs.Deployments[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{testKeyID, testSecret, testToken} {
		if strings.Contains(string(dep), v) {
			t.Errorf("the Deployment holds a credential value: %s", dep)
		}
	}
	yaml, err := install.YAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(yaml), "name: "+install.AWSSecretName) {
		t.Errorf("manifests lack the Secret")
	}
}

// Without cluster credentials the operator uses its ServiceAccount's role (EKS Pod Identity):
// no Secret, no AWS variable.
func TestOperatorWithARoleGetsNoCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		aws  *install.OperatorAWS
		arg  bool
	}{
		{"role", &install.OperatorAWS{}, true},
		{"not on AWS", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t, "cortex")
			o.OperatorAWS = tc.aws
			objs, err := install.Build(o)
			if err != nil {
				t.Fatal(err)
			}
			if awsSecret(objs) != nil {
				t.Errorf("Secret %s installed", install.AWSSecretName)
			}
			c := operatorContainer(t, objs)
			if env := awsEnv(c); len(env) != 0 {
				t.Errorf("AWS variables %v", env)
			}
			if got := contains(c.Args, "--check-aws-identity"); got != tc.arg {
				t.Errorf("--check-aws-identity in args: %v, want %v (%v)", got, tc.arg, c.Args)
			}
		})
	}
}

func TestOperatorAWSRefusesBadCredentials(t *testing.T) {
	for _, tc := range []struct {
		aws  install.OperatorAWS
		want string
	}{
		{install.OperatorAWS{Credentials: &install.AWSCredentials{AccessKeyID: "not a key " + testSecret, SecretAccessKey: testSecret}}, "access key id"},
		{install.OperatorAWS{Credentials: &install.AWSCredentials{AccessKeyID: testKeyID}}, "secret access key is empty"},
	} {
		o := options(t, "cortex")
		a := tc.aws
		o.OperatorAWS = &a
		_, err := install.Build(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("the error shows a credential: %v", err)
		}
	}
}

// OperatorAWS.TestEndpoint (TESTS ONLY) is the operator container's AWS_ENDPOINT_URL, and only
// when set (never the gateway's); a value that is not http(s)://host[:port] is refused.
func TestOperatorAWSTestEndpoint(t *testing.T) {
	endpointEnv := func(c coreac.ContainerApplyConfiguration) []string {
		var out []string
		for _, e := range c.Env {
			if strings.HasPrefix(*e.Name, "AWS_ENDPOINT_URL") {
				out = append(out, *e.Name+"="+*e.Value)
			}
		}
		return out
	}
	for _, a := range []*install.OperatorAWS{nil, {}, {Credentials: &install.AWSCredentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}}} {
		o := options(t, "cortex")
		o.OperatorAWS = a
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range objs.Deployments {
			if env := endpointEnv(d.Spec.Template.Spec.Containers[0]); len(env) != 0 {
				t.Errorf("%s without TestEndpoint: %v", *d.Name, env)
			}
		}
	}
	o := options(t, "cortex")
	o.OperatorAWS = &install.OperatorAWS{TestEndpoint: "http://10.213.0.1:5000"}
	objs, err := install.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range objs.Deployments {
		want := []string(nil)
		if *d.Name == install.OperatorName {
			want = []string{"AWS_ENDPOINT_URL=http://10.213.0.1:5000"}
		}
		if got := endpointEnv(d.Spec.Template.Spec.Containers[0]); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s with TestEndpoint: %v, want %v", *d.Name, got, want)
		}
	}
	for _, bad := range []string{"10.213.0.1:5000", "ftp://h", "http://", "http://h/path", "http://h?x=1", "http://h#f", "http://h:0", "http://h:99999", "mailto:x@h"} {
		o.OperatorAWS = &install.OperatorAWS{TestEndpoint: bad}
		if _, err := install.Build(o); err == nil || !strings.Contains(err.Error(), "--aws-test-endpoint") {
			t.Errorf("TestEndpoint %q: err = %v", bad, err)
		}
	}
	o.OperatorAWS = &install.OperatorAWS{TestEndpoint: "http://user:" + testSecret + "@h:5000"}
	if _, err := install.Build(o); err == nil || strings.Contains(err.Error(), testSecret) {
		t.Errorf("TestEndpoint with user info: err = %v (refused, without the password)", err)
	}
}
