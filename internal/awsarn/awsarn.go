// Package awsarn parses the IAM principal ARNs that STS GetCallerIdentity returns and that access
// rules name, and maps them to the canonical form used for authorization.
package awsarn

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind of IAM principal.
const (
	KindUser          = "user"
	KindRole          = "role"
	KindAssumedRole   = "assumed-role"
	KindRoot          = "root"
	KindFederatedUser = "federated-user"
)

// Principal is a parsed principal ARN.
type Principal struct {
	Partition string
	Account   string
	Kind      string
	// Path is the IAM path of a user or role ("/" when none), e.g. "/team/".
	Path string
	// Name is the user, role or federated user name ("" for root).
	Name string
	// Session is the session name of an assumed role.
	Session string
}

var (
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
	partitionRE = regexp.MustCompile(`^aws(-cn|-us-gov)?$`)
	// IAM names: letters, digits and +=,.@_- (roles/users up to 64, sessions 2-64).
	nameRE    = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	sessionRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	pathRE    = regexp.MustCompile(`^/([\x21-\x7e]+/)?$`)
)

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool { return accountRE.MatchString(s) }

// Parse parses an IAM/STS principal ARN strictly.
func Parse(arn string) (Principal, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return Principal{}, fmt.Errorf("not an ARN: %q", arn)
	}
	p := Principal{Partition: parts[1], Account: parts[4]}
	if !partitionRE.MatchString(p.Partition) {
		return Principal{}, fmt.Errorf("unknown partition %q in ARN", p.Partition)
	}
	if parts[2] != "iam" && parts[2] != "sts" {
		return Principal{}, fmt.Errorf("not an IAM or STS principal ARN: %q", arn)
	}
	if parts[3] != "" {
		return Principal{}, fmt.Errorf("IAM ARNs have no region: %q", arn)
	}
	if !IsAccountID(p.Account) {
		return Principal{}, fmt.Errorf("account %q in ARN is not 12 digits", p.Account)
	}
	resource := parts[5]
	switch parts[2] {
	case "iam":
		if resource == "root" {
			p.Kind = KindRoot
			return p, nil
		}
		kind, rest, ok := strings.Cut(resource, "/")
		if !ok || (kind != KindUser && kind != KindRole) {
			return Principal{}, fmt.Errorf("unsupported IAM principal %q: want user/..., role/... or root", resource)
		}
		i := strings.LastIndex(rest, "/")
		p.Kind, p.Path, p.Name = kind, "/"+rest[:i+1], rest[i+1:]
		if i < 0 {
			p.Path = "/"
		}
		if !pathRE.MatchString(p.Path) || !nameRE.MatchString(p.Name) {
			return Principal{}, fmt.Errorf("invalid %s name or path in %q", kind, arn)
		}
		return p, nil
	case "sts":
		fields := strings.Split(resource, "/")
		switch {
		case len(fields) == 3 && fields[0] == KindAssumedRole:
			p.Kind, p.Name, p.Session = KindAssumedRole, fields[1], fields[2]
			if !nameRE.MatchString(p.Name) || !sessionRE.MatchString(p.Session) {
				return Principal{}, fmt.Errorf("invalid assumed-role ARN %q", arn)
			}
		case len(fields) == 2 && fields[0] == KindFederatedUser:
			p.Kind, p.Name = KindFederatedUser, fields[1]
			if !nameRE.MatchString(p.Name) {
				return Principal{}, fmt.Errorf("invalid federated-user ARN %q", arn)
			}
		default:
			return Principal{}, fmt.Errorf("unsupported STS principal %q", resource)
		}
		p.Path = "/"
		return p, nil
	}
	return Principal{}, fmt.Errorf("not an IAM or STS principal ARN: %q", arn)
}

// Canonical is the ARN authorization matches on: an assumed role becomes its role, without the
// session name; a role or user loses its path (role paths are absent from assumed-role ARNs, and
// names are unique in an account regardless of path).
func (p Principal) Canonical() string {
	switch p.Kind {
	case KindRoot:
		return fmt.Sprintf("arn:%s:iam::%s:root", p.Partition, p.Account)
	case KindUser, KindRole:
		return fmt.Sprintf("arn:%s:iam::%s:%s/%s", p.Partition, p.Account, p.Kind, p.Name)
	case KindAssumedRole:
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", p.Partition, p.Account, p.Name)
	case KindFederatedUser:
		return fmt.Sprintf("arn:%s:sts::%s:federated-user/%s", p.Partition, p.Account, p.Name)
	}
	return ""
}
