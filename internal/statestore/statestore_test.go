package statestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// Two writers that read the same version: the second one's write is refused and the first one's
// stays (no lost write); the file is private.
func TestFilesConflict(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := statestore.NewFiles(dir)
	a, b := statestore.NewDoc(store, "access.json"), statestore.NewDoc(store, "access.json")
	for _, d := range []*statestore.Doc{a, b} {
		if _, ok, err := d.Load(ctx); err != nil || ok {
			t.Fatalf("load of a missing document: %v %v", ok, err)
		}
	}
	if err := a.Save(ctx, []byte(`{"by":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, []byte(`{"by":"b"}`)); !errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("second writer: err = %v, want a conflict", err)
	}
	if err := a.Save(ctx, []byte(`{"by":"a2"}`)); err != nil {
		t.Fatalf("the writer that saw the last version: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "access.json"))
	if err != nil || string(data) != `{"by":"a2"}` {
		t.Fatalf("file holds %s %v", data, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "access.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, _, err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, []byte(`{"by":"b"}`)); err != nil {
		t.Fatalf("after reading again: %v", err)
	}
	if _, _, _, err := store.Read(ctx, "../escape.json"); err == nil {
		t.Error("a name with a path was accepted")
	}
}
