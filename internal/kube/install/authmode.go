package install

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// The operator's flags of its authorization mode (operatorcmd; internal/access).
const (
	authModeArg    = "--auth-mode="
	accountRoleArg = "--account-role="
)

// Auth is the operator's authorization mode: Mode account (every identity of the cluster's
// account gets AccountRole) or rules (only the creator and the principals of access rules). Empty
// fields are the operator's defaults (account, deploy) and pass no argument, so an install that
// never chose a mode keeps the Deployment it had.
type Auth struct {
	Mode        string
	AccountRole string
}

// Validate refuses a mode or role the operator does not know, and an account role the install
// does not offer (access.ParseAccountRole: not admin). An account role with mode rules would do
// nothing: refused too.
func (a Auth) Validate() error {
	if a.Mode != "" {
		if _, err := access.ParseMode(a.Mode); err != nil {
			return err
		}
	}
	if a.AccountRole == "" {
		return nil
	}
	if _, err := access.ParseAccountRole(a.AccountRole); err != nil {
		return fmt.Errorf("account role: %w", err)
	}
	if a.Mode == string(access.ModeRules) {
		return errors.New("an account role applies only in auth mode account (rules admits only the principals of access rules)")
	}
	return nil
}

// Effective is the mode and role the operator runs with (the defaults filled in).
func (a Auth) Effective() Auth {
	if a.Mode == "" {
		a.Mode = string(access.ModeAccount)
	}
	if a.AccountRole == "" && a.Mode == string(access.ModeAccount) {
		a.AccountRole = string(access.RoleDeploy)
	}
	return a
}

// String is the effective mode as users read it: "account (every identity of the account:
// deploy)" or "rules".
func (a Auth) String() string {
	e := a.Effective()
	if e.Mode == string(access.ModeAccount) {
		return e.Mode + " (every identity of the account: " + e.AccountRole + ")"
	}
	return e.Mode
}

// Args are the operator's arguments for a (none for the defaults).
func (a Auth) Args() []string {
	var args []string
	if a.Mode != "" {
		args = append(args, authModeArg+a.Mode)
	}
	if a.AccountRole != "" {
		args = append(args, accountRoleArg+a.AccountRole)
	}
	return args
}

func isAuthArg(arg string) bool {
	return strings.HasPrefix(arg, authModeArg) || strings.HasPrefix(arg, accountRoleArg)
}

// isAfterAuthArg is an argument Build puts after the auth arguments.
func isAfterAuthArg(arg string) bool {
	for _, p := range []string{"--sts-test-endpoint=", "--public-endpoint=", "--apis-gateway="} {
		if strings.HasPrefix(arg, p) {
			return true
		}
	}
	return false
}

// AuthOfArgs reads the mode an operator's arguments give (empty fields: the defaults).
func AuthOfArgs(args []string) Auth {
	var a Auth
	for _, arg := range args {
		if v, ok := strings.CutPrefix(arg, authModeArg); ok {
			a.Mode = v
		}
		if v, ok := strings.CutPrefix(arg, accountRoleArg); ok {
			a.AccountRole = v
		}
	}
	return a
}

// AuthOf reads the mode of an installed operator from its Deployment's arguments.
func AuthOf(d *appsv1.Deployment) Auth {
	for _, ct := range d.Spec.Template.Spec.Containers {
		if ct.Name == operatorContainer {
			return AuthOfArgs(ct.Args)
		}
	}
	return Auth{}
}

// SetAuth changes the authorization mode of the installed operator (cluster configure) as
// SetAPIIAM changes its allowlist: only the auth arguments of its Deployment, updated over the
// resourceVersion read. It returns whether the Deployment changed; the caller waits for the
// rollout (WaitAvailable).
func SetAuth(ctx context.Context, c kubernetes.Interface, namespace string, a Auth) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	// The new flags go where the old ones were (or where Build puts them: after --creator-arn).
	return setOperatorArgs(ctx, c, namespace, isAuthArg, isAfterAuthArg, a.Args())
}
