package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// KV is one ordered KEY=VALUE pair.
type KV struct{ Key, Value string }

// Spec is everything an image is made of; the same Spec over the same files gives the same digest.
type Spec struct {
	RootFS     string // the staged files, one layer
	Name       string // e.g. cortex:v1.2.3 or registry.example.com/cortex:v1.2.3
	User       string // numeric UID[:GID]
	Entrypoint []string
	Cmd        []string
	Env        []KV
	Labels     []KV
	Exposed    []string
	WorkingDir string
	Arch       string
	Epoch      int64 // image and file timestamps (SOURCE_DATE_EPOCH)
	// StripSetuid drops setuid/setgid bits (and world-write bits on anything but sticky
	// directories) from every file: nothing in these images needs them.
	StripSetuid   bool
	AllowRootUser bool
}

// Annotations on the index entry: containerd's importer (ctr images import) names the image after
// io.containerd.image.name; the OCI spec's ref.name carries the tag, as buildkit writes it.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// Build writes spec's image as an OCI image layout in a tar archive at out (plus a Docker
// manifest.json, as Docker 25's `docker save` writes, for `docker load`) and returns the manifest digest.
func Build(spec Spec, out string) (string, error) {
	ref, err := name.NewTag(spec.Name)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", spec.Name, err)
	}
	// An explicit tag, and not "latest": the kubelet always pulls :latest, and the test node has
	// no registry to pull from.
	if !strings.HasSuffix(spec.Name, ":"+ref.TagStr()) || ref.TagStr() == "latest" {
		return "", fmt.Errorf("image name %q: give a tag other than latest, e.g. cortex:v1.2.3", spec.Name)
	}
	if err := checkUser(spec); err != nil {
		return "", err
	}
	if err := checkEntrypoint(spec.RootFS, spec.Entrypoint[0]); err != nil {
		return "", err
	}
	created := time.Unix(spec.Epoch, 0).UTC()

	layerTar, err := packRootFS(spec.RootFS, created, spec.StripSetuid)
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "imagebuild (cortex tools/imagebuild)"},
	})
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: created}
	cfg.OS = "linux"
	cfg.Architecture = spec.Arch
	cfg.Config.User = spec.User
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Cmd = spec.Cmd
	cfg.Config.WorkingDir = spec.WorkingDir
	for _, kv := range spec.Env {
		cfg.Config.Env = append(cfg.Config.Env, kv.Key+"="+kv.Value)
	}
	if len(spec.Labels) > 0 {
		cfg.Config.Labels = map[string]string{}
		for _, kv := range spec.Labels {
			cfg.Config.Labels[kv.Key] = kv.Value
		}
	}
	if len(spec.Exposed) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.Exposed {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}

	// Lay the image out in a scratch directory next to out, then archive it and rename it into
	// place, so that a reader never sees a half-written archive.
	scratch, err := os.MkdirTemp(filepath.Dir(out), ".imagebuild-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	lp, err := layout.Write(filepath.Join(scratch, "layout"), empty.Index)
	if err != nil {
		return "", err
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		annotationContainerdName: containerdName(ref),
		annotationRefName:        ref.TagStr(),
	})); err != nil {
		return "", err
	}
	if err := writeDockerManifest(filepath.Join(scratch, "layout"), img, spec.Name); err != nil {
		return "", err
	}
	tmp := filepath.Join(scratch, "image.tar")
	if err := archiveDir(filepath.Join(scratch, "layout"), tmp, created); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return digest.String(), nil
}

// containerdName is the name containerd gives the image (its docker-style normalization):
// "cortex:v1" becomes "docker.io/library/cortex:v1", which is what the kubelet asks for when a
// pod says image: cortex:v1.
func containerdName(ref name.Tag) string {
	registry := ref.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + ref.RepositoryStr() + ":" + ref.TagStr()
}

// writeDockerManifest adds the manifest.json of a `docker save` archive, pointing into the OCI
// blobs (the layout Docker 25+ itself writes).
func writeDockerManifest(dir string, img v1.Image, repoTag string) error {
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: "blobs/sha256/" + cfgName.Hex, RepoTags: []string{repoTag}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		entry.Layers = append(entry.Layers, "blobs/sha256/"+d.Hex)
	}
	b, err := json.Marshal([]any{entry})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

// checkUser requires a numeric, non-root UID[:GID] that the image's /etc/passwd knows (programs
// that look their user up, Python's getpass among them, fail without an entry).
func checkUser(spec Spec) error {
	uidStr, gidStr, hasGID := strings.Cut(spec.User, ":")
	uid, err := strconv.ParseUint(uidStr, 10, 31)
	if err != nil {
		return fmt.Errorf("-user %q: give a numeric UID[:GID] (Kubernetes' runAsNonRoot can only check a numeric user)", spec.User)
	}
	if hasGID {
		if _, err := strconv.ParseUint(gidStr, 10, 31); err != nil {
			return fmt.Errorf("-user %q: the GID must be numeric", spec.User)
		}
	}
	if uid == 0 && !spec.AllowRootUser {
		return fmt.Errorf("-user 0: the image would run as root")
	}
	passwd, err := os.ReadFile(filepath.Join(spec.RootFS, "etc", "passwd"))
	if err != nil {
		return fmt.Errorf("the image needs an /etc/passwd listing user %s: %w", uidStr, err)
	}
	for _, line := range strings.Split(string(passwd), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 4 && f[2] == uidStr {
			return nil
		}
	}
	return fmt.Errorf("the image's /etc/passwd has no user with UID %s", uidStr)
}

// checkEntrypoint requires the entrypoint to be an executable regular file inside the root
// filesystem, following symlinks as the container would (absolute targets from the image's root).
func checkEntrypoint(root, entry string) error {
	if !path.IsAbs(entry) {
		return fmt.Errorf("entrypoint %q must be an absolute path", entry)
	}
	p := entry
	for range 40 {
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return fmt.Errorf("entrypoint %s is not in the image: %w", entry, err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				return err
			}
			if path.IsAbs(target) {
				p = path.Clean(target)
			} else {
				p = path.Join(path.Dir(p), target)
			}
		case fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0:
			return nil
		default:
			return fmt.Errorf("entrypoint %s (%s) is not an executable file", entry, p)
		}
	}
	return fmt.Errorf("entrypoint %s: too many symlinks", entry)
}

// archiveDir tars dir's files (regular files and directories only: an OCI layout has no other
// kind) in lexical order with fixed owners, modes and times.
func archiveDir(dir, out string, mtime time.Time) error {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		hdr := &tar.Header{Name: rel, ModTime: mtime}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
			return tw.WriteHeader(hdr)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, int64(len(b))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		default:
			return fmt.Errorf("%s: unexpected file type in the image layout", rel)
		}
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
