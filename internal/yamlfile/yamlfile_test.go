package yamlfile

import (
	"encoding/json"
	"strings"
	"testing"
)

type inner struct {
	Name  string  `json:"name"`
	Count int     `json:"count,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
}

type target struct {
	Text   string            `json:"text,omitempty"`
	Flag   *bool             `json:"flag,omitempty"`
	Num    int32             `json:"num,omitempty"`
	List   []inner           `json:"list,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
	Free   map[string]any    `json:"free,omitempty"`
	Hidden string            `json:"-"`
}

// Table of hostile and mistaken YAML: each is either decoded as YAML 1.2 says, or refused with a
// message in words and the line.
func TestDecodeHostileAndMistakenYAML(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	cases := []struct {
		name, yaml string
		free       string // the JSON of target.Free when valid
		errs       []string
	}{
		{"1.1 booleans stay text", "free: {y: yes, n: no, on: off, Y: NO}\n", `{"Y":"NO","n":"no","on":"off","y":"yes"}`, nil},
		{"1.2 booleans", "free: {a: true, b: False, c: TRUE}\n", `{"a":true,"b":false,"c":true}`, nil},
		{"leading zero is decimal", "free: {a: 012345, b: 0o17, c: 0x1F, d: -007}\n", `{"a":12345,"b":15,"c":31,"d":-7}`, nil},
		{"not numbers in 1.2", "free: {a: 1_000, b: 2001-12-14, c: 1:30, d: .5e3x}\n", `{"a":"1_000","b":"2001-12-14","c":"1:30","d":".5e3x"}`, nil},
		{"null spellings", "free:\n  a: ~\n  b: null\n  c: NULL\n  d:\n", `{"a":null,"b":null,"c":null,"d":null}`, nil},
		{"quoted is text", "free: {a: \"true\", b: '012'}\n", `{"a":"true","b":"012"}`, nil},
		{"explicit str tag", "free: {a: !!str 012}\n", `{"a":"012"}`, nil},
		{"string fields take the text as written", "text: 012345\ntags: {a: off, b: 1.50, c: yes}\n", "", nil},
		{"yes is not a bool", "flag: yes\n", "", []string{`1: flag: must be true or false, got "yes" (YAML 1.2: only true and false are booleans)`}},
		{"int out of range", "num: 99999999999\n", "", []string{`1: num: 99999999999 is out of range`}},
		{"too large a number", "free: {a: 99999999999999999999999}\n", "", []string{`1: free.a: 99999999999999999999999 is too large a number; quote it for text`}},
		{"float for an int", "num: 1.5\n", "", []string{`1: num: must be an integer, got "1.5"`}},
		{"nan", "free: {a: .nan}\n", "", []string{`1: free.a: .nan cannot be sent to the handler (JSON has no infinity or NaN); quote it for text`}},
		{"custom tag", "free: {a: !python/object x}\n", "", []string{`1: free.a: the tag !python/object is not supported`}},
		{"binary tag", "text: !!binary aGk=\n", "", []string{`1: text: must be a string, got a value tagged !!binary`}},
		{"duplicate key", "text: a\ntext: b\n", "", []string{`2: text: is given twice (also on line 1)`}},
		{"mapping as key", "free: {[a]: 1}\n", "", []string{`1: free: a key must be text, got a list`}},
		{"merge key", "list:\n  - &x {name: a}\n  - <<: *x\n    count: 2\n", "", []string{`3: list[1].<<: merge keys (<<) are YAML 1.1 and not supported; repeat the fields`}},
		{"unknown nested field and wrong kind", "list:\n  - name: a\n    cuont: 2\n  - [b]\n", "", []string{`3: list[0].cuont: unknown field (known: count, name, ratio)`, `4: list[1]: must be a mapping, got a list`}},
		{"field named -", "Hidden: x\n", "", []string{`1: Hidden: unknown field (known: flag, free, list, num, tags, text)`}},
		{"billion laughs", laughs, "", []string{"the file expands to more than 100000 values (aliases?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := Parse([]byte(c.yaml))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var v target
			if c.name == "billion laughs" {
				var free map[string]any
				err = doc.Decode(&free, nil)
			} else {
				err = doc.Decode(&v, nil)
			}
			if c.errs == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if c.free != "" {
					got, _ := json.Marshal(v.Free)
					if string(got) != c.free {
						t.Errorf("free = %s, want %s", got, c.free)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("want errors")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.errs) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(c.errs), err)
			}
			es := err.(interface{ Unwrap() []error }).Unwrap()
			for i, want := range c.errs {
				got := es[i].Error()
				if c.name == "billion laughs" {
					if !strings.Contains(got, want) {
						t.Errorf("got %q", got)
					}
					continue
				}
				if got != strings.TrimPrefix(want, strings.SplitN(want, ":", 2)[0]+": ") && !strings.HasSuffix(want, got) {
					t.Errorf("problem %d: got %q, want %q", i, got, want)
				}
			}
		})
	}
	// Text fields keep what was written.
	doc, _ := Parse([]byte("text: 012345\ntags: {a: off, b: 1.50}\n"))
	var v target
	if err := doc.Decode(&v, nil); err != nil || v.Text != "012345" || v.Tags["a"] != "off" || v.Tags["b"] != "1.50" {
		t.Fatalf("text fields: %+v %v", v, err)
	}
	// Line falls back to the closest parent, and to the top of the file.
	if doc.Line("tags.b") != 2 || doc.Line("tags") != 2 || doc.Line("text") != 1 || doc.Line("nope.x") != 1 {
		t.Errorf("lines: %d %d %d %d", doc.Line("tags.b"), doc.Line("tags"), doc.Line("text"), doc.Line("nope.x"))
	}
}

func TestParseRefusesSeveralDocumentsAndReportsSyntaxLines(t *testing.T) {
	if _, err := Parse([]byte("a: 1\n---\nb: 2\n")); err == nil || !strings.Contains(err.Error(), "only one YAML document") {
		t.Errorf("two documents: %v", err)
	}
	_, err := Parse([]byte("a: 1\nb: c: d\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "2: not valid YAML") {
		t.Errorf("syntax error: %v", err)
	}
}
