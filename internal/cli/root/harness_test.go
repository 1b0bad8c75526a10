package root

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/opserver"
	"github.com/cortexlabs-go/cortex/internal/testutil/pyruntime"
)

// cli runs commands in-process through Run, as main does, with buffers for streams and a
// terminal (or not) as the test says.
type cli struct {
	t         *testing.T
	configDir string
	tty       bool // stdin, stdout and stderr are terminals
	transport func(http.RoundTripper) http.RoundTripper
}

type result struct {
	out, err string
	code     int
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	isolateAWS(t)
	return &cli{t: t, configDir: filepath.Join(t.TempDir(), "cortex")}
}

// run runs args with stdin (typed answers, on a terminal) and returns what the command printed
// and its exit code.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	return c.runCtx(context.Background(), stdin, args...)
}

func (c *cli) runCtx(ctx context.Context, stdin string, args ...string) result {
	c.t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	ios.SetStdinTTY(c.tty)
	ios.SetStdoutTTY(c.tty)
	ios.SetStderrTTY(c.tty)
	f := &cmdutil.Factory{IO: ios, Prompter: cmdutil.NewPrompter(ios), Now: time.Now, Transport: c.transport,
		ConfigDir: func() (string, error) { return c.configDir, nil }, Getenv: func(string) string { return "" }}
	code := Run(ctx, f, args)
	return result{out: out.String(), err: errOut.String(), code: code}
}

// must runs args and fails the test unless they succeed.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != 0 {
		c.t.Fatalf("cortex %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// localOperator starts a real operator in-process with the local provider (APIs run as python
// processes) and the local admin credential, and configures it as environment name.
func (c *cli) localOperator(name string) *opserver.Operator {
	c.t.Helper()
	state := c.t.TempDir()
	tokenFile := filepath.Join(state, "admin.token")
	cfg := operator.Config{StateDir: filepath.Join(state, "state"), Provider: "local", LocalTokenFile: tokenFile,
		STSTestEndpoint: "http://127.0.0.1:1", AccountID: "123456789012"}
	cfg.APIs.GatewayListen = "127.0.0.1:0"
	cfg.APIs.Python = pyruntime.Python(c.t)
	op := opserver.Start(c.t, cfg)
	c.addEnv(cliconfig.Environment{Name: name, Provider: "local", OperatorEndpoint: op.URL, CACert: string(op.CAPEM()),
		Auth: cliconfig.AuthLocal, LocalTokenFile: tokenFile, ClusterID: op.Cluster().ID})
	return op
}

func (c *cli) addEnv(e cliconfig.Environment) {
	c.t.Helper()
	cfg, err := cliconfig.Load(c.configDir)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Put(e)
	if err := cfg.Save(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cli) setDefault(name string) {
	c.t.Helper()
	cfg, err := cliconfig.Load(c.configDir)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.DefaultEnvironment = name
	if err := cfg.Save(); err != nil {
		c.t.Fatal(err)
	}
}

// echoProject writes a copy of examples/echo into a temp dir and returns the directory.
func echoProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"cortex.yaml", "handler.py"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "echo", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.out + "stderr:\n" + r.err
}
