package aws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// An existing policy with another document gets a new default version; with IAM's 5 versions
// already there, the oldest non-default one goes, never the default.
func TestEnsurePolicyNewVersionKeepsDefault(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	p := newTestProvisioner(t, u, nil, "")
	doc := func(action string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`
	}
	c, err := p.iam.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("cortex-pv-us-west-2"), PolicyDocument: aws.String(doc("s3:GetObject"))})
	must(t, err)
	arn := aws.ToString(c.Policy.Arn)
	for _, a := range []string{"s3:A", "s3:B", "s3:C", "s3:D"} {
		_, err := p.iam.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc(a))})
		must(t, err)
	}
	want := doc("s3:PutObject")
	detail, err := p.ensurePolicy(ctx, arn, "cortex-pv-us-west-2", want, nil)
	must(t, err)
	if detail != arn+" (new version)" {
		t.Fatalf("detail %q", detail)
	}
	vers, err := p.iam.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	must(t, err)
	ids := map[string]bool{}
	for _, v := range vers.Versions {
		ids[aws.ToString(v.VersionId)] = true
	}
	if len(vers.Versions) != 5 || !ids["v1"] || ids["v2"] {
		t.Fatalf("versions %v: want v1 (the old default) kept and v2 (oldest non-default) deleted", ids)
	}
	pol, err := p.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	must(t, err)
	v, err := p.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
	must(t, err)
	got, err := decodePolicyDocument(aws.ToString(v.PolicyVersion.Document))
	must(t, err)
	if got != want {
		t.Fatalf("default document %s, want %s", got, want)
	}
	// Same document again: nothing to do.
	detail, err = p.ensurePolicy(ctx, arn, "cortex-pv-us-west-2", want, nil)
	must(t, err)
	if detail != arn+" (up to date)" {
		t.Fatalf("detail %q", detail)
	}
}
