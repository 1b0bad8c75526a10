package kube_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube"
)

func sdkConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// egress renders a NetworkPolicy's egress peers as "CIDR except A,B".
func egress(t *testing.T, c *kubetest.Cluster, ns, name string) string {
	t.Helper()
	np, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range np.Spec.Egress {
		for _, to := range e.To {
			if to.IPBlock == nil {
				t.Fatalf("egress peer without an ipBlock: %+v", to)
			}
			out = append(out, to.IPBlock.CIDR+" except "+strings.Join(to.IPBlock.Except, ","))
		}
	}
	return fmt.Sprint(out)
}

const (
	noIdentityEgress = "[0.0.0.0/0 except 169.254.169.254/32,169.254.170.23/32 ::/0 except fd00:ec2::254/128,fd00:ec2::23/128]"
	identityEgress   = "[0.0.0.0/0 except 169.254.169.254/32 ::/0 except fd00:ec2::254/128]"
)

// testIdentities: an API with iam_policy_arns gets a role of its own, bound to its ServiceAccount
// by an EKS Pod Identity association, before any of its pods exist; an API without one can reach
// neither the instance metadata nor the Pod Identity Agent. IAM is moto, the associations the EKS
// fake (moto answers them with 404), the objects the real API server's.
func testIdentities(t *testing.T, c *kubetest.Cluster) {
	motoserver.SkipIfShort(t)
	ctx := context.Background()
	ns := "identities"
	c.Namespace(t, ns)
	moto := motoserver.Start(t, motoserver.Options{})
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster("kt", eksfake.ModeAPIAndConfigMap)
	iamc, eksc := iam.NewFromConfig(sdkConfig(moto.URL)), eks.NewFromConfig(sdkConfig(fake.URL))
	const prefix = "cortex-kt-00c0ffee"
	// The cluster admin allows read-models (made below; moto's ARN is the account's and the name).
	binder, err := apiidentity.New(apiidentity.Config{IAM: iamc, EKS: eksc, Cluster: "kt", Namespace: ns,
		Partition: "aws", Region: "us-west-2", AccountID: "123456789012", RolePrefix: prefix,
		Allowed: apiidentity.Allowed{PolicyARNs: []string{"arn:aws:iam::123456789012:policy/read-models"}}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := iamc.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("read-models"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	policyARN := aws.ToString(pol.Policy.Arn)
	assoc := func(sa string) string {
		t.Helper()
		l, err := eksc.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("kt"), Namespace: aws.String(ns), ServiceAccount: aws.String(sa)})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Associations) == 0 {
			return ""
		}
		d, err := eksc.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("kt"), AssociationId: l.Associations[0].AssociationId})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(d.Association.RoleArn)
	}
	roleExists := func(name string) bool {
		_, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		return err == nil
	}

	b0, err := kube.New(ctx, kube.Options{Client: c.Client, Namespace: ns, Image: testImage, Identities: binder})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b0.Close(context.Background()) })
	b := b0

	// A policy (or role) outside the cluster admin's allowlist: the deploy is refused as the
	// operator refuses it (a ValidationError, HTTP 400) before anything changes: no role, no
	// association, no Kubernetes object.
	admin, err := iamc.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("AdministratorAccess"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	m := remoteManager(t, b0, filepath.Join(t.TempDir(), "apis.json"))
	escalate := spec("escalate", 1, nil)
	escalate.IAMPolicyARNs = []string{policyARN, aws.ToString(admin.Policy.Arn)}
	byRole := spec("byrole", 1, nil)
	byRole.IAMRoleARN = "arn:aws:iam::123456789012:role/admin"
	for _, s := range []apispec.Spec{escalate, byRole} {
		// A container handler: no code to upload, so the spec's identity is what is checked.
		s.Handler = apispec.Handler{Type: apispec.HandlerContainer, Image: "registry.example.com/app:1"}
		_, err := m.ApplyUploaded(ctx, []apispec.Spec{s}, nil)
		if !isValidation(err) || !strings.Contains(err.Error(), "api "+s.Name+": iam_") || !strings.Contains(err.Error(), "kubernetes.api_iam.allowed_") {
			t.Fatalf("deploy of %s: %v, want a ValidationError naming the field, the API and the setting", s.Name, err)
		}
		if roleExists(apiidentity.RoleName(prefix, s.Name)) || assoc(s.Name) != "" {
			t.Errorf("refused deploy of %s: a role or an association exists", s.Name)
		}
		if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused deploy of %s: deployment: %v", s.Name, err)
		}
		if _, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused deploy of %s: service account: %v", s.Name, err)
		}
		if _, err := c.Client.CoreV1().Services(ns).Get(ctx, s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused deploy of %s: service: %v", s.Name, err)
		}
		if _, err := m.Get(s.Name); err == nil {
			t.Errorf("refused deploy of %s: the operator recorded it", s.Name)
		}
	}

	// A per-API role yields its ServiceAccount and association.
	reader := spec("reader", 1, nil)
	reader.IAMPolicyARNs = []string{policyARN}
	apply(t, b, workload.Deployment{Spec: reader})
	wantRole := "arn:aws:iam::123456789012:role" + apiidentity.RolePath(prefix) + prefix + "-api-reader"
	if got := assoc("reader"); got != wantRole {
		t.Fatalf("association of reader: %q, want %q", got, wantRole)
	}
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sa.Annotations[kube.AnnotationIAMRole] != wantRole || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account: annotations %v automount %v", sa.Annotations, sa.AutomountServiceAccountToken)
	}
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "reader" || d.Spec.Template.Annotations[kube.AnnotationIAMRole] != wantRole {
		t.Errorf("pod template: sa %q annotations %v", d.Spec.Template.Spec.ServiceAccountName, d.Spec.Template.Annotations)
	}
	if got := egress(t, c, ns, "reader"); got != identityEgress {
		t.Errorf("egress of an API with an identity: %s", got)
	}

	// No identity: no association, and the agent is out of reach too.
	apply(t, b, workload.Deployment{Spec: spec("plain", 1, nil)})
	if got := assoc("plain"); got != "" {
		t.Errorf("association of plain: %s", got)
	}
	if got := egress(t, c, ns, "plain"); got != noIdentityEgress {
		t.Errorf("egress of an API without an identity: %s", got)
	}

	// Fail closed: when the association cannot be made, nothing of the API is deployed.
	late := spec("late", 1, nil)
	late.IAMPolicyARNs = []string{policyARN}
	fake.FailNext("CreatePodIdentityAssociation", 1)
	if err := b.Apply(ctx, workload.Deployment{Spec: late}); err == nil || !strings.Contains(err.Error(), "nothing was deployed") {
		t.Errorf("apply with EKS failing: %v", err)
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "late", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deployment of late exists although its association failed: %v", err)
	}
	// cortex get says why, not "starting".
	if st, ok := b.Status("late"); !ok || st.State != workload.Error || !strings.Contains(st.Reason, "CreatePodIdentityAssociation") {
		t.Errorf("status of late: %v %+v", ok, st)
	}
	apply(t, b, workload.Deployment{Spec: late}) // a retry converges
	if assoc("late") == "" {
		t.Error("no association after the retry")
	}
	if st, _ := b.Status("late"); st.State == workload.Error {
		t.Errorf("status of late after the retry: %+v", st)
	}

	// The identity dropped from the spec: association and role go, the agent is blocked.
	apply(t, b, workload.Deployment{Spec: spec("reader", 1, nil)})
	if got := assoc("reader"); got != "" {
		t.Errorf("association after the identity was dropped: %s", got)
	}
	if roleExists(prefix + "-api-reader") {
		t.Error("cortex's role left after the identity was dropped")
	}
	if got := egress(t, c, ns, "reader"); got != noIdentityEgress {
		t.Errorf("egress after the identity was dropped: %s", got)
	}
	d, err = c.Client.AppsV1().Deployments(ns).Get(ctx, "reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Spec.Template.Annotations[kube.AnnotationIAMRole]; ok {
		t.Errorf("pod template keeps the role annotation: %v", d.Spec.Template.Annotations)
	}

	// Deleting the API removes its association and role.
	if err := b.Delete(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if got := assoc("late"); got != "" {
		t.Errorf("association after delete: %s", got)
	}
	if roleExists(prefix + "-api-late") {
		t.Error("role left after delete")
	}

	// A cluster without identities refuses such APIs and deploys nothing.
	ns2 := "no-identities"
	c.Namespace(t, ns2)
	plainBackend := newBackend(t, c, ns2)
	named := spec("named", 1, nil)
	named.IAMRoleARN = "arn:aws:iam::123456789012:role/team"
	if err := plainBackend.Apply(ctx, workload.Deployment{Spec: named}); !errors.Is(err, kube.ErrNoIdentities) {
		t.Errorf("apply without identities: %v", err)
	}
	if _, err := c.Client.AppsV1().Deployments(ns2).Get(ctx, "named", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deployment of named exists: %v", err)
	}
}
