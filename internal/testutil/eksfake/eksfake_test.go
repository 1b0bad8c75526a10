package eksfake_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

const (
	bob      = "arn:aws:iam::111122223333:user/bob"
	mlRole   = "arn:aws:iam::111122223333:role/team/ml" // a role with a path
	viewPol  = eksfake.PolicyPrefix + "AmazonEKSViewPolicy"
	adminPol = eksfake.PolicyPrefix + "AmazonEKSClusterAdminPolicy"
)

// client is aws-sdk-go-v2's own EKS client pointed at url: its serializers and deserializers are
// what prove the fake's shapes.
func client(url string) *eks.Client {
	return eks.NewFromConfig(aws.Config{
		Region:       "us-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// code is the error code the SDK decoded.
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestAccessEntriesRoundTrip(t *testing.T) {
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster("c1", eksfake.ModeAPIAndConfigMap)
	ctx, c := context.Background(), client(fake.URL)

	out, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob),
		Username: aws.String(bob), KubernetesGroups: []string{"cortex:read"}, Type: aws.String("STANDARD"), Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	e := out.AccessEntry
	if aws.ToString(e.PrincipalArn) != bob || aws.ToString(e.Username) != bob || !slices.Equal(e.KubernetesGroups, []string{"cortex:read"}) ||
		aws.ToString(e.Type) != "STANDARD" || aws.ToString(e.ClusterName) != "c1" || e.Tags["k"] != "v" || e.CreatedAt == nil ||
		time.Since(*e.CreatedAt) > time.Minute || aws.ToString(e.AccessEntryArn) == "" {
		t.Fatalf("created entry: %+v", e)
	}
	// A role without a username gets EKS's default (the assumed-role session).
	out, err = c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(mlRole)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.AccessEntry.Username); got != "arn:aws:sts::111122223333:assumed-role/ml/{{SessionName}}" {
		t.Fatalf("default username %q", got)
	}
	// The principal ARN is a path label: its ':' and '/' are escaped by the SDK and must round-trip.
	d, err := c.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(mlRole)})
	if err != nil || aws.ToString(d.AccessEntry.PrincipalArn) != mlRole {
		t.Fatalf("describe: %+v %v", d, err)
	}

	as, err := c.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob),
		PolicyArn: aws.String(viewPol), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: []string{"cortex-apis"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := as.AssociatedAccessPolicy; aws.ToString(p.PolicyArn) != viewPol || p.AccessScope.Type != ekstypes.AccessScopeTypeNamespace ||
		!slices.Equal(p.AccessScope.Namespaces, []string{"cortex-apis"}) || p.AssociatedAt == nil || aws.ToString(as.PrincipalArn) != bob {
		t.Fatalf("associate: %+v", as)
	}
	// Associating the same policy again replaces its scope.
	if _, err := c.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob),
		PolicyArn: aws.String(viewPol), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster}}); err != nil {
		t.Fatal(err)
	}
	lp, err := c.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob)})
	if err != nil || len(lp.AssociatedAccessPolicies) != 1 || lp.AssociatedAccessPolicies[0].AccessScope.Type != ekstypes.AccessScopeTypeCluster {
		t.Fatalf("list associated: %+v %v", lp, err)
	}

	filtered, err := c.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("c1"), AssociatedPolicyArn: aws.String(viewPol)})
	if err != nil || !slices.Equal(filtered.AccessEntries, []string{bob}) {
		t.Fatalf("list by policy: %+v %v", filtered, err)
	}
	// Pagination with the SDK's paginator, one entry a page.
	var all []string
	pg := eks.NewListAccessEntriesPaginator(c, &eks.ListAccessEntriesInput{ClusterName: aws.String("c1"), MaxResults: aws.Int32(1)})
	for pg.HasMorePages() {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.AccessEntries) > 1 {
			t.Fatalf("page of %d", len(p.AccessEntries))
		}
		all = append(all, p.AccessEntries...)
	}
	if !slices.Equal(all, []string{mlRole, bob}) && !slices.Equal(all, []string{bob, mlRole}) {
		t.Fatalf("paginated: %v", all)
	}

	if _, err := c.DisassociateAccessPolicy(ctx, &eks.DisassociateAccessPolicyInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob), PolicyArn: aws.String(viewPol)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisassociateAccessPolicy(ctx, &eks.DisassociateAccessPolicyInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob), PolicyArn: aws.String(viewPol)}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("disassociate twice: %v", err)
	}
	if _, err := c.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob)})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("describe after delete: %v", err)
	}
}

// Every error is the one the API reference names, decoded by the SDK into its typed exception.
func TestAccessEntryErrors(t *testing.T) {
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster("c1", eksfake.ModeAPI)
	fake.AddCluster("old", eksfake.ModeConfigMap)
	ctx, c := context.Background(), client(fake.URL)
	if _, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(bob)}); err != nil {
		t.Fatal(err)
	}
	ns := func(n ...string) *ekstypes.AccessScope {
		return &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: n}
	}
	create := func(cluster, principal string, mut func(*eks.CreateAccessEntryInput)) error {
		in := &eks.CreateAccessEntryInput{ClusterName: aws.String(cluster), PrincipalArn: aws.String(principal)}
		if mut != nil {
			mut(in)
		}
		_, err := c.CreateAccessEntry(ctx, in)
		return err
	}
	associate := func(principal, policy string, scope *ekstypes.AccessScope) error {
		_, err := c.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("c1"), PrincipalArn: aws.String(principal), PolicyArn: aws.String(policy), AccessScope: scope})
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"duplicate entry", create("c1", bob, nil), "ResourceInUseException"},
		{"unknown cluster", create("nope", bob, nil), "ResourceNotFoundException"},
		{"CONFIG_MAP mode", create("old", bob, nil), "InvalidRequestException"},
		{"account id is not a principal", create("c1", "111122223333", nil), "InvalidParameterException"},
		{"assumed-role session", create("c1", "arn:aws:sts::111122223333:assumed-role/ml/s", nil), "InvalidParameterException"},
		{"group ARN", create("c1", "arn:aws:iam::111122223333:group/devs", nil), "InvalidParameterException"},
		{"system: group", create("c1", mlRole, func(i *eks.CreateAccessEntryInput) { i.KubernetesGroups = []string{"system:masters"} }), "InvalidParameterException"},
		{"reserved username", create("c1", mlRole, func(i *eks.CreateAccessEntryInput) { i.Username = aws.String("eks:me") }), "InvalidParameterException"},
		{"groups on a node entry", create("c1", mlRole, func(i *eks.CreateAccessEntryInput) {
			i.Type, i.KubernetesGroups = aws.String("EC2_LINUX"), []string{"g"}
		}), "InvalidParameterException"},
		{"unknown type", create("c1", mlRole, func(i *eks.CreateAccessEntryInput) { i.Type = aws.String("ADMIN") }), "InvalidParameterException"},
		{"policy of a missing entry", associate(mlRole, viewPol, ns("a")), "ResourceNotFoundException"},
		{"unknown policy", associate(bob, eksfake.PolicyPrefix+"AmazonEKSGodPolicy", ns("a")), "ResourceNotFoundException"},
		{"not a policy ARN", associate(bob, "arn:aws:iam::aws:policy/AdministratorAccess", ns("a")), "InvalidParameterException"},
		{"namespace scope without namespaces", associate(bob, viewPol, ns()), "InvalidParameterException"},
		{"cluster scope with namespaces", associate(bob, adminPol, &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster, Namespaces: []string{"a"}}), "InvalidParameterException"},
		{"unknown scope type", associate(bob, viewPol, &ekstypes.AccessScope{Type: "account"}), "InvalidParameterException"},
		{"bad namespace", associate(bob, viewPol, ns("Not_A_Namespace")), "InvalidParameterException"},
	} {
		if code(tc.err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, tc.err, tc.want)
		}
	}
	var inUse *ekstypes.ResourceInUseException
	if err := create("c1", bob, nil); !errors.As(err, &inUse) {
		t.Errorf("duplicate is not the SDK's ResourceInUseException: %T", err)
	}
	if _, err := c.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("c1"), NextToken: aws.String("forged")}); code(err) != "InvalidParameterException" {
		t.Errorf("forged nextToken: %v", err)
	}
}

func TestPodIdentityAssociationsRoundTrip(t *testing.T) {
	fake := eksfake.Start(t, eksfake.Options{})
	fake.AddCluster("c1", eksfake.ModeConfigMap) // pod identity does not depend on the authentication mode
	ctx, c := context.Background(), client(fake.URL)
	const role = "arn:aws:iam::123456789012:role/cortex-c1-api-iris"
	out, err := c.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("c1"),
		Namespace: aws.String("cortex-apis"), ServiceAccount: aws.String("iris"), RoleArn: aws.String(role), Tags: map[string]string{"cortex.dev/api": "iris"}})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Association
	id := aws.ToString(a.AssociationId)
	if len(id) != 19 || id[:2] != "a-" || aws.ToString(a.RoleArn) != role || aws.ToString(a.Namespace) != "cortex-apis" ||
		aws.ToString(a.ServiceAccount) != "iris" || a.Tags["cortex.dev/api"] != "iris" || a.CreatedAt == nil {
		t.Fatalf("created: %+v", a)
	}
	_, err = c.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("c1"),
		Namespace: aws.String("cortex-apis"), ServiceAccount: aws.String("iris"), RoleArn: aws.String(role)})
	if code(err) != "ResourceInUseException" {
		t.Fatalf("same service account twice: %v", err)
	}
	_, err = c.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("c1"),
		Namespace: aws.String("cortex-apis"), ServiceAccount: aws.String("other"), RoleArn: aws.String(bob)})
	if code(err) != "InvalidParameterException" {
		t.Fatalf("a user ARN as the role: %v", err)
	}
	d, err := c.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String(id)})
	if err != nil || aws.ToString(d.Association.AssociationArn) != aws.ToString(a.AssociationArn) {
		t.Fatalf("describe: %+v %v", d, err)
	}
	l, err := c.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("c1"), ServiceAccount: aws.String("iris")})
	if err != nil || len(l.Associations) != 1 || aws.ToString(l.Associations[0].AssociationId) != id {
		t.Fatalf("list: %+v %v", l, err)
	}
	l, err = c.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("c1"), Namespace: aws.String("default")})
	if err != nil || len(l.Associations) != 0 {
		t.Fatalf("list other namespace: %+v %v", l, err)
	}
	// UpdatePodIdentityAssociation changes the role in place (same id); a user ARN is refused.
	up, err := c.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String(id),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/other")})
	if err != nil || aws.ToString(up.Association.AssociationId) != id || aws.ToString(up.Association.RoleArn) != "arn:aws:iam::123456789012:role/other" {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := c.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String(id),
		RoleArn: aws.String("arn:aws:iam::123456789012:user/bob")}); code(err) != "InvalidParameterException" {
		t.Fatalf("update to a user ARN: %v", err)
	}
	if _, err := c.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String("a-missing"),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/other")}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("update of a missing association: %v", err)
	}
	del, err := c.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String(id)})
	if err != nil || aws.ToString(del.Association.AssociationId) != id {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := c.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String(id)}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("describe after delete: %v", err)
	}
}

// In front of moto, the fake keeps what moto drops: CreateCluster's accessConfig is recorded and
// comes back in DescribeCluster; the creator gets EKS's bootstrap admin entry; other services and
// other EKS operations pass through to moto unchanged.
func TestInFrontOfMoto(t *testing.T) {
	motoserver.SkipIfShort(t)
	moto := motoserver.Start(t, motoserver.Options{})
	const creator = "arn:aws:iam::123456789012:user/alice"
	fake := eksfake.Start(t, eksfake.Options{Upstream: moto.URL, CreatorARN: creator})
	ctx, c := context.Background(), client(fake.URL)
	create := func(name string, ac *ekstypes.CreateAccessConfigRequest) {
		t.Helper()
		_, err := c.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::123456789012:role/eks"),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1"}}, AccessConfig: ac})
		if err != nil {
			t.Fatal(err)
		}
	}
	create("api", &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApiAndConfigMap, BootstrapClusterCreatorAdminPermissions: aws.Bool(true)})
	create("legacy", nil)

	d, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("api")})
	if err != nil {
		t.Fatal(err)
	}
	if ac := d.Cluster.AccessConfig; ac == nil || ac.AuthenticationMode != ekstypes.AuthenticationModeApiAndConfigMap || !aws.ToBool(ac.BootstrapClusterCreatorAdminPermissions) {
		t.Fatalf("accessConfig: %+v", d.Cluster.AccessConfig)
	}
	if aws.ToString(d.Cluster.Arn) == "" || aws.ToString(d.Cluster.Name) != "api" {
		t.Fatalf("moto's part of the answer is missing: %+v", d.Cluster)
	}
	d, err = c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("legacy")})
	if err != nil || d.Cluster.AccessConfig == nil || d.Cluster.AccessConfig.AuthenticationMode != ekstypes.AuthenticationModeConfigMap {
		t.Fatalf("default accessConfig: %+v %v", d, err)
	}
	if got := fake.Created(); len(got) != 2 || got[0].AccessConfig == nil || got[0].AccessConfig.AuthenticationMode != "API_AND_CONFIG_MAP" || got[1].AccessConfig != nil {
		t.Fatalf("recorded: %+v", got)
	}
	lp, err := c.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String("api"), PrincipalArn: aws.String(creator)})
	if err != nil || len(lp.AssociatedAccessPolicies) != 1 || aws.ToString(lp.AssociatedAccessPolicies[0].PolicyArn) != adminPol {
		t.Fatalf("creator's bootstrap entry: %+v %v", lp, err)
	}
	// Other services pass through (moto routes them by the signature's service).
	if id, err := sts.NewFromConfig(aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(fake.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "secret", "")}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || aws.ToString(id.Account) == "" {
		t.Fatalf("STS through the fake: %+v %v", id, err)
	}
	// moto's own EKS operations pass through.
	if l, err := c.ListClusters(ctx, &eks.ListClustersInput{}); err != nil || len(l.Clusters) != 2 {
		t.Fatalf("list clusters through the fake: %+v %v", l, err)
	}
	if _, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("api")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("api")}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("entries of a deleted cluster: %v", err)
	}
}
