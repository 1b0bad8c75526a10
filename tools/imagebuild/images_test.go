package main

// These tests read the archives scripts/build-images.sh writes with the standard library alone
// (archive/tar, compress/gzip, encoding/json, debug/elf): they check the artefact a node imports,
// not go-containerregistry's view of it.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the cortex checkout this module lives in.
const repoRoot = "../.."

type imageEntry struct {
	Name    string `json:"name"`
	Digest  string `json:"digest"`
	Archive string `json:"archive"`
}

// ociImage is an image read back from an archive: its index, manifest, config and files.
type ociImage struct {
	indexAnnotations map[string]string
	manifestDigest   string
	config           struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       struct {
			User       string            `json:"User"`
			Entrypoint []string          `json:"Entrypoint"`
			Env        []string          `json:"Env"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
	}
	files map[string]*tar.Header // by path, without a leading "/"
	data  map[string][]byte      // regular files' contents
}

// defaultImages is the build into .cache/images, made once for all the tests that read it.
var defaultImages struct {
	once   sync.Once
	images map[string]imageEntry
	err    error
}

// cachedImages runs scripts/build-images.sh into .cache/images (where the real-node tests find
// the archives) once per test binary and returns its images.json.
func cachedImages(t *testing.T) map[string]imageEntry {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the images (go build, apt-get download): not in -short")
	}
	defaultImages.once.Do(func() { defaultImages.images, defaultImages.err = buildImages() })
	if defaultImages.err != nil {
		t.Fatal(defaultImages.err)
	}
	return defaultImages.images
}

// buildImages runs scripts/build-images.sh with args and returns its images.json.
func buildImages(args ...string) (map[string]imageEntry, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "build-images.sh"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("build-images.sh %v: %v\n%s", args, err, out)
	}
	outDir := filepath.Join(repoRoot, ".cache", "images")
	for i, a := range args {
		if a == "--out" {
			outDir = args[i+1]
		}
	}
	b, err := os.ReadFile(filepath.Join(outDir, "images.json"))
	if err != nil {
		return nil, err
	}
	images := map[string]imageEntry{}
	if err := json.Unmarshal(b, &images); err != nil {
		return nil, fmt.Errorf("images.json: %v\n%s", err, b)
	}
	return images, nil
}

func TestImages(t *testing.T) {
	images := cachedImages(t)
	for _, role := range []string{"cortex", "pause", "testserver", "python-runtime"} {
		if _, ok := images[role]; !ok {
			t.Fatalf("images.json has no %s image: %v", role, images)
		}
	}
	static := map[string]string{"cortex": "/cortex", "pause": "/pause", "testserver": "/testserver"}
	for role, entry := range images {
		t.Run(role, func(t *testing.T) {
			img := readArchive(t, entry.Archive)
			if img.manifestDigest != entry.Digest {
				t.Errorf("index points at manifest %s, images.json says %s", img.manifestDigest, entry.Digest)
			}
			if got := img.indexAnnotations[annotationContainerdName]; got != "docker.io/library/"+entry.Name {
				t.Errorf("containerd name %q, want docker.io/library/%s", got, entry.Name)
			}
			checkCommon(t, img)
			if len(img.data["etc/ssl/certs/ca-certificates.crt"]) == 0 {
				t.Error("no CA certificates at /etc/ssl/certs/ca-certificates.crt")
			}
			if want, ok := static[role]; ok {
				if got := img.config.Config.Entrypoint; len(got) != 1 || got[0] != want {
					t.Errorf("entrypoint %q, want [%s]", got, want)
				}
				checkNoShell(t, img)
				checkStatic(t, img, want)
			}
		})
	}
	t.Run("python-runtime/contents", func(t *testing.T) {
		img := readArchive(t, images["python-runtime"].Archive)
		if got := img.config.Config.Entrypoint; len(got) != 2 || got[0] != "/usr/bin/python3" || got[1] != "/opt/cortex/serve.py" {
			t.Errorf("entrypoint %q", got)
		}
		serve, err := os.ReadFile(filepath.Join(repoRoot, "internal/workload/local/runtime/serve.py"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img.data["opt/cortex/serve.py"], serve) {
			t.Error("/opt/cortex/serve.py is not the repository's runtime script")
		}
		for _, f := range []string{"usr/bin/python3.11", "usr/lib/python3.11/json/__init__.py",
			"usr/lib/python3/dist-packages/waitress/__init__.py", "etc/ssl/certs/ca-certificates.crt"} {
			if _, ok := img.files[f]; !ok {
				t.Errorf("no /%s", f)
			}
		}
		if h := img.files["usr/bin/python3"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "python3.11" {
			t.Errorf("/usr/bin/python3 is not a symlink to python3.11: %+v", h)
		}
	})
}

// TestImagesAreReproducible builds every image a second time from scratch into another directory
// (the downloads are shared, nothing else is) and expects the same digests, byte for byte.
func TestImagesAreReproducible(t *testing.T) {
	first := cachedImages(t)
	second, err := buildImages("--out", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for role, a := range first {
		b, ok := second[role]
		if !ok || a.Digest != b.Digest || a.Name != b.Name {
			t.Errorf("%s: first build %s %s, second build %s %s", role, a.Name, a.Digest, b.Name, b.Digest)
		}
		ab, errA := os.ReadFile(a.Archive)
		bb, errB := os.ReadFile(b.Archive)
		if errA != nil || errB != nil || !bytes.Equal(ab, bb) {
			t.Errorf("%s: the archives differ (%v, %v)", role, errA, errB)
		}
	}
}

// checkCommon: a numeric non-root user that /etc/passwd knows, linux, and sane files: owned by
// root, no setuid/setgid, nothing group- or world-writable but sticky directories.
func checkCommon(t *testing.T, img *ociImage) {
	t.Helper()
	if img.config.OS != "linux" || img.config.Architecture == "" {
		t.Errorf("platform %s/%s", img.config.OS, img.config.Architecture)
	}
	uid, _, _ := strings.Cut(img.config.Config.User, ":")
	if uid == "" || uid == "0" || strings.Trim(uid, "0123456789") != "" {
		t.Errorf("user %q: want a numeric non-root UID", img.config.Config.User)
	}
	found := false
	for _, line := range strings.Split(string(img.data["etc/passwd"]), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 7 && f[2] == uid {
			found = true
		}
	}
	if !found {
		t.Errorf("/etc/passwd has no user %s", uid)
	}
	for name, h := range img.files {
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("/%s is owned by %d:%d, want 0:0", name, h.Uid, h.Gid)
		}
		if h.Mode&0o6000 != 0 {
			t.Errorf("/%s is setuid/setgid (%o)", name, h.Mode)
		}
		if h.Typeflag != tar.TypeSymlink && h.Mode&0o022 != 0 && !(h.Typeflag == tar.TypeDir && h.Mode&0o1000 != 0) {
			t.Errorf("/%s is group- or world-writable (%o)", name, h.Mode)
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir && h.Typeflag != tar.TypeSymlink {
			t.Errorf("/%s has tar type %q", name, h.Typeflag)
		}
	}
}

// checkNoShell: a static image carries no shell or other interpreter an attacker could use.
func checkNoShell(t *testing.T, img *ociImage) {
	t.Helper()
	for name := range img.files {
		switch path.Base(name) {
		case "sh", "bash", "dash", "ash", "busybox", "python3", "perl":
			t.Errorf("/%s: no shell or interpreter belongs in this image", name)
		}
	}
	var executables []string
	for name, h := range img.files {
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 {
			executables = append(executables, "/"+name)
		}
	}
	if len(executables) != 1 {
		t.Errorf("executables %v: want only the entrypoint", executables)
	}
}

// checkStatic: the program is an ELF executable with no interpreter (PT_INTERP) and no shared
// libraries, so it runs on an empty root filesystem.
func checkStatic(t *testing.T, img *ociImage, program string) {
	t.Helper()
	b, ok := img.data[strings.TrimPrefix(program, "/")]
	if !ok {
		t.Fatalf("%s is not in the image", program)
	}
	if err := staticELF(b); err != nil {
		t.Errorf("%s: %v", program, err)
	}
	if h := img.files[strings.TrimPrefix(program, "/")]; h.Mode&0o777 != 0o755 {
		t.Errorf("%s has mode %o, want 755", program, h.Mode)
	}
}

func staticELF(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		return fmt.Errorf("ELF type %v, want a static executable (ET_EXEC)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (has an interpreter, PT_INTERP)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %v", libs)
	}
	return nil
}

// TestStaticELFRefusesDynamicBinaries: the check above can fail, on this machine's own
// dynamically linked programs.
func TestStaticELFRefusesDynamicBinaries(t *testing.T) {
	for _, p := range []string{"/bin/ls", "/usr/bin/env"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Skipf("%s: %v", p, err)
		}
		if err := staticELF(b); err == nil {
			t.Errorf("%s passed as static", p)
		}
	}
}

// readArchive reads an OCI image archive, checking every blob against its digest.
func readArchive(t *testing.T, archive string) *ociImage {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			entries[h.Name] = b
		}
	}
	var layoutFile struct {
		Version string `json:"imageLayoutVersion"`
	}
	mustJSON(t, entries["oci-layout"], &layoutFile)
	if layoutFile.Version != "1.0.0" {
		t.Fatalf("oci-layout version %q", layoutFile.Version)
	}
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations"`
	}
	blob := func(d descriptor) []byte {
		t.Helper()
		b, ok := entries["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		if !ok {
			t.Fatalf("blob %s missing", d.Digest)
		}
		sum := sha256.Sum256(b)
		if "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || int64(len(b)) != d.Size {
			t.Fatalf("blob %s: content does not match its digest or size", d.Digest)
		}
		return b
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	mustJSON(t, entries["index.json"], &index)
	if len(index.Manifests) != 1 || index.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("index.json: %+v", index)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	mustJSON(t, blob(index.Manifests[0]), &manifest)
	img := &ociImage{
		indexAnnotations: index.Manifests[0].Annotations,
		manifestDigest:   index.Manifests[0].Digest,
		files:            map[string]*tar.Header{},
		data:             map[string][]byte{},
	}
	mustJSON(t, blob(manifest.Config), &img.config)

	// Docker's manifest.json must point at the same config and layers.
	var docker []struct{ Config string }
	mustJSON(t, entries["manifest.json"], &docker)
	if len(docker) != 1 || docker[0].Config != "blobs/sha256/"+strings.TrimPrefix(manifest.Config.Digest, "sha256:") {
		t.Errorf("manifest.json %+v does not point at config %s", docker, manifest.Config.Digest)
	}

	for _, l := range manifest.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Fatalf("layer media type %s", l.MediaType)
		}
		gz, err := gzip.NewReader(bytes.NewReader(blob(l)))
		if err != nil {
			t.Fatal(err)
		}
		lt := tar.NewReader(gz)
		for {
			h, err := lt.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
			img.files[name] = h
			if h.Typeflag == tar.TypeReg {
				if img.data[name], err = io.ReadAll(lt); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return img
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}
