package cliconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadRoundTripIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cortex")
	c, err := Load(dir)
	if err != nil || len(c.Environments) != 0 {
		t.Fatalf("empty load: %v %v", c, err)
	}
	c.Put(Environment{Name: "prod", OperatorEndpoint: "https://x:1", ClusterID: "abc", Auth: AuthAWS})
	c.Put(Environment{Name: "dev", OperatorEndpoint: "https://y:1", Auth: AuthLocal, LocalTokenFile: "/t"})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700, Path(dir): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, mode)
		}
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.DefaultEnvironment != "prod" {
		t.Fatalf("the first environment should become the default, got %q", back.DefaultEnvironment)
	}
	e, err := back.Get("")
	if err != nil || e.Name != "prod" || e.ClusterID != "abc" {
		t.Fatalf("default env: %+v %v", e, err)
	}
	if !back.Delete("prod") || back.DefaultEnvironment != "" || back.Delete("prod") {
		t.Fatal("delete")
	}
	if _, err := back.Get("nope"); err == nil {
		t.Fatal("missing env found")
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"unknown key":    "environments: []\nsurprise: 1\n",
		"bad name":       "environments:\n- name: Bad_Name\n  operator_endpoint: https://x\n",
		"duplicate name": "environments:\n- name: a\n- name: a\n",
		"not yaml":       "environments: [\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(Path(dir), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), Path(dir)) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	for _, n := range []string{"", "-a", "a-", "A", "a b", "a/b", strings.Repeat("a", 64)} {
		if ValidateEnvName(n) == nil {
			t.Errorf("env name %q accepted", n)
		}
	}
}
