package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// AccessRules are the operator's access rules through its API, in the form kubeaccess.Rules
// takes them (the operator's side of `cortex cluster access` and of cluster.yaml's access).
type AccessRules struct{ Client *Client }

// Grant is PUT /v1/access.
func (r AccessRules) Grant(ctx context.Context, principal string, role access.Role) error {
	_, err := r.Client.Grant(ctx, principal, string(role))
	return err
}

// Revoke is DELETE /v1/access; a principal without a rule (404) is found=false, not an error.
func (r AccessRules) Revoke(ctx context.Context, principal string) (bool, error) {
	err := r.Client.Revoke(ctx, principal)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// List is the operator's rules by principal (GET /v1/access).
func (r AccessRules) List(ctx context.Context) (map[string]access.Role, error) {
	l, err := r.Client.AccessList(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]access.Role{}
	for _, rule := range l.Rules {
		out[rule.Principal] = access.Role(rule.Role)
	}
	return out, nil
}
