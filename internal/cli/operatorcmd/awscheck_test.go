package operatorcmd

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// --check-aws-identity fails closed at start: a deleted key or another account's credentials stop
// the operator before it serves; working credentials of the cluster's account pass (the command
// then fails later, on the missing namespace, which shows the check was passed).
func TestServeChecksItsAWSIdentity(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	op := awstest.CreateUser(t, admin, "operator")
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", moto.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", op.Creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", op.Creds.SecretAccessKey)
	base := []string{"--state-dir", dir, "--check-aws-identity", "--provider", "kubernetes", "--apis-namespace", "a", "--api-image", "i", "--tls-cert-file", "c", "--tls-key-file", "k"}
	run := func(extra ...string) (string, error) {
		f, _, errOut := cmdutil.TestFactory(dir, "", false)
		err := cmdutil.ExecuteTest(NewCmdServe(f, nil), append(append([]string{}, base...), extra...)...)
		return errOut.String(), err
	}
	log, err := run("--account-id", "123456789012")
	if err == nil || !strings.Contains(err.Error(), "kubernetes.namespace") {
		t.Fatalf("working credentials: %v", err)
	}
	if !strings.Contains(log, `"msg":"operator AWS identity","arn":"arn:aws:iam::123456789012:user/operator"`) {
		t.Errorf("the log does not name the operator's identity: %s", log)
	}
	if _, err := run("--account-id", "111122223333"); err == nil || !strings.Contains(err.Error(), "belong to account 123456789012, not to the cluster's account 111122223333") {
		t.Errorf("another account: %v", err)
	}
	awstest.DeleteAccessKey(t, admin, op)
	log, err = run("--account-id", "123456789012")
	if err == nil || !strings.Contains(err.Error(), "the operator's AWS credentials do not work") {
		t.Errorf("deleted key: %v", err)
	}
	if strings.Contains(err.Error()+log, op.Creds.SecretAccessKey) {
		t.Errorf("a secret was shown: %v %s", err, log)
	}
}
