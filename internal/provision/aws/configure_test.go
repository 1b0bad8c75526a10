package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/iampolicy"
)

func TestInfoAndConfigure(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	p := newTestProvisioner(t, u, nil, dir)
	base := "cluster_name: conf\nregion: us-west-2\navailability_zones: [us-west-2a, us-west-2b]\n"
	cfg := mustConfig(t, base+"iam_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]\n")
	if _, err := p.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	info, err := newTestProvisioner(t, u, nil, t.TempDir()).Info(ctx, "conf") // state from the bucket
	if err != nil {
		t.Fatal(err)
	}
	if info.EKSStatus != "ACTIVE" || info.NodeGroupStatus["ng-cpu"] != "ACTIVE" || info.OperatorEndpoint == "" || info.OperatorLBScheme != "internet-facing" ||
		!strings.HasSuffix(info.DefaultPolicyARN, "policy/cortex-conf-us-west-2") || info.CreatorARN == "" || info.OperatorLBState != "active" {
		t.Fatalf("info: %+v", info)
	}

	// Refused: a field that cannot change; nothing is changed.
	bad := mustConfig(t, strings.Replace(base, "availability_zones: [us-west-2a, us-west-2b]", "availability_zones: [us-west-2a, us-west-2c]", 1)+"subnet_visibility: private\n")
	if _, err := p.Configure(ctx, bad); err == nil || !strings.Contains(err.Error(), "availability_zones") || !strings.Contains(err.Error(), "subnet_visibility") {
		t.Fatalf("want refusal naming the fields, got %v", err)
	}

	// access is a change relative to what cluster.yaml applied (ApplyAccess applies it; see
	// TestAccessFromClusterYAML); a plan changes nothing.
	withAccess := mustConfig(t, base+"iam_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]\naccess: [{principal: \"123456789012\", role: read}]\n")
	if changes, err := p.PlanConfigure(ctx, withAccess); err != nil || fmt.Sprint(changes) != "[{access[123456789012] none read}]" {
		t.Fatalf("access in the plan: %v %v", changes, err)
	}
	// Refused before anything changes: an api_iam over IAM's quota for the operator role's policy.
	big := *cfg
	big.IAMPolicyARNs = nil
	big.APIIAM = allowlist(200)
	if _, err := p.PlanConfigure(ctx, &big); err == nil || !strings.Contains(err.Error(), "api_iam: with its 200 ARNs") {
		t.Fatalf("want api_iam over the limit refused, got %v", err)
	}
	if _, err := p.Configure(ctx, &big); err == nil || !strings.Contains(err.Error(), "over IAM's limit") {
		t.Fatalf("want api_iam over the limit refused, got %v", err)
	}
	if attached, err := p.attachedRolePolicies(ctx, NamesFor("aws", info.State.AccountID, "conf", testRegion).NodeRole); err != nil ||
		!attached["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"] {
		t.Fatalf("a refused configure changed the node role: %v, %v", attached, err)
	}

	next := mustConfig(t, base+`iam_policy_arns: [arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess]
operator_load_balancer_cidr_allowlist: [203.0.113.0/24]
node_groups: [{name: ng-cpu, instance_type: m5.large, min_instances: 2, max_instances: 7}]
`)
	changes, err := p.Configure(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 4 {
		t.Errorf("changes: %+v", changes)
	}
	st, _ := LoadLocalState(dir, "conf", testRegion)
	ng, err := p.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("conf"), NodegroupName: aws.String("ng-cpu")})
	must(t, err)
	if sc := ng.Nodegroup.ScalingConfig; aws.ToInt32(sc.MinSize) != 2 || aws.ToInt32(sc.MaxSize) != 7 {
		t.Errorf("scaling %+v", sc)
	}
	attached, err := p.attachedRolePolicies(ctx, NamesFor("aws", st.AccountID, "conf", testRegion).NodeRole)
	must(t, err)
	if attached["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"] || !attached["arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess"] || !attached[st.PolicyARN] {
		t.Errorf("node role policies after configure: %v", attached)
	}
	sg, err := p.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{st.SecurityGroups["operator-lb"]}})
	must(t, err)
	var cidrs []string
	for _, perm := range sg.SecurityGroups[0].IpPermissions {
		for _, r := range perm.IpRanges {
			cidrs = append(cidrs, aws.ToString(r.CidrIp))
		}
	}
	if len(cidrs) != 2 || cidrs[0] != "203.0.113.0/24" || cidrs[1] != "203.0.113.0/24" {
		t.Errorf("operator LB ingress after configure: %v", cidrs)
	}
	if !slices.Equal(st.Config.IAMPolicyARNs, []string{"arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess"}) ||
		slices.Contains(st.NodeRolePolicy, "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess") {
		t.Errorf("state after configure: iam_policy_arns %v, node role policies %v", st.Config.IAMPolicyARNs, st.NodeRolePolicy)
	}
	if _, err := p.Down(ctx, "conf", DownOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckAdmin(t *testing.T) {
	u := moto(t)
	t.Parallel()
	ctx := context.Background()
	p := newTestProvisioner(t, u, nil, "")
	admin := "arn:aws:iam::aws:policy/AdministratorAccess"
	_, err := p.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	must(t, err)
	_, err = p.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")})
	must(t, err)
	_, err = p.iam.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("admins")})
	must(t, err)
	_, err = p.iam.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String("admins"), PolicyArn: aws.String(admin)})
	must(t, err)
	_, err = p.iam.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("admins"), UserName: aws.String("alice")})
	must(t, err)
	_, err = p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trustPolicy("ec2.amazonaws.com"))})
	must(t, err)
	_, err = p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("deployer"), PolicyArn: aws.String(admin)})
	must(t, err)
	for _, c := range []struct {
		arn   string
		admin bool
	}{
		{"arn:aws:iam::123456789012:user/alice", true},
		{"arn:aws:iam::123456789012:user/bob", false},
		{"arn:aws:sts::123456789012:assumed-role/deployer/session", true},
		{"arn:aws:iam::123456789012:root", true},
	} {
		got, err := p.CheckAdmin(ctx, &Identity{Account: "123456789012", ARN: c.arn, Partition: "aws"})
		must(t, err)
		if got.Admin != c.admin {
			t.Errorf("%s: admin=%v (%+v), want %v", c.arn, got.Admin, got, c.admin)
		}
	}
}

// moto lacks iam:SimulatePrincipalPolicy: the request building is tested directly and the report
// against a recorded response.
func TestPreflight(t *testing.T) {
	id := &Identity{Account: "123456789012", ARN: "arn:aws:sts::123456789012:assumed-role/ops/me", Partition: "aws"}
	doc, err := iampolicy.Render(iampolicy.Management, PolicyParams("aws", "123456789012", "pf", testRegion))
	must(t, err)
	inputs, err := PreflightInputs(id, doc)
	must(t, err)
	sts, _ := iampolicy.Statements(doc)
	if len(inputs) != len(sts) {
		t.Fatalf("%d inputs for %d statements", len(inputs), len(sts))
	}
	for _, in := range inputs {
		if aws.ToString(in.PolicySourceArn) != "arn:aws:iam::123456789012:role/ops" {
			t.Fatalf("principal %s: an assumed role must be simulated as its role", aws.ToString(in.PolicySourceArn))
		}
		for _, r := range in.ResourceArns {
			if r == "*" {
				t.Fatal("'*' must not be sent as a resource")
			}
		}
	}

	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		bodies = append(bodies, r.Form.Get("Action")+" "+r.Form.Get("PolicySourceArn")+" "+r.Form.Get("ActionNames.member.1"))
		w.Header().Set("Content-Type", "text/xml")
		decision := "allowed"
		if r.Form.Get("ActionNames.member.1") == "eks:CreateCluster" {
			decision = "implicitDeny"
		}
		w.Write([]byte(`<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>
<member><EvalActionName>` + r.Form.Get("ActionNames.member.1") + `</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>` + decision + `</EvalDecision></member>
<member><EvalActionName>` + r.Form.Get("ActionNames.member.2") + `</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>allowed</EvalDecision></member>
</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>`))
	}))
	defer srv.Close()
	p := newTestProvisioner(t, srv.URL, nil, "")
	denied, err := p.Preflight(context.Background(), id, "pf")
	must(t, err)
	if len(denied) != 1 || denied[0].Action != "eks:CreateCluster" || denied[0].Decision != "implicitDeny" {
		t.Fatalf("denied: %+v", denied)
	}
	if len(bodies) != len(sts) || !strings.HasPrefix(bodies[0], "SimulatePrincipalPolicy arn:aws:iam::123456789012:role/ops ") {
		t.Fatalf("requests: %v", bodies)
	}
}
