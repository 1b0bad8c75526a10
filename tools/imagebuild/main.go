// Command imagebuild writes a container image from a staged root filesystem into an OCI image
// archive, without a Docker daemon or a registry: the images the real-node tests import with
// `ctr -n k8s.io images import` (its manifest.json is for `docker load`, not tried).
//
//	imagebuild -rootfs DIR -name cortex:v1 -out cortex.tar -user 65532:65532 -entrypoint '["/cortex"]'
//
// The image has one layer holding DIR, packed reproducibly (see layer.go), so the same inputs
// always give the same manifest digest, which it prints on stdout. It is a module of its own
// (tools/imagebuild/go.mod) so that go-containerregistry never enters the product's binary.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

// listFlag collects a repeatable KEY=VALUE flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string) error {
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	var (
		spec           Spec
		entry, cmd     string
		env, labels    listFlag
		exposed        listFlag
		out            string
		epoch          int64
		stripSetuid    = true
		allowRootUser  bool
		workdirDefault = "/"
	)
	fs.StringVar(&spec.RootFS, "rootfs", "", "directory holding the image's files (required)")
	fs.StringVar(&spec.Name, "name", "", "image name with a tag, e.g. cortex:v1.2.3 (required)")
	fs.StringVar(&out, "out", "", "where to write the OCI archive (required)")
	fs.StringVar(&spec.User, "user", "", "numeric UID[:GID] the image runs as (required, not 0)")
	fs.StringVar(&entry, "entrypoint", "", `entrypoint as a JSON array, e.g. '["/cortex"]' (required)`)
	fs.StringVar(&cmd, "cmd", "", `default arguments as a JSON array`)
	fs.Var(&env, "env", "KEY=VALUE environment variable (repeatable)")
	fs.Var(&labels, "label", "KEY=VALUE image label (repeatable)")
	fs.Var(&exposed, "expose", "port the image listens on, e.g. 8080/tcp (repeatable)")
	fs.StringVar(&spec.WorkingDir, "workdir", workdirDefault, "working directory")
	fs.Int64Var(&epoch, "epoch", 0, "timestamp of the image and of every file, in Unix seconds (SOURCE_DATE_EPOCH)")
	fs.StringVar(&spec.Arch, "arch", runtime.GOARCH, "image architecture")
	fs.BoolVar(&allowRootUser, "allow-root-user", false, "allow -user 0 (never needed by cortex's images)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if spec.RootFS == "" || spec.Name == "" || out == "" || spec.User == "" || entry == "" {
		return fmt.Errorf("-rootfs, -name, -out, -user and -entrypoint are required")
	}
	if err := json.Unmarshal([]byte(entry), &spec.Entrypoint); err != nil || len(spec.Entrypoint) == 0 {
		return fmt.Errorf("-entrypoint must be a non-empty JSON array of strings: %q", entry)
	}
	if cmd != "" {
		if err := json.Unmarshal([]byte(cmd), &spec.Cmd); err != nil {
			return fmt.Errorf("-cmd must be a JSON array of strings: %q", cmd)
		}
	}
	var err error
	if spec.Env, err = keyValues("env", env); err != nil {
		return err
	}
	if spec.Labels, err = keyValues("label", labels); err != nil {
		return err
	}
	spec.Exposed = exposed
	spec.Epoch = epoch
	spec.StripSetuid = stripSetuid
	spec.AllowRootUser = allowRootUser

	digest, err := Build(spec, out)
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// keyValues checks KEY=VALUE pairs and keeps their order (the config's Env is ordered).
func keyValues(what string, pairs []string) ([]KV, error) {
	var kvs []KV
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-%s %q is not KEY=VALUE", what, p)
		}
		kvs = append(kvs, KV{k, v})
	}
	return kvs, nil
}
