package identity

import (
	"errors"
	"fmt"
)

// Error classes. Every verification error wraps exactly one of them; the operator maps them to
// HTTP statuses (401, 503) and the Code to its error and audit reason.
var (
	// ErrInvalid: the token is malformed, stale, for another cluster, or STS rejected it (401).
	ErrInvalid = errors.New("invalid identity token")
	// ErrUnavailable: STS could not give an answer (throttled, down, garbage); never cached (503).
	ErrUnavailable = errors.New("identity provider unavailable")
)

// Error is a classified verification failure with a stable reason code. The message never
// contains the token or any part of the signature.
type Error struct {
	Class error
	Code  string
	Msg   string
}

func (e *Error) Error() string { return e.Class.Error() + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Class }

func invalid(code, format string, args ...any) error {
	return &Error{Class: ErrInvalid, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func unavailable(code, format string, args ...any) error {
	return &Error{Class: ErrUnavailable, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Code returns the reason code of a verification error ("" if err is not one).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
