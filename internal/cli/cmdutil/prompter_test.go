package cmdutil

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// Every kind of prompt returns at once when the command is interrupted, though nothing was
// typed: before, a prompt kept reading, and the next line typed after Ctrl-C was taken as the
// answer (issue 12, item 4).
func TestPromptsReturnWhenInterrupted(t *testing.T) {
	for name, ask := range map[string]func(context.Context, Prompter) error{
		"confirm":  func(ctx context.Context, p Prompter) error { _, err := p.Confirm(ctx, "sure?"); return err },
		"input":    func(ctx context.Context, p Prompter) error { _, err := p.Input(ctx, "AWS access key id"); return err },
		"password": func(ctx context.Context, p Prompter) error { _, err := p.Password(ctx, "secret"); return err },
		"select": func(ctx context.Context, p Prompter) error {
			_, err := p.Select(ctx, "env", []string{"a", "b"})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, w := io.Pipe() // a user who has not typed anything yet
			defer w.Close()
			ios, _, _, errOut := Test()
			ios.In = r
			p := NewPrompter(ios)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- ask(ctx, p) }()
			cancel() // Ctrl-C: the root command cancels the context on SIGINT
			if err := <-done; !errors.Is(err, ErrInterrupted) {
				t.Fatalf("err = %v, want ErrInterrupted", err)
			}
			_ = errOut
		})
	}
}

func TestPromptAnswers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"y\n", true}, {"YES\n", true}, {"n\n", false}, {"\n", false}, {"yes please\n", false}} {
		ios, in, _, errOut := Test()
		in.WriteString(tc.in)
		got, err := NewPrompter(ios).Confirm(context.Background(), "delete?")
		if err != nil || got != tc.want || !strings.Contains(errOut.String(), "delete? [y/N]") {
			t.Errorf("%q: %v %v %q", tc.in, got, err, errOut)
		}
	}
	ios, in, _, _ := Test()
	in.WriteString("c\nb\n")
	if got, err := NewPrompter(ios).Select(context.Background(), "env", []string{"a", "b"}); err != nil || got != "b" {
		t.Errorf("select: %q %v", got, err)
	}
	ios, _, _, _ = Test()
	if _, err := NewPrompter(ios).Input(context.Background(), "x"); err == nil {
		t.Error("end of input accepted as an answer")
	}
}
