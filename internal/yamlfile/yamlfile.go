// Package yamlfile reads cortex's configuration files as YAML 1.2 and decodes them strictly into
// structs, collecting every problem with its line as a fielderr.Error.
//
// YAML 1.2 (core schema) is what users expect and what YAML 1.1 was not: only true/false (True,
// TRUE, False, FALSE) are booleans, so keys and values like y, off, NO stay text; 012345 is the
// decimal 12345 (octal is 0o12345), there are no timestamps and no merge keys (<<). The parser is
// go.yaml.in/yaml/v3 (the YAML organisation's maintained fork of gopkg.in/yaml.v3); it is used only
// for syntax (yaml.Node): every scalar is resolved here, because yaml.v3 still decodes 1.1 octals
// (0777) and, into typed bool fields, 1.1 booleans (yes/on) for compatibility.
//
// A string field takes a plain scalar as written (tags: {zip: 012345} keeps "012345"), so no
// field of type string is ever converted; a field of type any (an API's handler config) gets the
// core schema's value.
package yamlfile

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cortexlabs-go/cortex/internal/fielderr"
)

// MaxNodes bounds the nodes one file may expand to (aliases can multiply a small file).
const MaxNodes = 100000

// Doc is one parsed YAML document.
type Doc struct {
	root  *yaml.Node // nil for an empty document
	lines map[string]int
	nodes int
}

// Parse parses one YAML document. A syntax error is a *fielderr.Error with the line.
func Parse(data []byte) (*Doc, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var n yaml.Node
	err := dec.Decode(&n)
	d := &Doc{lines: map[string]int{}}
	switch {
	case errors.Is(err, io.EOF):
		return d, nil
	case err != nil:
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &fielderr.Error{Line: extra.Line, Msg: "only one YAML document is allowed (remove the second ---)"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(err)
	}
	d.root = &n
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		d.root = n.Content[0]
	}
	return d, nil
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &fielderr.Error{Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &fielderr.Error{Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// Root is the document's top node (nil when the document is empty).
func (d *Doc) Root() *yaml.Node { return d.root }

// Line is the line of a field decoded by Decode: a path like "node_groups[0].name", "[1].handler"
// or "tags.team". For a path not found it tries the parents; 0 when nothing matches.
func (d *Doc) Line(path string) int {
	for p := path; ; {
		if l, ok := d.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			if p == "" {
				return 0
			}
			p = ""
			continue
		}
		p = p[:i]
	}
}

// TopKeys lists the keys of a top-level mapping with their lines (for fields a caller refuses
// before decoding, see Drop).
func (d *Doc) TopKeys() map[string]int {
	out := map[string]int{}
	if d.root != nil && d.root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(d.root.Content); i += 2 {
			out[d.root.Content[i].Value] = d.root.Content[i].Line
		}
	}
	return out
}

// Drop removes a key of the top-level mapping (so Decode does not report it as unknown).
func (d *Doc) Drop(key string) {
	if d.root == nil || d.root.Kind != yaml.MappingNode {
		return
	}
	c := d.root.Content
	for i := 0; i+1 < len(c); i += 2 {
		if c[i].Value == key {
			d.root.Content = append(c[:i:i], c[i+2:]...)
			return
		}
	}
}

// Hints add advice to type errors of a field path (e.g. "node_groups": "use a list of {...}").
type Hints map[string]string

// Decode decodes the document into out (a pointer), field by field, with the JSON names of the
// struct fields. It returns fielderr.Errors of every unknown field, wrong type and duplicate key
// (without file; the caller locates them), or nil.
func (d *Doc) Decode(out any, hints Hints) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return errors.New("yamlfile: Decode needs a non-nil pointer")
	}
	dc := &decoder{doc: d, hints: hints}
	if d.root != nil {
		dc.decode(d.root, "", v.Elem())
	}
	return dc.errs.Err()
}

type decoder struct {
	doc    *Doc
	hints  Hints
	errs   fielderr.List
	tooBig bool
}

func (dc *decoder) fail(n *yaml.Node, path, format string, a ...any) {
	e := dc.errs.Add(path, format, a...)
	e.Line = n.Line
	if h := dc.hints[path]; h != "" && strings.HasPrefix(e.Msg, "must be") {
		e.Msg += " (" + h + ")"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe says what a node is, in words.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

var (
	intRE   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	octRE   = regexp.MustCompile(`^0o[0-7]+$`)
	hexRE   = regexp.MustCompile(`^0x[0-9a-fA-F]+$`)
	floatRE = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	infRE   = regexp.MustCompile(`^[-+]?\.(inf|Inf|INF)$`)
	nanRE   = regexp.MustCompile(`^\.(nan|NaN|NAN)$`)
)

// scalar resolves a scalar with the YAML 1.2 core schema. kind is "null", "bool", "int",
// "float" or "str"; ok is false for a tag cortex does not read.
func scalar(n *yaml.Node) (val any, kind string, err error) {
	s := n.Value
	tag := n.Tag
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	explicit := n.Style&yaml.TaggedStyle != 0
	if quoted && !explicit {
		return s, "str", nil
	}
	if explicit {
		switch tag {
		case "!!str":
			return s, "str", nil
		case "!!null", "!!bool", "!!int", "!!float":
		default:
			return nil, "", fmt.Errorf("the tag %s is not supported", tag)
		}
	}
	switch {
	case s == "" || s == "~" || s == "null" || s == "Null" || s == "NULL":
		return nil, "null", nil
	case s == "true" || s == "True" || s == "TRUE":
		return true, "bool", nil
	case s == "false" || s == "False" || s == "FALSE":
		return false, "bool", nil
	case intRE.MatchString(s):
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, "int", fmt.Errorf("%s is too large a number; quote it for text", s)
		}
		return i, "int", nil
	case octRE.MatchString(s), hexRE.MatchString(s):
		base := 8
		if s[1] == 'x' {
			base = 16
		}
		i, err := strconv.ParseInt(s[2:], base, 64)
		if err != nil {
			return nil, "int", fmt.Errorf("%s is too large a number; quote it for text", s)
		}
		return i, "int", nil
	case floatRE.MatchString(s):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, "float", fmt.Errorf("%s is not a usable number; quote it for text", s)
		}
		return f, "float", nil
	case infRE.MatchString(s), nanRE.MatchString(s):
		return math.NaN(), "float", fmt.Errorf("%s cannot be sent to the handler (JSON has no infinity or NaN); quote it for text", s)
	}
	if explicit && tag != "!!str" {
		return nil, "", fmt.Errorf("%q is not a %s", s, strings.TrimPrefix(tag, "!!"))
	}
	return s, "str", nil
}

// deref follows aliases and counts the node; nil (with one error) once the file has expanded to
// more than MaxNodes values.
func (dc *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		dc.errs.Add(path, "an alias that cannot be resolved")
		return nil
	}
	dc.doc.nodes++
	if dc.doc.nodes > MaxNodes {
		if !dc.tooBig {
			dc.tooBig = true
			dc.errs.Add("", "the file expands to more than %d values (aliases?)", MaxNodes)
		}
		return nil
	}
	if _, seen := dc.doc.lines[path]; !seen {
		dc.doc.lines[path] = n.Line
	}
	return n
}

// pairs returns a mapping's key/value nodes, reporting duplicate and merge keys.
func (dc *decoder) pairs(n *yaml.Node, path string) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			dc.fail(k, path, "a key must be text, got %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0 {
			dc.fail(k, join(path, "<<"), "merge keys (<<) are YAML 1.1 and not supported; repeat the fields")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			dc.fail(k, join(path, k.Value), "is given twice (also on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func (dc *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n = dc.deref(n, path); n == nil {
		return
	}
	// A null leaves the field at its zero value (as if it were not given).
	if n.Kind == yaml.ScalarNode {
		if _, kind, err := scalar(n); err == nil && kind == "null" && v.Kind() != reflect.Interface {
			v.Set(reflect.Zero(v.Type()))
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		dc.decode(n, path, p.Elem())
		v.Set(p)
	case reflect.Struct:
		dc.decodeStruct(n, path, v)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			dc.fail(n, path, "must be a mapping, got %s", describe(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			dc.fail(n, path, "cannot be set from a file (internal: %s)", v.Type())
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, kv := range dc.pairs(n, path) {
			ev := reflect.New(v.Type().Elem()).Elem()
			dc.decode(kv[1], join(path, kv[0].Value), ev)
			m.SetMapIndex(reflect.ValueOf(kv[0].Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			dc.fail(n, path, "must be a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			dc.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Interface:
		val, ok := dc.generic(n, path)
		if ok && val != nil {
			v.Set(reflect.ValueOf(val))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			dc.fail(n, path, "must be a string, got %s", describe(n))
			return
		}
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!str" {
			dc.fail(n, path, "must be a string, got a value tagged %s", n.Tag)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		val, kind, err := scalar(n)
		if n.Kind != yaml.ScalarNode || err != nil || kind != "bool" {
			dc.fail(n, path, "must be true or false, got %s (YAML 1.2: only true and false are booleans)", describe(n))
			return
		}
		v.SetBool(val.(bool))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		val, kind, err := scalar(n)
		if n.Kind != yaml.ScalarNode || kind != "int" {
			dc.fail(n, path, "must be an integer, got %s", describe(n))
			return
		}
		if err != nil {
			dc.fail(n, path, "%v", err)
			return
		}
		i := val.(int64)
		if v.OverflowInt(i) {
			dc.fail(n, path, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		val, kind, err := scalar(n)
		if n.Kind != yaml.ScalarNode || (kind != "int" && kind != "float") || err != nil {
			dc.fail(n, path, "must be a number, got %s", describe(n))
			return
		}
		if i, isInt := val.(int64); isInt {
			v.SetFloat(float64(i))
		} else {
			v.SetFloat(val.(float64))
		}
	default:
		// A field type this decoder does not know is a programming error; it is reported rather
		// than crashing the command that reads the file.
		dc.fail(n, path, "cannot be set from a file (internal: %s)", v.Type())
	}
}

// generic decodes a node into JSON-compatible values: map[string]any, []any, string, bool, int64,
// float64 or nil.
func (dc *decoder) generic(n *yaml.Node, path string) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		ok := true
		for _, kv := range dc.pairs(n, path) {
			p := join(path, kv[0].Value)
			c := dc.deref(kv[1], p)
			if c == nil {
				return nil, false
			}
			val, good := dc.generic(c, p)
			ok = ok && good
			m[kv[0].Value] = val
		}
		return m, ok
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		ok := true
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c = dc.deref(c, p); c == nil {
				return nil, false
			}
			val, good := dc.generic(c, p)
			ok = ok && good
			l = append(l, val)
		}
		return l, ok
	case yaml.ScalarNode:
		val, _, err := scalar(n)
		if err != nil {
			dc.fail(n, path, "%v", err)
			return nil, false
		}
		return val, true
	}
	dc.fail(n, path, "unsupported YAML node")
	return nil, false
}

// fieldInfo is a struct field and its JSON name.
type fieldInfo struct {
	name  string
	index []int
}

func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, fieldInfo{name: name, index: f.Index})
	}
	return out
}

// KnownFields lists the YAML names of a struct type's fields, sorted.
func KnownFields(t reflect.Type) []string {
	var names []string
	for _, f := range fieldsOf(t) {
		names = append(names, f.name)
	}
	sort.Strings(names)
	return names
}

func (dc *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		dc.fail(n, path, "must be a mapping, got %s", describe(n))
		return
	}
	fields := map[string][]int{}
	for _, f := range fieldsOf(v.Type()) {
		fields[f.name] = f.index
	}
	for _, kv := range dc.pairs(n, path) {
		key := kv[0].Value
		p := join(path, key)
		idx, ok := fields[key]
		if !ok {
			dc.doc.lines[p] = kv[0].Line
			dc.fail(kv[0], p, "unknown field (known: %s)", strings.Join(KnownFields(v.Type()), ", "))
			continue
		}
		dc.decode(kv[1], p, v.FieldByIndex(idx))
		// The key's line, not the value's: "replicas:" is where a user looks.
		dc.doc.lines[p] = kv[0].Line
	}
}
