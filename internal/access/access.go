// Package access is the authorization model: roles, access rules by principal, and the decision
// of which role a verified identity has on a cluster.
package access

import (
	"fmt"
	"strings"

	"github.com/cortexlabs-go/cortex/internal/awsarn"
)

// Role is what an identity may do. Roles are ordered: read < deploy < admin.
type Role string

const (
	RoleNone   Role = ""
	RoleRead   Role = "read"   // list and inspect APIs, read logs, see its own identity
	RoleDeploy Role = "deploy" // plus deploy, update and delete APIs
	RoleAdmin  Role = "admin"  // plus manage access rules
)

func (r Role) rank() int {
	switch r {
	case RoleRead:
		return 1
	case RoleDeploy:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleRead, RoleDeploy, RoleAdmin:
		return r, nil
	}
	return RoleNone, fmt.Errorf("invalid role %q: use read, deploy or admin", s)
}

// Rule grants Role to Principal: an IAM user or role ARN (matched after canonicalization), the
// root ARN of an account (matched exactly), or a 12-digit account id (every user and role of that
// account, never its root).
type Rule struct {
	Principal string `json:"principal"`
	Role      Role   `json:"role"`
	GrantedBy string `json:"granted_by,omitempty"`
	GrantedAt string `json:"granted_at,omitempty"`
	// UniqueID is the IAM unique id (AIDA… for a user, AROA… for a role) of the principal this
	// rule was bound to when it first authenticated; BoundAt is when. A user or role deleted and
	// re-created under the same name has a new unique id and does not match: an admin must grant
	// again, which makes a new, unbound rule. Only ARN rules are bound; account rules are not.
	UniqueID string `json:"unique_id,omitempty"`
	BoundAt  string `json:"bound_at,omitempty"`
}

// NormalizePrincipal validates a rule's principal and returns its canonical form.
func NormalizePrincipal(s string) (string, error) {
	if awsarn.IsAccountID(s) {
		return s, nil
	}
	if strings.ContainsAny(s, "*?") {
		return "", fmt.Errorf("invalid principal %q: wildcards are not supported", s)
	}
	p, err := awsarn.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid principal %q: want a 12-digit account id or an IAM user or role ARN: %v", s, err)
	}
	switch p.Kind {
	case awsarn.KindAssumedRole:
		return "", fmt.Errorf("invalid principal %q: name the role (%s), not one of its sessions", s, p.Canonical())
	case awsarn.KindFederatedUser:
		return "", fmt.Errorf("invalid principal %q: federated users cannot be granted access", s)
	}
	return p.Canonical(), nil
}

// Validate checks the rule and canonicalizes its principal in place.
func (r *Rule) Validate() error {
	p, err := NormalizePrincipal(r.Principal)
	if err != nil {
		return err
	}
	if _, err := ParseRole(string(r.Role)); err != nil {
		return err
	}
	r.Principal = p
	return nil
}

// Mode is how identities without an explicit rule are treated.
type Mode string

const (
	// ModeAccount is Cortex's documented rule: every IAM identity of the cluster's account may use
	// the cluster (with AccountRole), unless a rule for its ARN says otherwise.
	ModeAccount Mode = "account"
	// ModeRules admits only the creator and principals named by rules.
	ModeRules Mode = "rules"
)

// ParseMode parses an authorization mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAccount, ModeRules:
		return m, nil
	}
	return "", fmt.Errorf("invalid auth mode %q: use account or rules", s)
}

// ParseAccountRole parses the role an install gives every identity of the account in ModeAccount:
// read or deploy. Admin is granted by rule, one principal at a time, never to a whole account by
// the mode (the operator accepts it from its own configuration; the installs do not offer it).
func ParseAccountRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleRead, RoleDeploy:
		return r, nil
	case RoleAdmin:
		return RoleNone, fmt.Errorf("role %q is not offered for a whole account: use read or deploy, and grant admin by access rule", s)
	}
	return RoleNone, fmt.Errorf("invalid role %q: use read or deploy", s)
}

// Policy is everything a decision depends on.
type Policy struct {
	Mode        Mode
	AccountID   string // the cluster's account
	AccountRole Role   // role of account identities in ModeAccount
	CreatorARN  string // canonical; always admin
	// CreatorUniqueID binds the creator like a rule's UniqueID (empty: not yet bound).
	CreatorUniqueID string
	Rules           []Rule // canonical principals
}

// ReasonRecreated is the reason of a refusal because the principal's unique id is not the one its
// grant was bound to: the user or role was deleted and re-created under the same name.
const ReasonRecreated = "principal_recreated"

// Decision is the outcome of Decide.
type Decision struct {
	Role   Role
	Reason string // a short code for the audit log
	// Bind is set when the role comes from a per-principal grant (the creator or a rule naming the
	// ARN) that is not yet bound to a unique id: the caller records the identity's unique id.
	Bind bool
}

// UniqueID is the principal part of the UserId STS returns: for an assumed role
// ("AROA…:session") the role's id without the session, otherwise UserId itself.
func UniqueID(userID string) string {
	id, _, _ := strings.Cut(userID, ":")
	return id
}

// Decide returns the role of the identity with canonical ARN canonical in account whose STS
// unique id is uniqueID (see UniqueID). Precedence: creator; a rule naming the exact ARN; a rule
// naming the account; the account mode. Root is matched only by a rule naming root itself.
//
// A creator or ARN rule bound to another unique id refuses the identity outright (it does not fall
// through to account rules or the account mode): the grant was made for a principal that no longer
// exists, and what it said about the name, even a restriction, must not pass to a stranger.
func (p *Policy) Decide(canonical, account, uniqueID string) Decision {
	bound := func(role Role, reason, boundTo string) Decision {
		switch {
		case boundTo == "":
			return Decision{Role: role, Reason: reason, Bind: true}
		case boundTo != uniqueID:
			return Decision{Role: RoleNone, Reason: ReasonRecreated}
		}
		return Decision{Role: role, Reason: reason}
	}
	if p.CreatorARN != "" && canonical == p.CreatorARN {
		return bound(RoleAdmin, "creator", p.CreatorUniqueID)
	}
	for _, r := range p.Rules {
		if r.Principal == canonical {
			return bound(r.Role, "rule_arn", r.UniqueID)
		}
	}
	isRoot := strings.HasSuffix(canonical, ":root")
	if isRoot {
		return Decision{Role: RoleNone, Reason: "root_not_implied"}
	}
	for _, r := range p.Rules {
		if r.Principal == account {
			return Decision{Role: r.Role, Reason: "rule_account"}
		}
	}
	if p.Mode == ModeAccount && account == p.AccountID {
		return Decision{Role: p.AccountRole, Reason: "account_mode"}
	}
	return Decision{Role: RoleNone, Reason: "no_rule"}
}
