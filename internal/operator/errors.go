package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error codes of the API's JSON errors ({"error": {"code", "message"}}).
const (
	CodeUnauthenticated = "unauthenticated"      // 401
	CodeForbidden       = "forbidden"            // 403
	CodeRateLimited     = "rate_limited"         // 429
	CodeIDPUnavailable  = "identity_unavailable" // 503
	CodeBadRequest      = "bad_request"          // 400
	CodeNotFound        = "not_found"            // 404
	CodeConflict        = "conflict"             // 409
	CodeTooLarge        = "too_large"            // 413
	CodeInternal        = "internal"             // 500
)

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes the API's JSON error.
func WriteError(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]apiError{"error": {Code: code, Message: fmt.Sprintf(format, args...)}})
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
