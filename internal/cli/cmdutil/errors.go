package cmdutil

import (
	"errors"
	"fmt"
)

// ExitError carries a specific exit code out of a command (Err may be nil for a silent exit).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return "exit"
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit codes.
const (
	ExitError1      = 1   // the command failed
	ExitUsage       = 2   // the command line is wrong (an unknown flag, a missing argument)
	ExitInterrupted = 130 // Ctrl-C (128 + SIGINT)
)

// UsageError is a mistake in the command line: exit code 2 and a pointer to the command's --help.
type UsageError struct {
	// Command is the command's path ("cortex get"), for the --help hint.
	Command string
	Err     error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Hint is the line printed after a usage error.
func (e *UsageError) Hint() string {
	cmd := e.Command
	if cmd == "" {
		cmd = "cortex"
	}
	return fmt.Sprintf("Run '%s --help' for usage.", cmd)
}

// UsageErrorf returns a usage error of command (its CommandPath).
func UsageErrorf(command, format string, args ...any) error {
	return &UsageError{Command: command, Err: fmt.Errorf(format, args...)}
}

// IsUsageError reports whether err is a usage error.
func IsUsageError(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
