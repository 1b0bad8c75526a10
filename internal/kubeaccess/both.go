package kubeaccess

import (
	"context"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/awsarn"
)

// Access has two sides on an EKS cluster: the operator's rule (who may call cortex) and the
// identity's Kubernetes access (a Store). GrantBoth and RevokeBoth change both, in the one order
// used by `cortex cluster access grant|revoke` and by cluster.yaml's access (`cluster up`,
// `cluster configure`), so that a failure part way leaves an identity with less access than
// intended, never more or other.

// Rules is the operator's side: its access rules, changed through its API (which checks that the
// caller is a cortex admin and validates the principal).
type Rules interface {
	Grant(ctx context.Context, principal string, role access.Role) error
	// Revoke removes principal's rule; found is false when it had none.
	Revoke(ctx context.Context, principal string) (found bool, err error)
}

// HasKubeSide says whether principal can have Kubernetes access of its own: IAM users and roles
// can; an account id or an account's root user cannot (EKS maps only users and roles).
func HasKubeSide(principal string) bool {
	p, err := awsarn.Parse(principal)
	return err == nil && (p.Kind == awsarn.KindUser || p.Kind == awsarn.KindRole)
}

// IncompleteError is a grant or revoke whose operator side is done and whose Kubernetes side
// failed.
type IncompleteError struct {
	Op        string // grant | revoke
	Principal string
	Role      access.Role // of a grant
	Store     string      // the store's Name
	Err       error       // the Kubernetes step's failure
	// Removed says, for a grant, that the identity's Kubernetes access was removed after the
	// failure (it has none now); UndoErr is why it could not be (it may keep other access).
	Removed bool
	UndoErr error
}

func (e *IncompleteError) Error() string {
	if e.Op == "revoke" {
		return fmt.Sprintf("revoke of %s is incomplete: %s: %v", e.Principal, e.Store, e.Err)
	}
	return fmt.Sprintf("grant of %s to %s is incomplete: %s: %v", e.Role, e.Principal, e.Store, e.Err)
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// GrantBoth gives principal role on both sides: the operator's rule first (a grant the operator
// refuses changes nothing in Kubernetes), then its Kubernetes access in store (nil: none; skipped
// for principals that have no Kubernetes side), with principal as given (EKS matches a role's
// path exactly). If the Kubernetes step fails, the identity's Kubernetes access is removed, since
// it may be half made or still an older role's: less than intended, never more or other.
func GrantBoth(ctx context.Context, rules Rules, store Store, principal string, role access.Role) error {
	if err := rules.Grant(ctx, principal, role); err != nil {
		return err
	}
	if store == nil || !HasKubeSide(principal) {
		return nil
	}
	err := store.Put(ctx, principal, role)
	if err == nil {
		return nil
	}
	inc := &IncompleteError{Op: "grant", Principal: principal, Role: role, Store: store.Name(), Err: err}
	if _, uerr := store.Delete(ctx, principal); uerr != nil {
		inc.UndoErr = uerr
	} else {
		inc.Removed = true
	}
	return inc
}

// RevokeBoth removes principal's access on both sides, the operator's rule first. ruleFound and
// kubeFound say what it had.
func RevokeBoth(ctx context.Context, rules Rules, store Store, principal string) (ruleFound, kubeFound bool, err error) {
	if ruleFound, err = rules.Revoke(ctx, principal); err != nil {
		return false, false, err
	}
	if store == nil || !HasKubeSide(principal) {
		return ruleFound, false, nil
	}
	if kubeFound, err = store.Delete(ctx, principal); err != nil {
		return ruleFound, false, &IncompleteError{Op: "revoke", Principal: principal, Store: store.Name(), Err: err}
	}
	return ruleFound, kubeFound, nil
}
