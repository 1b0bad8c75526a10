package aws

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
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

// raceTransport runs before() once, ahead of the first request of operation op: another `up`
// doing the same thing at that moment, which moto alone cannot stage between two calls.
type raceTransport struct {
	next   http.RoundTripper
	op     string
	once   sync.Once
	before func()
}

func (r *raceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if awsmiddleware.GetOperationName(req.Context()) == r.op {
		r.once.Do(r.before)
	}
	return r.next.RoundTrip(req)
}

// The policy does not exist when looked up, but another run creates it before CreatePolicy:
// moto answers EntityAlreadyExists, and ensurePolicy must carry on with the policy as re-read,
// not fail with the first lookup's NoSuchEntity.
func TestEnsurePolicyCreatedConcurrently(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	const name = "cortex-race-us-west-2"
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	other := newTestProvisioner(t, u, nil, "")
	var created string
	rt := &raceTransport{next: http.DefaultTransport, op: "CreatePolicy", before: func() {
		c, err := other.iam.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		must(t, err)
		created = aws.ToString(c.Policy.Arn)
	}}
	p := newTestProvisioner(t, u, rt, "")
	arn := "arn:aws:iam::123456789012:policy/" + name
	detail, err := p.ensurePolicy(ctx, arn, name, doc, nil)
	if err != nil {
		t.Fatalf("ensurePolicy after a concurrent create: %v", err)
	}
	if created != arn || detail != arn+" (up to date)" {
		t.Fatalf("created %q, detail %q", created, detail)
	}
}
