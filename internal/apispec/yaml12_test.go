package apispec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/fielderr"
)

// YAML 1.1 turned y/off/NO into booleans and 012345 into the octal 5349; cortex.yaml is YAML 1.2:
// only true and false are booleans, and the handler receives the text the user wrote.
func TestParseIsYAML12(t *testing.T) {
	dir := project(t)
	const spec = `- name: iris
  kind: RealtimeAPI
  handler:
    type: python
    path: handler.py
    config:
      y: 1
      off: 2
      answer: NO
      zip: 012345
      hex: 0x1F
      flag: true
      text: "012345"
      empty:
`
	specs, err := Parse([]byte(spec), "cortex.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(specs[0].Handler.Config)
	want := `{"answer":"NO","empty":null,"flag":true,"hex":31,"off":2,"text":"012345","y":1,"zip":12345}`
	if string(got) != want {
		t.Errorf("handler.config arrived as\n %s\nwant\n %s", got, want)
	}
}

func TestParseReportsEveryProblemWithLine(t *testing.T) {
	dir := project(t)
	cases := []struct {
		name string
		yaml string
		want []string // each a line of the error, in order
	}{
		{"three problems in one file", `- name: iris
  kind: RealtimeAPI
  replicas: two
  aws_credentials: yes
  handler:
    type: python
    path: handler.py
    pth: x
`, []string{
			`cortex.yaml:3: api "iris" (#1): replicas: must be an integer, got "two"`,
			`cortex.yaml:4: api "iris" (#1): aws_credentials: must be true or false, got "yes" (YAML 1.2: only true and false are booleans)`,
			`cortex.yaml:8: api "iris" (#1): handler.pth: unknown field (known: args, command, config, health_check_path, image, path, port, type)`,
		}},
		{"problems of two APIs", `- name: a
  kind: BatchAPI
  handler: {type: command, command: [x]}
- name: B
  kind: RealtimeAPI
  handler: {type: command, command: [x]}
`, []string{
			`cortex.yaml:2: api "a" (#1): kind: unknown kind "BatchAPI" (supported: RealtimeAPI)`,
			`cortex.yaml:4: api "B" (#2): name: invalid name "B": use 1-63 lowercase letters, digits and '-', starting with a letter`,
		}},
		{"list where a mapping belongs", `- name: a
  kind: RealtimeAPI
  handler: [python]
`, []string{
			`cortex.yaml:3: api "a" (#1): handler: must be a mapping, got a list`,
		}},
		{"duplicate key", `- name: a
  name: b
  kind: RealtimeAPI
  handler: {type: command, command: [x]}
`, []string{
			`cortex.yaml:2: api "a" (#1): name: is given twice (also on line 1)`,
		}},
		{"merge key", `- &base
  name: a
  kind: RealtimeAPI
  handler: {type: command, command: [x]}
- <<: *base
  name: b
`, []string{
			`cortex.yaml:5: api "b" (#2): <<: merge keys (<<) are YAML 1.1 and not supported; repeat the fields`,
		}},
		{"infinity in config", `- name: a
  kind: RealtimeAPI
  handler:
    type: python
    path: handler.py
    config: {x: .inf}
`, []string{
			`cortex.yaml:6: api "a" (#1): handler.config.x: .inf cannot be sent to the handler (JSON has no infinity or NaN); quote it for text`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "cortex.yaml", dir)
			if err == nil {
				t.Fatal("want errors")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", err, strings.Join(c.want, "\n"))
			}
			for _, bad := range []string{"unmarshal", "Go struct", "json:"} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("message speaks Go: %v", err)
				}
			}
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Line == 0 || fe.File != "cortex.yaml" {
				t.Errorf("want a *fielderr.Error with file and line, got %#v", fe)
			}
		})
	}
}
