package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyRootFS stages a root filesystem with /etc/passwd (user 65532) and an executable /app.
func tinyRootFS(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("nonroot:x:65532:65532::/nonexistent:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "app"), []byte("#!/app\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/app", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestBuildRefusesWhatWouldBeUnsafeOrBroken(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(root string, s *Spec)
		want string
	}{
		{"root user", func(_ string, s *Spec) { s.User = "0" }, "root"},
		{"user name", func(_ string, s *Spec) { s.User = "nonroot" }, "numeric"},
		{"user not in passwd", func(_ string, s *Spec) { s.User = "1000" }, "no user with UID 1000"},
		{"no passwd", func(root string, _ *Spec) { os.Remove(filepath.Join(root, "etc", "passwd")) }, "/etc/passwd"},
		{"entrypoint missing", func(_ string, s *Spec) { s.Entrypoint = []string{"/nope"} }, "not in the image"},
		{"entrypoint not executable", func(root string, _ *Spec) { os.Chmod(filepath.Join(root, "app"), 0o644) }, "not an executable"},
		{"relative entrypoint", func(_ string, s *Spec) { s.Entrypoint = []string{"app"} }, "absolute"},
		{"no tag", func(_ string, s *Spec) { s.Name = "cortex" }, "tag"},
		{"latest", func(_ string, s *Spec) { s.Name = "cortex:latest" }, "other than latest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := tinyRootFS(t)
			spec := Spec{RootFS: root, Name: "tiny:1", User: "65532", Entrypoint: []string{"/link"}, Arch: "amd64", StripSetuid: true}
			c.edit(root, &spec)
			_, err := Build(spec, filepath.Join(t.TempDir(), "image.tar"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestBuildStripsSetuidAndWorldWrite(t *testing.T) {
	root := tinyRootFS(t)
	if err := os.Chmod(filepath.Join(root, "app"), 0o4777); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o1777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	spec := Spec{RootFS: root, Name: "tiny:1", User: "65532:65532", Entrypoint: []string{"/app"}, Arch: "amd64", StripSetuid: true}
	digest, err := Build(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	img := readArchive(t, out)
	if img.manifestDigest != digest {
		t.Errorf("Build returned %s, the archive holds %s", digest, img.manifestDigest)
	}
	if m := img.files["app"].Mode; m != 0o755 {
		t.Errorf("/app mode %o, want 755", m)
	}
	if m := img.files["tmp"].Mode; m != 0o1777 {
		t.Errorf("/tmp mode %o, want 1777", m)
	}
	checkCommon(t, img)
	if got := img.indexAnnotations[annotationContainerdName]; got != "docker.io/library/tiny:1" {
		t.Errorf("containerd name %q", got)
	}
}
