package operator

import (
	"net/http"
	"slices"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
)

// AccessList is GET /v1/access.
type AccessList struct {
	Mode        string        `json:"mode"`
	AccountID   string        `json:"account_id,omitempty"`
	AccountRole string        `json:"account_role,omitempty"`
	CreatorARN  string        `json:"creator_arn,omitempty"`
	Rules       []access.Rule `json:"rules"`
}

func (s *Server) handleAccessList(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := AccessList{Mode: string(s.policy.Mode), AccountID: s.policy.AccountID, CreatorARN: s.policy.CreatorARN,
		Rules: append([]access.Rule{}, s.policy.Rules...)}
	if s.policy.Mode == access.ModeAccount {
		list.AccountRole = string(s.policy.AccountRole)
	}
	WriteJSON(w, http.StatusOK, list)
}

// grantRequest is PUT /v1/access.
type grantRequest struct {
	Principal string      `json:"principal"`
	Role      access.Role `json:"role"`
}

func (s *Server) handleAccessGrant(w http.ResponseWriter, r *http.Request) {
	var req grantRequest
	if !DecodeJSON(w, r, &req) {
		return
	}
	rule := access.Rule{Principal: req.Principal, Role: req.Role}
	if err := rule.Validate(); err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
		return
	}
	if rule.Principal == s.cluster.CreatorARN {
		WriteError(w, http.StatusConflict, CodeConflict, "%s created the cluster and is always admin", rule.Principal)
		return
	}
	rule.GrantedBy = CallerFrom(r.Context()).ARN
	rule.GrantedAt = s.now().UTC().Format(time.RFC3339)
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := slices.DeleteFunc(append([]access.Rule{}, s.policy.Rules...), func(x access.Rule) bool { return x.Principal == rule.Principal })
	rules = append(rules, rule)
	slices.SortFunc(rules, func(a, b access.Rule) int {
		if a.Principal < b.Principal {
			return -1
		}
		return 1
	})
	if err := s.state.write("access.json", accessFile{Rules: rules}); err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not save the access rules")
		s.log.Error("save access rules", "error", err.Error())
		return
	}
	s.policy.Rules = rules
	s.log.Info("access granted", "principal", rule.Principal, "role", string(rule.Role), "by", rule.GrantedBy)
	WriteJSON(w, http.StatusOK, rule)
}

func (s *Server) handleAccessRevoke(w http.ResponseWriter, r *http.Request) {
	principal, err := access.NormalizePrincipal(r.URL.Query().Get("principal"))
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "principal: %v", err)
		return
	}
	if principal == s.cluster.CreatorARN {
		WriteError(w, http.StatusConflict, CodeConflict, "%s created the cluster and is always admin", principal)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := slices.DeleteFunc(append([]access.Rule{}, s.policy.Rules...), func(x access.Rule) bool { return x.Principal == principal })
	if len(rules) == len(s.policy.Rules) {
		WriteError(w, http.StatusNotFound, CodeNotFound, "no access rule for %s", principal)
		return
	}
	if err := s.state.write("access.json", accessFile{Rules: rules}); err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not save the access rules")
		s.log.Error("save access rules", "error", err.Error())
		return
	}
	s.policy.Rules = rules
	s.log.Info("access revoked", "principal", principal, "by", CallerFrom(r.Context()).ARN)
	WriteJSON(w, http.StatusOK, map[string]string{"revoked": principal})
}
