package cmdutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/term"
)

// Prompter asks the user questions on the terminal. Every prompt of the CLI goes through it, so
// that all of them honour Ctrl-C: an interrupt (the command's context cancelled by SIGINT) ends
// the prompt at once with ErrInterrupted, whatever the user had typed.
type Prompter interface {
	// Confirm asks a yes/no question; only y or yes is a yes.
	Confirm(ctx context.Context, question string) (bool, error)
	// Input asks for one line of text.
	Input(ctx context.Context, label string) (string, error)
	// Password asks for a secret without echoing it.
	Password(ctx context.Context, label string) (string, error)
	// Select asks for one of options by name; an empty answer or one not among them asks again.
	Select(ctx context.Context, question string, options []string) (string, error)
}

// ErrInterrupted is what a prompt returns when the command is interrupted.
var ErrInterrupted = errors.New("interrupted")

// NewPrompter returns the prompter of ios: questions on ErrOut, answers from In.
func NewPrompter(ios *IOStreams) Prompter {
	return &streamPrompter{ios: ios, in: bufio.NewReader(ios.In)}
}

type streamPrompter struct {
	ios *IOStreams
	in  *bufio.Reader // one reader for every prompt, so nothing read ahead is lost
}

type lineResult struct {
	line string
	err  error
}

// readLine reads a line in the background and waits for it or for the context: a read of a
// terminal cannot be cancelled, but the command need not wait for it.
func (p *streamPrompter) readLine(ctx context.Context, read func() (string, error)) (string, error) {
	if ctx.Err() != nil {
		return "", ErrInterrupted
	}
	ch := make(chan lineResult, 1)
	go func() {
		line, err := read()
		ch <- lineResult{line, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(p.ios.ErrOut)
		return "", ErrInterrupted
	case r := <-ch:
		if r.err != nil && !(errors.Is(r.err, io.EOF) && r.line != "") {
			if errors.Is(r.err, io.EOF) {
				return "", errors.New("no answer (end of input)")
			}
			return "", r.err
		}
		return strings.TrimSpace(r.line), nil
	}
}

func (p *streamPrompter) line(ctx context.Context) (string, error) {
	return p.readLine(ctx, func() (string, error) { return p.in.ReadString('\n') })
}

func (p *streamPrompter) Confirm(ctx context.Context, question string) (bool, error) {
	fmt.Fprintf(p.ios.ErrOut, "%s [y/N] ", question)
	a, err := p.line(ctx)
	if err != nil {
		return false, err
	}
	a = strings.ToLower(a)
	return a == "y" || a == "yes", nil
}

func (p *streamPrompter) Input(ctx context.Context, label string) (string, error) {
	fmt.Fprintf(p.ios.ErrOut, "%s: ", label)
	return p.line(ctx)
}

func (p *streamPrompter) Password(ctx context.Context, label string) (string, error) {
	fmt.Fprintf(p.ios.ErrOut, "%s: ", label)
	fd, ok := p.ios.In.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(fd.Fd())) {
		return p.line(ctx)
	}
	// term.ReadPassword turns echo off until it returns; an interrupt returns first, so the
	// terminal's state is restored here, or the user's shell would be left without echo.
	state, err := term.GetState(int(fd.Fd()))
	if err != nil {
		return "", err
	}
	s, err := p.readLine(ctx, func() (string, error) {
		b, err := term.ReadPassword(int(fd.Fd()))
		return string(b), err
	})
	if errors.Is(err, ErrInterrupted) {
		_ = term.Restore(int(fd.Fd()), state)
	} else {
		fmt.Fprintln(p.ios.ErrOut)
	}
	return s, err
}

func (p *streamPrompter) Select(ctx context.Context, question string, options []string) (string, error) {
	for {
		fmt.Fprintf(p.ios.ErrOut, "%s (%s): ", question, strings.Join(options, ", "))
		a, err := p.line(ctx)
		if err != nil {
			return "", err
		}
		if slices.Contains(options, a) {
			return a, nil
		}
		fmt.Fprintf(p.ios.ErrOut, "%q is not one of them\n", a)
	}
}
