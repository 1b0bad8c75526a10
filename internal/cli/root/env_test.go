package root

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
)

// Updating one field of an existing environment contacts nothing and changes only that field;
// a profile on a local environment is a request for its credentials in the APIs.
func TestEnvConfigureUpdatesFieldsInPlace(t *testing.T) {
	isolateAWS(t)
	dir := filepath.Join(t.TempDir(), "cortex")
	cfg, _ := cliconfig.Load(dir)
	cfg.Put(cliconfig.Environment{Name: "local", Provider: "local", OperatorEndpoint: "https://127.0.0.1:1", Auth: cliconfig.AuthLocal, LocalTokenFile: "/x"})
	cfg.Put(cliconfig.Environment{Name: "prod", OperatorEndpoint: "https://127.0.0.1:2", Auth: cliconfig.AuthAWS, ClusterID: "c"})
	if err := cfg.Save(); err != nil {
		t.Fatal(err)
	}
	c := &cliRun{t: t, configDir: dir, outputs: &bytes.Buffer{}}
	get := func(name string) cliconfig.Environment {
		cfg, err := cliconfig.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := cfg.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return *e
	}
	for _, step := range []struct {
		args    []string
		env     string
		profile string
		forAPIs bool
	}{
		{[]string{"env", "configure", "local", "--aws-profile", "ml"}, "local", "ml", true},
		{[]string{"env", "configure", "local", "--aws-credentials-for-apis", "false"}, "local", "ml", false},
		{[]string{"env", "configure", "local", "--aws-profile", "other", "--aws-credentials-for-apis", "false"}, "local", "other", false},
		{[]string{"env", "configure", "local", "--aws-credentials-for-apis", "true"}, "local", "other", true},
		{[]string{"env", "configure", "local", "--aws-profile", ""}, "local", "", false},
		{[]string{"env", "configure", "prod", "--aws-profile", "ml"}, "prod", "ml", false},
	} {
		if _, err := c.as(aws.Credentials{}, step.args...); err != nil {
			t.Fatalf("%v: %v", step.args, err)
		}
		e := get(step.env)
		if e.AWSProfile != step.profile || e.AWSCredentialsForAPIs != step.forAPIs || e.OperatorEndpoint == "" {
			t.Fatalf("%v: profile %q forAPIs %v endpoint %q", step.args, e.AWSProfile, e.AWSCredentialsForAPIs, e.OperatorEndpoint)
		}
	}
	if _, err := c.as(aws.Credentials{}, "env", "configure", "local", "--aws-credentials-for-apis", "yes"); err == nil {
		t.Fatal("--aws-credentials-for-apis yes accepted")
	}
	if _, err := c.as(aws.Credentials{}, "env", "configure", "new-env"); err == nil {
		t.Fatal("a new environment without --operator-endpoint accepted")
	}
}
