package apispec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func project(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte("class Handler: pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

const good = `# two APIs
- name: iris
  kind: RealtimeAPI
  handler:
    type: python
    path: handler.py
    config:
      model: model.pkl
  replicas: 2
- name: echo
  kind: RealtimeAPI
  handler:
    type: command
    command: [python3, echo.py]
  env:
    GREETING: "hi"
  networking:
    endpoint: /team/echo
`

func TestParseGood(t *testing.T) {
	dir := project(t)
	specs, err := Parse([]byte(good), "cortex.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 {
		t.Fatalf("got %d specs", len(specs))
	}
	if specs[0].Replicas != 2 || specs[0].Networking.Endpoint != "/iris" || specs[0].ProjectDir != dir {
		t.Errorf("iris: %+v", specs[0])
	}
	if specs[1].Replicas != 1 || specs[1].Networking.Endpoint != "/team/echo" || specs[1].Env["GREETING"] != "hi" {
		t.Errorf("echo: %+v", specs[1])
	}
	if specs[0].Hash() == specs[1].Hash() {
		t.Error("hashes collide")
	}
	a := specs[0]
	a.Replicas = 3
	if a.TemplateHash() != specs[0].TemplateHash() || a.Hash() == specs[0].Hash() {
		t.Error("replicas must change Hash but not TemplateHash")
	}
}

func TestParseErrorsNameFieldAndLine(t *testing.T) {
	dir := project(t)
	cases := []struct {
		name, yaml, field string
		line              int
		msg               string
	}{
		{"unknown kind", strings.Replace(good, "kind: RealtimeAPI\n  handler:\n    type: command", "kind: BatchAPI\n  handler:\n    type: command", 1), "kind", 11, "unknown kind"},
		{"duplicate names", strings.Replace(good, "name: echo", "name: iris", 1), "name", 10, "duplicate name"},
		{"dotdot endpoint", strings.Replace(good, "/team/echo", "/team/../x", 1), "networking.endpoint", 18, "invalid endpoint"},
		{"space endpoint", strings.Replace(good, "/team/echo", `"/team echo"`, 1), "networking.endpoint", 18, "invalid endpoint"},
		{"unknown field", strings.Replace(good, "    GREETING", "    GREETING: x\n  replica: 3\n  env2:\n    X", 1), "replica", 17, "unknown field"},
		{"unknown nested field", strings.Replace(good, "    path: handler.py", "    pth: handler.py", 1), "handler.pth", 6, "unknown field"},
		{"env not string", strings.Replace(good, `GREETING: "hi"`, "GREETING: [1]", 1), "env.GREETING", 16, "must be a string"},
		{"replicas type", strings.Replace(good, "replicas: 2", "replicas: two", 1), "replicas", 9, "integer"},
		{"replicas range", strings.Replace(good, "replicas: 2", "replicas: 1000", 1), "replicas", 9, "between"},
		{"missing handler file", strings.Replace(good, "path: handler.py", "path: nope.py", 1), "handler.path", 6, "no such file"},
		{"escaping handler path", strings.Replace(good, "path: handler.py", "path: ../x.py", 1), "handler.path", 6, "inside the project"},
		{"reserved env", strings.Replace(good, "GREETING", "AWS_SECRET_ACCESS_KEY", 1), "env.AWS_SECRET_ACCESS_KEY", 16, "set by cortex"},
		{"no command", strings.Replace(good, "    command: [python3, echo.py]\n", "", 1), "handler.command", 12, "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "cortex.yaml", dir)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != c.field || fe.Line != c.line || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got field %q line %d msg %q; want %q line %d containing %q", fe.Field, fe.Line, fe.Msg, c.field, c.line, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "cortex.yaml:") {
				t.Errorf("message %q lacks the file and line", err)
			}
		})
	}
}

func TestParseSyntaxAndShape(t *testing.T) {
	for _, y := range []string{"name: x\nkind: RealtimeAPI\n", "- [1, 2\n", "- name: a\n  name: b\n", "[]\n", "- 3\n"} {
		if _, err := Parse([]byte(y), "c.yaml", t.TempDir()); err == nil {
			t.Errorf("%q: want an error", y)
		}
	}
}

func TestValidateJSONSide(t *testing.T) {
	s := []Spec{{Name: "a", Kind: KindRealtime, Handler: Handler{Type: HandlerCommand, Command: []string{"x"}}}}
	if err := ValidateList(s, false); err != nil {
		t.Fatal(err)
	}
	bad := []Spec{{Name: "a", Kind: KindRealtime, ProjectDir: "rel", Handler: Handler{Type: HandlerCommand, Command: []string{"x"}}}}
	if err := ValidateList(bad, false); err == nil || !strings.Contains(err.Error(), "project_dir") {
		t.Errorf("relative project_dir: %v", err)
	}
	notDir := []Spec{{Name: "a", Kind: KindRealtime, ProjectDir: "/nonexistent-dir-x", Handler: Handler{Type: HandlerCommand, Command: []string{"x"}}}}
	if err := ValidateList(notDir, true); err == nil {
		t.Error("missing project_dir accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("- name: x\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data, "f.yaml", dir)
	})
}
