// Package cmdutil holds what every CLI command shares: I/O streams with their terminal state, the
// prompter, the output format flag, usage errors, and the factory that loads configuration and
// builds operator clients.
package cmdutil

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the command's standard streams and whether each is a terminal. Commands ask
// IsStdoutTTY and friends, never os.Stdout; tests swap in buffers and set the answers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY, stdoutTTY, stderrTTY *bool // nil: ask the file descriptor
}

// System returns the process's streams.
func System() *IOStreams { return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }

// Test returns streams of buffers (none of them a terminal until a setter says so).
func Test() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsStdinTTY reports whether standard input is an interactive terminal (prompts need one).
func (s *IOStreams) IsStdinTTY() bool { return decide(s.stdinTTY, s.In) }

// IsStdoutTTY reports whether standard output is a terminal (progress lines, escapes).
func (s *IOStreams) IsStdoutTTY() bool { return decide(s.stdoutTTY, s.Out) }

// IsStderrTTY reports whether standard error is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return decide(s.stderrTTY, s.ErrOut) }

// SetStdinTTY overrides the answer of IsStdinTTY (tests).
func (s *IOStreams) SetStdinTTY(v bool) { s.stdinTTY = &v }

// SetStdoutTTY overrides the answer of IsStdoutTTY (tests).
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = &v }

// SetStderrTTY overrides the answer of IsStderrTTY (tests).
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = &v }

// CanPrompt reports whether questions can be asked: standard input is a terminal.
func (s *IOStreams) CanPrompt() bool { return s.IsStdinTTY() }

func decide(override *bool, stream any) bool {
	if override != nil {
		return *override
	}
	f, ok := stream.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
