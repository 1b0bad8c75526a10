package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

func TestListLocateAndFormat(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("an empty list is no error")
	}
	l.Add("b", "second")
	e := l.Add("a", "first")
	e.Subject = `api "x" (#1)`
	l.Append(errors.Join(fmt.Errorf("node_groups[0].name: bad"), errors.New("a sentence: not a field")))
	lines := map[string]int{"a": 1, "b": 2, "node_groups[0]": 3}
	err := Locate(l.Err(), "f.yaml", func(p string) int { return lines[p] })
	want := "f.yaml:1: api \"x\" (#1): a: first\nf.yaml:2: b: second\nf.yaml: node_groups[0].name: bad\nf.yaml: a sentence: not a field"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Field != "a" {
		t.Errorf("errors.As finds the first problem: %+v", fe)
	}
	plain := errors.New("not a field error")
	if Locate(plain, "f.yaml", nil) != plain {
		t.Error("other errors pass through unchanged")
	}
}
