package apispec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxFileSize bounds a cortex.yaml.
const MaxFileSize = 1 << 20

var allowedKeys = map[string]map[string]bool{
	"":           {"name": true, "kind": true, "handler": true, "env": true, "replicas": true, "networking": true, "project_dir": true, "aws_credentials": true, "auth": true},
	"auth":       {"type": true, "allow": true},
	"handler":    {"type": true, "path": true, "config": true, "command": true},
	"networking": {"endpoint": true},
}

// Parse reads cortex.yaml (a YAML list of APIs), resolves relative paths against baseDir (the
// directory of the file; it becomes each spec's ProjectDir) and validates everything, including
// the handler files on disk. Errors are *FieldError with the line when it can be found, or a
// YAML syntax error with its line. file is only used in messages.
func Parse(data []byte, file, baseDir string) ([]Spec, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: file too large (%d bytes, at most %d)", file, len(data), MaxFileSize)
	}
	if !filepath.IsAbs(baseDir) {
		abs, err := filepath.Abs(baseDir)
		if err != nil {
			return nil, err
		}
		baseDir = abs
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	lf := newLineFinder(data)
	var top any
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	items, ok := top.([]any)
	if !ok {
		return nil, &FieldError{File: file, Line: 1, Index: -1, Msg: "the file must be a YAML list of APIs (each starting with \"- name: ...\")"}
	}
	specs := make([]Spec, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, &FieldError{File: file, Line: lf.find(i, nil), Index: i, Msg: "each API must be a mapping (name: ..., kind: ..., handler: ...)"}
		}
		name, _ := m["name"].(string)
		if err := checkKeys(m, ""); err != nil {
			err.File, err.Index, err.API = file, i, name
			err.Line = lf.find(i, splitField(err.Field))
			return nil, err
		}
		raw, _ := json.Marshal(m)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&specs[i]); err != nil {
			fe := &FieldError{File: file, Index: i, API: name, Msg: err.Error()}
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				fe.Field = te.Field
				fe.Msg = fmt.Sprintf("must be %s, got %s", describeType(te.Type.String()), te.Value)
			}
			fe.Line = lf.find(i, splitField(fe.Field))
			return nil, fe
		}
		s := &specs[i]
		if s.ProjectDir == "" {
			s.ProjectDir = baseDir
		} else if !filepath.IsAbs(s.ProjectDir) {
			s.ProjectDir = filepath.Join(baseDir, s.ProjectDir)
		}
	}
	if err := ValidateList(specs, true); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.File = file
			if fe.Index >= 0 {
				fe.Line = lf.find(fe.Index, splitField(fe.Field))
			}
		}
		return nil, err
	}
	return specs, nil
}

func describeType(t string) string {
	switch {
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "int"):
		return "an integer"
	case t == "bool" || t == "*bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "apispec."):
		return "a mapping"
	}
	return t
}

func checkKeys(m map[string]any, prefix string) *FieldError {
	allowed := allowedKeys[prefix]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := k
		if prefix != "" {
			field = prefix + "." + k
		}
		if !allowed[k] {
			known := make([]string, 0, len(allowed))
			for a := range allowed {
				known = append(known, a)
			}
			sort.Strings(known)
			return &FieldError{Field: field, Msg: fmt.Sprintf("unknown field (known: %s)", strings.Join(known, ", "))}
		}
		if sub, ok := m[k].(map[string]any); ok && allowedKeys[field] != nil {
			if err := checkKeys(sub, field); err != nil {
				return err
			}
		}
		if field == "env" {
			if env, ok := m[k].(map[string]any); ok {
				ek := make([]string, 0, len(env))
				for e := range env {
					ek = append(ek, e)
				}
				sort.Strings(ek)
				for _, e := range ek {
					if _, isStr := env[e].(string); !isStr {
						return &FieldError{Field: "env." + e, Msg: "must be a string (quote numbers and booleans)"}
					}
				}
			}
		}
	}
	return nil
}

// splitField turns "handler.command[1]" into ["handler", "command"].
func splitField(field string) []string {
	if field == "" {
		return nil
	}
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	// env.NAME: the variable name may not contain dots, so a plain split is right.
	return strings.Split(field, ".")
}

// lineFinder maps (API index, key path) to a line of a block-style YAML list. It is a best
// effort for messages: when a key is not found (flow style, anchors), the closest parent's line
// is returned.
type lineFinder struct {
	lines []yline
}

type yline struct {
	no     int // 1-based
	indent int
	text   string // without indentation
}

func newLineFinder(data []byte) *lineFinder {
	lf := &lineFinder{}
	for i, l := range strings.Split(string(data), "\n") {
		t := strings.TrimRight(l, " \t\r")
		trimmed := strings.TrimLeft(t, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" {
			continue
		}
		lf.lines = append(lf.lines, yline{no: i + 1, indent: len(t) - len(trimmed), text: trimmed})
	}
	return lf
}

// find returns the line of key path keys inside the index-th item of the top-level list.
func (lf *lineFinder) find(index int, keys []string) int {
	if len(lf.lines) == 0 {
		return 0
	}
	// The top-level sequence: items are "- " lines at the smallest indent.
	seqIndent := -1
	for _, l := range lf.lines {
		if strings.HasPrefix(l.text, "-") {
			seqIndent = l.indent
			break
		}
	}
	if seqIndent < 0 {
		return lf.lines[0].no
	}
	var starts []int
	for i, l := range lf.lines {
		if l.indent == seqIndent && (l.text == "-" || strings.HasPrefix(l.text, "- ")) {
			starts = append(starts, i)
		}
	}
	if index >= len(starts) {
		return 0
	}
	begin := starts[index]
	end := len(lf.lines)
	if index+1 < len(starts) {
		end = starts[index+1]
	}
	// Normalize the item's first line: "- name: x" is a key at indent seqIndent+2.
	type kl struct {
		indent int
		text   string
		no     int
	}
	var item []kl
	for i := begin; i < end; i++ {
		l := lf.lines[i]
		if i == begin {
			rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
			if rest == "" {
				continue
			}
			item = append(item, kl{indent: l.indent + (len(l.text) - len(rest)), text: rest, no: l.no})
			continue
		}
		item = append(item, kl{indent: l.indent, text: l.text, no: l.no})
	}
	best := lf.lines[begin].no
	lo, hi := 0, len(item)
	for _, key := range keys {
		if lo >= hi {
			break
		}
		indent := item[lo].indent
		found := -1
		for j := lo; j < hi; j++ {
			if item[j].indent < indent {
				break
			}
			if item[j].indent == indent && keyOf(item[j].text) == key {
				found = j
				break
			}
		}
		if found < 0 {
			break
		}
		best = item[found].no
		lo = found + 1
		hi2 := lo
		for hi2 < hi && item[hi2].indent > indent {
			hi2++
		}
		hi = hi2
	}
	return best
}

func keyOf(text string) string {
	text = strings.TrimPrefix(text, "- ")
	i := strings.Index(text, ":")
	if i < 0 {
		return ""
	}
	k := strings.TrimSpace(text[:i])
	return strings.Trim(k, `"'`)
}
