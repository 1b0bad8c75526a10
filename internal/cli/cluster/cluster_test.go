package cluster

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func TestMergeProvidersDispatchesAndRefusesForeignFlags(t *testing.T) {
	var ran, name string
	mk := func(p string) *cobra.Command {
		c := &cobra.Command{Use: "up", RunE: func(*cobra.Command, []string) error { ran = p; return nil }}
		c.Flags().StringVar(&name, "name", "", "shared")
		if p == "aws" {
			c.Flags().StringP("config", "c", "", "aws only")
			c.Args = cobra.MaximumNArgs(1)
		} else {
			c.Flags().Int("operator-port", 0, "local only")
			c.Args = cobra.NoArgs
		}
		return c
	}
	run := func(args ...string) error {
		ran, name = "", ""
		cmd := mergeProviders("up", "", "", "local", map[string]*cobra.Command{"local": mk("local"), "aws": mk("aws")})
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		return cmd.ExecuteContext(context.Background())
	}
	for _, tc := range []struct {
		args []string
		want string
		err  string
	}{
		{nil, "local", ""},
		{[]string{"--operator-port", "1"}, "local", ""},
		{[]string{"cluster.yaml"}, "aws", ""},
		{[]string{"-c", "cluster.yaml", "--name", "x"}, "aws", ""},
		{[]string{"--provider", "aws"}, "aws", ""},
		{[]string{"--provider", "local", "-c", "x"}, "", "--config not valid with --provider local"},
		{[]string{"-c", "x", "--operator-port", "1"}, "", "--operator-port not valid with --provider aws"},
		{[]string{"--provider", "gcp"}, "", "invalid --provider"},
		{[]string{"--provider", "local", "extra"}, "", "unknown command"},
	} {
		err := run(tc.args...)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err = %v, want %q", tc.args, err, tc.err)
			}
			if ran != "" {
				t.Errorf("%v: ran %s despite the error", tc.args, ran)
			}
			continue
		}
		if err != nil || ran != tc.want {
			t.Errorf("%v: ran %q, err %v; want %s", tc.args, ran, err, tc.want)
		}
	}
}

func TestKubernetesProviderIsRegistered(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--kubeconfig", "k"}, "--kubeconfig not valid with --provider local"},
		{[]string{"up", "--provider", "kubernetes", "--auth", "iam"}, "--auth not valid with --provider kubernetes"},
		{[]string{"up", "--provider", "kubernetes"}, "--image is required"},
		{[]string{"info", "--provider", "kubernetes", "--kubeconfig", "/nonexistent/kubeconfig"}, "kubeconfig"},
		{[]string{"down", "--provider", "kubernetes", "--kubeconfig", "/nonexistent/kubeconfig"}, "kubeconfig"},
		{[]string{"manifests"}, "--image is required"},
	} {
		f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
		err := cmdutil.ExecuteTest(NewCmdCluster(f), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A flag that one provider hides (tests only) and another documents stays in the merged --help
// with the documenting provider's text; a flag hidden by every provider stays hidden.
func TestMergeProvidersKeepsAVisibleSharedFlag(t *testing.T) {
	mk := func(p string) *cobra.Command {
		c := &cobra.Command{Use: "up", RunE: func(*cobra.Command, []string) error { return nil }}
		c.Flags().String("api-server-address", "", p+" text")
		c.Flags().String("sts-test-endpoint", "", "tests only")
		_ = c.Flags().MarkHidden("sts-test-endpoint")
		if p == "aws" {
			_ = c.Flags().MarkHidden("api-server-address")
		}
		return c
	}
	cmd := mergeProviders("up", "", "", "local", map[string]*cobra.Command{"aws": mk("aws"), "kubernetes": mk("kubernetes")})
	fl := cmd.Flags().Lookup("api-server-address")
	if fl == nil || fl.Hidden || fl.Usage != "[kubernetes] kubernetes text" {
		t.Errorf("api-server-address: %+v", fl)
	}
	if fl := cmd.Flags().Lookup("sts-test-endpoint"); fl == nil || !fl.Hidden {
		t.Errorf("sts-test-endpoint is shown: %+v", fl)
	}
}
