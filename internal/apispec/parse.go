package apispec

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cortexlabs-go/cortex/internal/fielderr"
	"github.com/cortexlabs-go/cortex/internal/yamlfile"
)

// MaxFileSize bounds a cortex.yaml.
const MaxFileSize = 1 << 20

// Parse reads cortex.yaml (a YAML 1.2 list of APIs, see package yamlfile), resolves relative
// paths against baseDir (the directory of the file; it becomes each spec's ProjectDir) and
// validates everything, including the handler files on disk. Every problem of the file is
// reported together (fielderr.Errors, each with file, line, API and field). file is only used in
// messages.
func Parse(data []byte, file, baseDir string) ([]Spec, error) {
	if len(data) > MaxFileSize {
		return nil, &FieldError{File: file, Msg: fmt.Sprintf("file too large (%d bytes, at most %d)", len(data), MaxFileSize)}
	}
	if !filepath.IsAbs(baseDir) {
		abs, err := filepath.Abs(baseDir)
		if err != nil {
			return nil, err
		}
		baseDir = abs
	}
	doc, err := yamlfile.Parse(data)
	if err != nil {
		return nil, fielderr.Locate(err, file, nil)
	}
	if doc.Root() == nil || doc.Root().Kind != yaml.SequenceNode {
		line := 1
		if doc.Root() != nil {
			line = doc.Root().Line
		}
		return nil, &FieldError{File: file, Line: line, Msg: "the file must be a YAML list of APIs (each starting with \"- name: ...\")"}
	}
	var specs []Spec
	derr := doc.Decode(&specs, nil)
	// Decode problems carry paths like "[1].handler.path": name the API and keep the field.
	bad := map[int]bool{}
	var es fielderr.Errors
	errors.As(derr, &es)
	for _, e := range es {
		e.Path = e.Field
		if rest, ok := strings.CutPrefix(e.Field, "["); ok {
			n, tail, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(n); err == nil && i < len(specs) {
				bad[i] = true
				e.Subject = Subject(i, specs[i].Name)
				e.Field = strings.TrimPrefix(tail, ".")
			}
		}
	}
	for i := range specs {
		s := &specs[i]
		if s.ProjectDir == "" {
			s.ProjectDir = baseDir
		} else if !filepath.IsAbs(s.ProjectDir) {
			s.ProjectDir = filepath.Join(baseDir, s.ProjectDir)
		}
	}
	var all fielderr.List
	all.Append(derr)
	all.Append(validateList(specs, true, bad))
	if err := all.Err(); err != nil {
		return nil, fielderr.Locate(err, file, doc.Line)
	}
	return specs, nil
}
