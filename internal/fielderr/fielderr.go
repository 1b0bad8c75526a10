// Package fielderr is the one error type of cortex's configuration files (cluster.yaml, an API
// spec, the operator's --config): each problem names the file, the line and the field, in words a
// user knows, and a file's problems are reported together rather than one per run.
package fielderr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem of a configuration file.
type Error struct {
	File string // "" when the configuration did not come from a file (e.g. JSON over the API)
	Line int    // 1-based; 0 when unknown
	// Subject is what the field belongs to when a file holds several things, e.g. `api "iris" (#1)`.
	Subject string
	// Field is the dotted path of the field inside its subject, e.g. handler.path or
	// node_groups[0].instance_type; "" for a problem of the whole file.
	Field string
	Msg   string
	// Path locates the field in the document (see yamlfile.Doc.Line); "" means Field.
	Path string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Subject != "" {
		b.WriteString(e.Subject)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Location is the key Doc.Line looks up: Path, else Field.
func (e *Error) Location() string {
	if e.Path != "" {
		return e.Path
	}
	return e.Field
}

// List collects the problems of one file. The zero value is ready to use.
type List struct{ errs []*Error }

// Add records a problem of field.
func (l *List) Add(field, format string, a ...any) *Error {
	e := &Error{Field: field, Msg: fmt.Sprintf(format, a...)}
	l.errs = append(l.errs, e)
	return e
}

// Append records existing problems: *Error, Errors, or errors joined with errors.Join whose
// messages start with "field: " (the field becomes Field).
func (l *List) Append(err error) {
	if err == nil {
		return
	}
	var es Errors
	if errors.As(err, &es) {
		l.errs = append(l.errs, es...)
		return
	}
	var e *Error
	if errors.As(err, &e) {
		l.errs = append(l.errs, e)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, one := range j.Unwrap() {
			l.Append(one)
		}
		return
	}
	field, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.ContainsAny(field, " \"") {
		field, msg = "", err.Error()
	}
	l.errs = append(l.errs, &Error{Field: field, Msg: msg})
}

// Len is the number of problems.
func (l *List) Len() int { return len(l.errs) }

// Err returns the problems (nil when there are none).
func (l *List) Err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return Errors(append([]*Error(nil), l.errs...))
}

// Errors are all the problems of a file; Error prints one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the first *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Locate sets the file of every problem and, with line (which may be nil), its line; then sorts
// the problems by line (stable, so problems without a line keep their order at the end).
func (es Errors) Locate(file string, line func(path string) int) Errors {
	for _, e := range es {
		if e.File == "" {
			e.File = file
		}
		if e.Line == 0 && line != nil {
			e.Line = line(e.Location())
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Line, es[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	return es
}

// Locate applies Errors.Locate to err when it holds field errors; other errors are returned as is.
func Locate(err error, file string, line func(path string) int) error {
	if err == nil {
		return nil
	}
	var l List
	var es Errors
	var e *Error
	if !errors.As(err, &es) && !errors.As(err, &e) {
		if _, ok := err.(interface{ Unwrap() []error }); !ok {
			return err
		}
	}
	l.Append(err)
	return Errors(l.errs).Locate(file, line)
}
