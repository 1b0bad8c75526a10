package root

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
)

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

func tree(t *testing.T) *cobra.Command {
	ios, _, _, _ := cmdutil.Test()
	return NewCmd(&cmdutil.Factory{IO: ios, ConfigDir: func() (string, error) { return t.TempDir(), nil }, Now: time.Now})
}

// Every command's --help shows how it is used (issue 12, item 10).
func TestEveryCommandHasAnExample(t *testing.T) {
	n := 0
	walk(tree(t), func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	})
	if n < 30 {
		t.Fatalf("walked only %d commands", n)
	}
}

// A flag that takes no value must not show one in --help: pflag takes a `backquoted` word of the
// usage as the value's name, so `cluster down --help` showed "--keep-state cluster up".
func TestBoolFlagsShowNoValueInHelp(t *testing.T) {
	walk(tree(t), func(c *cobra.Command) {
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			if fl.Value.Type() != "bool" {
				return
			}
			if name, _ := pflag.UnquoteUsage(fl); name != "" {
				t.Errorf("%s --%s shows a value %q in --help", c.CommandPath(), fl.Name, name)
			}
		})
	})
	c := newCLI(t)
	r := c.run("", "cluster", "down", "--help")
	if r.code != 0 || !strings.Contains(r.out, "--keep-state ") || strings.Contains(r.out, "--keep-state cluster up") {
		t.Fatalf("cluster down --help:\n%s", r)
	}
}

// Usage errors exit 2 and point to the command's --help; other failures exit 1 (item 10).
func TestUsageErrorsExit2AndPointToHelp(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"get", "a", "b"}, "cortex get --help"},
		{[]string{"deploy", "--bogus"}, "cortex deploy --help"},
		{[]string{"bogus"}, "cortex --help"},
		{[]string{"get", "-o", "xml"}, "cortex get --help"},
		{[]string{"env", "default"}, "cortex env default --help"},
		{[]string{"cluster", "access", "grant", "arn:aws:iam::123456789012:user/x"}, "cortex cluster access grant --help"},
		{[]string{"logs"}, "cortex logs --help"},
		{[]string{"get", "--interval", "0s"}, "cortex get --help"},
		{[]string{"cluster", "up", "--provider", "local", "extra"}, "--help"},
	} {
		r := c.run("", tc.args...)
		if r.code != 2 || !strings.Contains(r.err, "Run '"+tc.hint) && !strings.Contains(r.err, tc.hint) {
			t.Errorf("%v: want exit 2 and a pointer to %q, got\n%s", tc.args, tc.hint, r)
		}
	}
	// Not a usage error: a command that ran and failed.
	if r := c.run("", "get"); r.code != 1 {
		t.Errorf("get without environments: want exit 1, got\n%s", r)
	}
}

// First-run errors name the two ways to get an environment (item 10).
func TestFirstRunHintsNameClusterUpAndEnvConfigure(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"get"}, {"whoami"}, {"-e", "prod", "get"}, {"deploy", "--no-wait", filepath.Join(echoProject(t), "cortex.yaml")}} {
		r := c.run("", args...)
		if r.code != 1 || !strings.Contains(r.err, "cortex cluster up") || !strings.Contains(r.err, "cortex env configure") {
			t.Errorf("%v:\n%s", args, r)
		}
	}
}

// -e NAME is a global flag: the local provider's cluster commands accept it (item 2).
func TestLocalProviderAcceptsTheEnvFlag(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"cluster", "down", "-e", "dev"},
		{"cluster", "down", "--env", "dev", "--provider", "local"},
		{"-e", "dev", "cluster", "info"},
	} { // cluster up -e: test/e2e TestLocalClusterCommandsTakeTheEnvFlag, with a real cluster

		r := c.run("", args...)
		if strings.Contains(r.err, "not valid with") {
			t.Errorf("%v refused -e:\n%s", args, r)
		}
	}
	if r := c.run("", "cluster", "down", "-e", "dev"); r.code != 0 || !strings.Contains(r.out, "not running") {
		t.Errorf("cluster down -e dev:\n%s", r)
	}
	// A flag of the other provider is still refused.
	if r := c.run("", "cluster", "down", "-e", "dev", "--keep-aws-resources"); r.code == 0 || !strings.Contains(r.err, "--keep-aws-resources not valid with --provider local") {
		t.Errorf("foreign flag:\n%s", r)
	}
}

// `cluster info` without a cluster says so and fails (item 10).
func TestClusterInfoWithoutAClusterFails(t *testing.T) {
	c := newCLI(t)
	for _, tty := range []bool{false, true} {
		c.tty = tty
		r := c.run("", "cluster", "info")
		if r.code != 1 || !strings.Contains(r.err, "there is no local cluster") || !strings.Contains(r.err, "cortex cluster up") {
			t.Errorf("tty %v:\n%s", tty, r)
		}
	}
}

// With no default environment, commands never guess another one: not even the only one left
// (the default was removed by `cluster down`). On a terminal they ask; otherwise they fail and
// name -e and `cortex env default` (item 3).
func TestNoDefaultEnvironmentIsNeverGuessed(t *testing.T) {
	c := newCLI(t)
	c.localOperator("prod")
	c.setDefault("")
	r := c.run("", "whoami")
	if r.code != 1 || !strings.Contains(r.err, "no default environment") || !strings.Contains(r.err, "-e NAME") || !strings.Contains(r.err, "cortex env default") {
		t.Fatalf("one environment, no default, no terminal:\n%s", r)
	}
	if strings.Contains(r.out, "prod") {
		t.Fatalf("answered from prod without being asked to:\n%s", r)
	}
	c.localOperator("staging")
	c.setDefault("")
	if r := c.run("", "get"); r.code != 1 || !strings.Contains(r.err, "prod, staging") {
		t.Fatalf("two environments, no default:\n%s", r)
	}
	// On a terminal the user is asked; an answer that is not an environment asks again.
	c.tty = true
	r = c.run("nope\nstaging\n", "whoami", "-o", "json")
	if r.code != 0 || !strings.Contains(r.err, "environment to use (prod, staging)") || !strings.Contains(r.err, `"nope" is not one of them`) || !strings.Contains(r.out, `"environment": "staging"`) {
		t.Fatalf("terminal choice:\n%s", r)
	}
	// -e and CORTEX_ENV still choose without asking.
	if r := c.run("", "-e", "prod", "whoami", "-o", "json"); r.code != 0 || !strings.Contains(r.out, `"environment": "prod"`) {
		t.Fatalf("-e prod:\n%s", r)
	}
}

// `cortex version` shows the operator's version when the environment answers, and why not when
// it does not; it succeeds either way (item 10).
func TestVersionShowsTheOperatorsVersion(t *testing.T) {
	c := newCLI(t)
	if r := c.run("", "version"); r.code != 0 || !strings.Contains(r.out, "cortex ") || !strings.Contains(r.out, "operator: unknown (no environment is configured") {
		t.Fatalf("no environment:\n%s", r)
	}
	op := c.localOperator("local")
	r := c.run("", "version")
	if r.code != 0 || !strings.Contains(r.out, "\noperator ") || !strings.Contains(r.out, "(environment local, "+op.URL) {
		t.Fatalf("reachable:\n%s", r)
	}
	if r := c.run("", "version", "-o", "json"); r.code != 0 || !strings.Contains(r.out, `"operator": {`) || !strings.Contains(r.out, `"environment": "local"`) {
		t.Fatalf("json:\n%s", r)
	}
	op.Stop()
	if r := c.run("", "version"); r.code != 0 || !strings.Contains(r.out, "cannot be reached") {
		t.Fatalf("unreachable:\n%s", r)
	}
}

// The commands of an API's life against a real operator, on a terminal and not: deploy DIR,
// get, call (output ends with a newline), logs, delete (asks on a terminal, needs --yes
// otherwise).
func TestAPICommandsOnATerminalAndNot(t *testing.T) {
	c := newCLI(t)
	c.localOperator("local")
	proj := echoProject(t)
	for _, tty := range []bool{false, true} {
		c.tty = tty
		name := map[bool]string{false: "pipe", true: "terminal"}[tty]
		t.Run(name, func(t *testing.T) {
			// deploy DIR reads DIR/cortex.yaml, like the Python client (item 10).
			r := c.run("", "deploy", proj, "--timeout", "2m")
			if r.code != 0 || !strings.Contains(r.out, "api echo is live at") {
				t.Fatalf("deploy DIR:\n%s", r)
			}
			if tty != strings.Contains(r.out, "\r\033[K") {
				t.Errorf("deploy progress: terminal %v but escapes %v:\n%q", tty, !tty, r.out)
			}
			if r := c.run("", "get"); r.code != 0 || !strings.Contains(r.out, "echo") || !strings.Contains(r.out, "live") {
				t.Fatalf("get:\n%s", r)
			}
			if r := c.run("", "get", "nope"); r.code != 1 || !strings.Contains(r.err, "not_found") {
				t.Fatalf("get nope:\n%s", r)
			}
			r = c.run("", "call", "echo", `{"x": 1}`)
			if r.code != 0 || !strings.HasSuffix(r.out, "}\n") || strings.HasSuffix(r.out, "\n\n") {
				t.Fatalf("call output must end with exactly one newline: %q\n%s", r.out, r)
			}
			if r := c.run("", "call", "echo", `{"x": `); r.code != 1 || !strings.Contains(r.err, "not valid JSON") {
				t.Fatalf("call bad JSON:\n%s", r)
			}
			if r := c.run("", "call", "echo", "--path", "health"); r.code != 2 {
				t.Fatalf("call --path without /:\n%s", r)
			}
			if r := c.run("", "logs", "echo"); r.code != 0 || !strings.Contains(r.out, "[echo-") {
				t.Fatalf("logs:\n%s", r)
			}
			// delete: refused without a terminal unless --yes; on a terminal, asks.
			if !tty {
				r := c.run("", "delete", "echo")
				if r.code != 1 || !strings.Contains(r.err, "pass --yes") {
					t.Fatalf("delete without terminal or --yes:\n%s", r)
				}
			} else {
				r := c.run("n\n", "delete", "echo")
				if r.code != 1 || !strings.Contains(r.err, "delete api echo from environment local") || !strings.Contains(r.err, "nothing deleted") {
					t.Fatalf("delete answered n:\n%s", r)
				}
			}
			if r := c.run("", "get", "echo"); r.code != 0 {
				t.Fatalf("echo was deleted without confirmation:\n%s", r)
			}
			if tty {
				r = c.run("y\n", "delete", "echo")
			} else {
				r = c.run("", "delete", "echo", "--yes")
			}
			if r.code != 0 || !strings.Contains(r.out, "deleted api echo") {
				t.Fatalf("delete:\n%s", r)
			}
			if r := c.run("", "get"); !strings.Contains(r.out, "no APIs are deployed") {
				t.Fatalf("get after delete:\n%s", r)
			}
		})
	}
}

// `get --watch` keeps going through a brief loss of the operator (a restart, a network blip): it
// says so and shows the APIs again when the operator answers (item 10). The connection errors
// come through the factory's transport seam.
func TestGetWatchSurvivesConnectionErrors(t *testing.T) {
	c := newCLI(t)
	c.localOperator("local")
	for _, tty := range []bool{false, true} {
		c.tty = tty
		var calls atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		c.transport = func(base http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				n := calls.Add(1)
				switch {
				case n == 2 || n == 3:
					return nil, errors.New("connection refused (injected)")
				case n >= 5:
					defer cancel()
				}
				return base.RoundTrip(req)
			})
		}
		r := c.runCtx(ctx, "", "get", "--watch", "--interval", "10ms")
		cancel()
		// On a terminal the view is redrawn at every refresh; piped, it is printed when it changes
		// and the recovery is said on stderr.
		again := strings.Count(r.out, "no APIs are deployed") >= 2
		if !tty {
			again = strings.Contains(r.out, "no APIs are deployed") && strings.Contains(r.err, "connected again")
		}
		if r.code != 0 || !again || calls.Load() < 5 || !strings.Contains(r.err, "cannot reach the operator") || !strings.Contains(r.err, "retrying") {
			t.Fatalf("tty %v:\n%s", tty, r)
		}
	}
	c.transport = nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Completion of API names, environment names and fixed flag values, as cobra's __complete
// (which every shell's script calls) answers them (item 6).
func TestCompletion(t *testing.T) {
	c := newCLI(t)
	c.localOperator("local")
	c.addEnv(cliconfig.Environment{Name: "prod", OperatorEndpoint: "https://127.0.0.1:1", Auth: cliconfig.AuthAWS})
	proj := echoProject(t)
	c.must("deploy", proj, "--no-wait")
	two := filepath.Join(t.TempDir(), "two")
	if err := os.MkdirAll(two, 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(proj, "cortex.yaml"))
	_ = os.WriteFile(filepath.Join(two, "cortex.yaml"), []byte(strings.Replace(string(data), "name: echo", "name: echo-two", 1)), 0o600)
	_ = os.WriteFile(filepath.Join(two, "handler.py"), mustRead(t, filepath.Join(proj, "handler.py")), 0o600)
	c.must("deploy", two, "--no-wait")
	for _, tc := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"get", ""}, []string{"echo", "echo-two"}, nil},
		{[]string{"logs", "echo-"}, []string{"echo-two"}, []string{"echo\n"}},
		{[]string{"call", ""}, []string{"echo", "echo-two"}, nil},
		{[]string{"call", "echo", ""}, nil, []string{"echo"}},
		{[]string{"delete", "echo", ""}, []string{"echo-two"}, []string{"echo\n"}},
		{[]string{"restart", ""}, []string{"echo", "echo-two"}, nil},
		{[]string{"-e", ""}, []string{"local", "prod"}, nil},
		{[]string{"get", "--env", "p"}, []string{"prod"}, []string{"local"}},
		{[]string{"env", "default", ""}, []string{"local", "prod"}, nil},
		{[]string{"env", "delete", "l"}, []string{"local"}, []string{"prod"}},
		{[]string{"cluster", "policy", "--type", ""}, []string{"management", "operator", "default"}, nil},
		{[]string{"cluster", "access", "grant", "x", "--role", ""}, []string{"read", "deploy", "admin"}, nil},
		{[]string{"cluster", "up", "--provider", ""}, []string{"aws", "local"}, nil},
		{[]string{"cluster", "up", "--auth", ""}, []string{"local", "iam"}, nil},
		{[]string{"get", "-o", ""}, []string{"table", "json", "yaml"}, nil},
		// An environment that cannot be reached completes nothing, and quickly.
		{[]string{"-e", "prod", "get", ""}, nil, []string{"echo"}},
	} {
		r := c.run("", append([]string{cobra.ShellCompRequestCmd}, tc.args...)...)
		lines := strings.Split(r.out, "\n")
		if r.code != 0 || len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], ":") {
			t.Errorf("%v: %s", tc.args, r)
			continue
		}
		got := "\n" + strings.Join(lines[:len(lines)-2], "\n") + "\n"
		for _, w := range tc.want {
			if !strings.Contains(got, "\n"+w+"\n") {
				t.Errorf("%v: %q not offered: %q", tc.args, w, got)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, "\n"+n) {
				t.Errorf("%v: %q offered: %q", tc.args, n, got)
			}
		}
		// No file names where a name is expected (directive 4: ShellCompDirectiveNoFileComp).
		if d := lines[len(lines)-2]; d != ":4" {
			t.Errorf("%v: directive %s, want :4 (no file completion)", tc.args, d)
		}
	}
	// Each shell's script asks __complete, so the answers above are what bash, zsh and fish show.
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := c.run("", "completion", sh)
		if r.code != 0 || !strings.Contains(r.out, cobra.ShellCompRequestCmd) {
			t.Errorf("completion %s does not call %s:\n%s", sh, cobra.ShellCompRequestCmd, r.out[:min(len(r.out), 300)])
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
