package operator

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apikey"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
)

// The API key routes: role deploy or higher for all three (a key opens APIs as a deploy would).
func (s *Server) registerAPIKeyRoutes() {
	s.handle("POST /v1/api-keys", access.RoleDeploy, s.handleCreateAPIKey)
	s.handle("GET /v1/api-keys", access.RoleDeploy, s.handleListAPIKeys)
	s.handle("DELETE /v1/api-keys/{ref}", access.RoleDeploy, s.handleRevokeAPIKey)
}

// The API key routes' wire types (apitypes, shared with the client).
type (
	CreateAPIKeyRequest = apitypes.CreateAPIKeyRequest
	CreatedAPIKey       = apitypes.CreatedAPIKey
	APIKeyList          = apitypes.APIKeyList
)

func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	mgr := s.apisOr501(w)
	if mgr == nil {
		return
	}
	var req CreateAPIKeyRequest
	if !DecodeJSON(w, r, &req) {
		return
	}
	if err := apikey.ValidateName(req.Name); err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "name: %v", err)
		return
	}
	if len(req.APIs) == 0 || len(req.APIs) > apikey.MaxAPIsPerKey {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "apis: name 1 to %d deployed APIs", apikey.MaxAPIsPerKey)
		return
	}
	s.scopeMu.Lock()
	defer s.scopeMu.Unlock()
	for _, a := range req.APIs {
		if _, err := mgr.Get(a); err != nil {
			WriteError(w, http.StatusBadRequest, CodeBadRequest, "apis: %q is not deployed", truncateRunes(a, 64))
			return
		}
	}
	max := int64(apikey.MaxLifetime / time.Second)
	if req.ExpiresInSeconds < 0 || req.ExpiresInSeconds > max {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "expires_in_seconds: must be between 0 (never) and %d", max)
		return
	}
	caller := CallerFrom(r.Context())
	key, info, err := s.keys.Create(apikey.CreateInput{Name: req.Name, APIs: req.APIs, CreatedBy: caller.ARN,
		ExpiresIn: time.Duration(req.ExpiresInSeconds) * time.Second})
	var conflict *apikey.ConflictError
	switch {
	case errors.As(err, &conflict):
		WriteError(w, http.StatusConflict, CodeConflict, "%v", err)
		return
	case err != nil:
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not create the API key")
		s.log.Error("create API key", "error", err.Error())
		return
	}
	s.log.Info("API key created", "key_id", info.ID, "name", info.Name, "apis", info.APIs, "by", caller.ARN)
	WriteJSON(w, http.StatusCreated, CreatedAPIKey{Key: key, APIKey: info})
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, APIKeyList{APIKeys: s.keys.List()})
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	info, err := s.keys.Revoke(ref)
	switch {
	case errors.Is(err, apikey.ErrNotFound):
		WriteError(w, http.StatusNotFound, CodeNotFound, "no API key named or identified %q", truncateRunes(ref, 64))
		return
	case err != nil:
		WriteError(w, http.StatusInternalServerError, CodeInternal, "could not revoke the API key")
		s.log.Error("revoke API key", "error", err.Error())
		return
	}
	s.log.Info("API key revoked", "key_id", info.ID, "name", info.Name, "by", CallerFrom(r.Context()).ARN)
	WriteJSON(w, http.StatusOK, apitypes.RevokedAPIKey{Revoked: info})
}

// flushKeys writes the keys' last-used times every LastUsedResolution until ctx ends, then once
// more: using a key is an in-memory update, never a disk write of its own.
func (s *Server) flushKeys(ctx context.Context) {
	t := time.NewTicker(apikey.LastUsedResolution)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			if err := s.keys.Flush(); err != nil {
				s.log.Error("save API key last-used times", "error", err.Error())
			}
			return
		}
		if err := s.keys.Flush(); err != nil {
			s.log.Error("save API key last-used times", "error", err.Error())
		}
	}
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
