package aws

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/iampolicy"
)

// AdministratorAccess is the AWS managed policy whose attachment makes an identity an administrator.
const administratorAccess = "AdministratorAccess"

// AdminCheck says whether the spin-up identity has AdministratorAccess attached (to the user, one
// of its groups, or its role) and, if not, why not.
type AdminCheck struct {
	Admin  bool   `json:"admin"`
	Via    string `json:"via,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CheckAdmin looks for AdministratorAccess on the identity.
func (p *Provisioner) CheckAdmin(ctx context.Context, id *Identity) (*AdminCheck, error) {
	_, kind, name, err := PrincipalARN(id.ARN)
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("arn:%s:iam::aws:policy/%s", id.Partition, administratorAccess)
	switch kind {
	case "root":
		return &AdminCheck{Admin: true, Via: "the account's root user (use an IAM user or role instead)"}, nil
	case "user":
		pols, err := p.iam.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("list policies of user %s: %w", name, err)
		}
		for _, a := range pols.AttachedPolicies {
			if aws.ToString(a.PolicyArn) == want {
				return &AdminCheck{Admin: true, Via: "user " + name}, nil
			}
		}
		groups, err := p.iam.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("list groups of user %s: %w", name, err)
		}
		for _, g := range groups.Groups {
			gp, err := p.iam.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: g.GroupName})
			if err != nil {
				return nil, fmt.Errorf("list policies of group %s: %w", aws.ToString(g.GroupName), err)
			}
			for _, a := range gp.AttachedPolicies {
				if aws.ToString(a.PolicyArn) == want {
					return &AdminCheck{Admin: true, Via: "group " + aws.ToString(g.GroupName)}, nil
				}
			}
		}
		return &AdminCheck{Reason: fmt.Sprintf("%s is not attached to user %s or its groups", administratorAccess, name)}, nil
	case "role":
		attached, err := p.attachedRolePolicies(ctx, name)
		if err != nil {
			return nil, err
		}
		if attached[want] {
			return &AdminCheck{Admin: true, Via: "role " + name}, nil
		}
		return &AdminCheck{Reason: fmt.Sprintf("%s is not attached to role %s", administratorAccess, name)}, nil
	}
	return &AdminCheck{Reason: "cannot tell the permissions of " + id.ARN}, nil
}

// Denied is an action the identity may not perform, with the resource it was simulated on.
type Denied struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
	Decision string `json:"decision"`
}

// Preflight simulates the management policy's actions for the identity (iam:SimulatePrincipalPolicy)
// and returns those it lacks. moto does not implement that API; see docs/aws.md.
func (p *Provisioner) Preflight(ctx context.Context, id *Identity, clusterName string) ([]Denied, error) {
	doc, err := iampolicy.Render(iampolicy.Management, PolicyParams(id.Partition, id.Account, clusterName, p.region))
	if err != nil {
		return nil, err
	}
	inputs, err := PreflightInputs(id, doc)
	if err != nil {
		return nil, err
	}
	var denied []Denied
	for _, in := range inputs {
		pg := iam.NewSimulatePrincipalPolicyPaginator(p.iam, in)
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("iam:SimulatePrincipalPolicy: %w", err)
			}
			for _, r := range out.EvaluationResults {
				if r.EvalDecision != "allowed" {
					denied = append(denied, Denied{Action: aws.ToString(r.EvalActionName), Resource: aws.ToString(r.EvalResourceName), Decision: string(r.EvalDecision)})
				}
			}
		}
	}
	sort.Slice(denied, func(i, j int) bool { return denied[i].Action < denied[j].Action })
	return denied, nil
}

// PreflightInputs builds one simulation request per statement of the management policy: its
// actions, on its resources (none for "*"), for the identity's principal (an assumed-role
// session is simulated as its role).
func PreflightInputs(id *Identity, managementDoc []byte) ([]*iam.SimulatePrincipalPolicyInput, error) {
	principal, _, _, err := PrincipalARN(id.ARN)
	if err != nil {
		return nil, err
	}
	sts, err := iampolicy.Statements(managementDoc)
	if err != nil {
		return nil, err
	}
	var out []*iam.SimulatePrincipalPolicyInput
	for _, s := range sts {
		in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(principal), ActionNames: s.Actions}
		for _, r := range s.Resources {
			if r != "*" {
				in.ResourceArns = append(in.ResourceArns, r)
			}
		}
		out = append(out, in)
	}
	return out, nil
}
