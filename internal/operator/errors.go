package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
)

// Error codes of the API's JSON errors ({"error": {"code", "message"}}); see apitypes.
const (
	CodeUnauthenticated = apitypes.CodeUnauthenticated // 401
	CodeForbidden       = apitypes.CodeForbidden       // 403
	CodeRateLimited     = apitypes.CodeRateLimited     // 429
	CodeIDPUnavailable  = apitypes.CodeIDPUnavailable  // 503
	CodeBadRequest      = apitypes.CodeBadRequest      // 400
	CodeNotFound        = apitypes.CodeNotFound        // 404
	CodeConflict        = apitypes.CodeConflict        // 409
	CodeTooLarge        = apitypes.CodeTooLarge        // 413
	CodeInternal        = apitypes.CodeInternal        // 500
)

// WriteError writes the API's JSON error.
func WriteError(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apitypes.ErrorBody{Error: apitypes.ErrorDetail{Code: code, Message: fmt.Sprintf(format, args...)}})
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// maxJSONBody bounds request bodies of the JSON endpoints.
const maxJSONBody = 1 << 20

// DecodeJSON reads one JSON object from the request strictly (unknown fields are errors) and
// writes the 400/413 itself when it fails.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeJSONLimit(w, r, v, maxJSONBody)
}

// decodeJSONLimit is DecodeJSON with another bound on the body.
func decodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, maxJSONBody int64) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is larger than %d bytes", maxJSONBody)
		} else {
			WriteError(w, http.StatusBadRequest, CodeBadRequest, "invalid JSON body: %v", err)
		}
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "invalid JSON body: data after the object")
		return false
	}
	return true
}
