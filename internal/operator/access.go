package operator

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// AccessList is GET /v1/access (its wire type lives in apitypes, shared with the client).
type AccessList = apitypes.AccessList

func (s *Server) handleAccessList(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := AccessList{Mode: string(s.policy.Mode), AccountID: s.policy.AccountID, CreatorARN: s.policy.CreatorARN,
		CreatorUniqueID: s.policy.CreatorUniqueID, Rules: []apitypes.AccessRule{}}
	for _, r := range s.policy.Rules {
		list.Rules = append(list.Rules, apitypes.AccessRule{Principal: r.Principal, Role: string(r.Role),
			GrantedBy: r.GrantedBy, GrantedAt: r.GrantedAt, UniqueID: r.UniqueID, BoundAt: r.BoundAt})
	}
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
		if rule.Role == access.RoleAdmin {
			s.regrantCreator(w, r)
			return
		}
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
	if err := s.state.write(statestore.DocAccess, accessFile{Rules: rules}); err != nil {
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
	if err := s.state.write(statestore.DocAccess, accessFile{Rules: rules}); err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not save the access rules")
		s.log.Error("save access rules", "error", err.Error())
		return
	}
	s.policy.Rules = rules
	s.log.Info("access revoked", "principal", principal, "by", CallerFrom(r.Context()).ARN)
	WriteJSON(w, http.StatusOK, map[string]string{"revoked": principal})
}

// regrantCreator is an admin granting admin to the creator: it clears the creator's unique-id
// binding, so that a creator that was deleted and re-created binds anew on its next request.
func (s *Server) regrantCreator(w http.ResponseWriter, r *http.Request) {
	by := CallerFrom(r.Context()).ARN
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.saveCreatorBinding(""); err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not save the cluster record")
		s.log.Error("save cluster record", "error", err.Error())
		return
	}
	s.log.Info("access granted", "principal", s.policy.CreatorARN, "role", string(access.RoleAdmin), "by", by, "creator_binding", "cleared")
	WriteJSON(w, http.StatusOK, access.Rule{Principal: s.policy.CreatorARN, Role: access.RoleAdmin, GrantedBy: by,
		GrantedAt: s.now().UTC().Format(time.RFC3339)})
}

// saveCreatorBinding persists the creator's unique id (empty: unbound) in cluster.json, then
// applies it. Callers hold s.mu.
func (s *Server) saveCreatorBinding(uid string) error {
	rec := s.cluster
	rec.CreatorUniqueID = uid
	if err := s.state.write(statestore.DocCluster, rec); err != nil {
		return err
	}
	s.policy.CreatorUniqueID = uid
	return nil
}

// bind records uid as the unique id of the per-principal grant that admits canonical (the
// creator, or the rule naming it), persists it, and returns the decision that then holds. It
// decides again under the write lock: a concurrent bind, grant or revoke may have come first.
func (s *Server) bind(canonical, account, uid string) (access.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.policy.Decide(canonical, account, uid)
	if !d.Bind {
		return d, nil
	}
	if uid == "" {
		return access.Decision{}, errors.New("STS returned no unique id")
	}
	now := s.now().UTC().Format(time.RFC3339)
	if d.Reason == "creator" {
		if err := s.saveCreatorBinding(uid); err != nil {
			return access.Decision{}, err
		}
	} else {
		rules := append([]access.Rule{}, s.policy.Rules...)
		for i := range rules {
			if rules[i].Principal == canonical {
				rules[i].UniqueID, rules[i].BoundAt = uid, now
			}
		}
		if err := s.state.write(statestore.DocAccess, accessFile{Rules: rules}); err != nil {
			return access.Decision{}, err
		}
		s.policy.Rules = rules
	}
	s.log.Info("principal bound to its unique id", "principal", canonical, "unique_id", uid, "grant", d.Reason)
	d.Bind = false
	return d, nil
}
