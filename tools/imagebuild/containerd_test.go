package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImagesRunInContainerd imports the archives into a real containerd, as the real-node tests
// do (`ctr -n k8s.io images import`), checks the names the kubelet will look up, and runs the
// static images with a read-only root filesystem: the test server answers JSON, cortex prints its
// version. containerd and runc come from $CORTEX_CONTAINERD_DIR (a directory holding containerd,
// containerd-shim-runc-v2, ctr and runc) or else from Debian's packages, downloaded once into
// .cache/images/downloads/containerd and unpacked (not installed). It needs root.
func TestImagesRunInContainerd(t *testing.T) {
	images := cachedImages(t)
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	bin := containerdBinaries(t)
	dir, err := os.MkdirTemp("", "ctrd-") // short: the socket path must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(filepath.Join(bin, "containerd"), "--config", filepath.Join(dir, "config.toml"))
	daemon.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH")) // the shim finds runc on PATH
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- daemon.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = daemon.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Logf("containerd.log:\n%s", b)
		}
		os.RemoveAll(dir)
	})
	ctr := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "ctr"), append([]string{"-a", sock, "-n", "k8s.io"}, args...)...)
		cmd.Env = daemon.Env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	waitFor(t, 30*time.Second, "containerd to answer", func() error { _, err := ctr("version"); return err })

	for role, img := range images {
		if out, err := ctr("images", "import", img.Archive); err != nil {
			t.Fatalf("import %s: %v\n%s", role, err, out)
		}
	}
	listed, err := ctr("images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for role, img := range images {
		if !strings.Contains(listed, "docker.io/library/"+img.Name+"\n") {
			t.Errorf("%s: containerd lists no docker.io/library/%s:\n%s", role, img.Name, listed)
		}
	}

	version, err := ctr("run", "--rm", "--read-only", "docker.io/library/"+images["cortex"].Name, "cortex-version", "/cortex", "version")
	if err != nil || !strings.HasPrefix(version, "cortex "+strings.TrimPrefix(images["cortex"].Name, "cortex:")) {
		t.Errorf("cortex version in the image: %v\n%s", err, version)
	}
	if out, err := ctr("run", "--rm", "--read-only", "docker.io/library/"+images["cortex"].Name, "cortex-sh", "/bin/sh", "-c", "true"); err == nil {
		t.Errorf("/bin/sh ran in the cortex image:\n%s", out)
	}

	t.Run("testserver", func(t *testing.T) {
		port := freePort(t)
		reply := runServer(t, ctr, daemon.Env, bin, sock, "testserver", []string{"--env", "PORT=" + port},
			images["testserver"].Name, "http://127.0.0.1:"+port+"/hello")
		if reply["path"] != "/hello" || reply["server"] != "cortex-testserver" {
			t.Errorf("test server answered %v", reply)
		}
	})
	t.Run("python-runtime", func(t *testing.T) {
		handler := t.TempDir()
		// The handler imports the standard-library modules whose shared libraries the image carries.
		code := "import json, ssl, sqlite3, uuid, decimal, lzma, bz2, ctypes\n" +
			"class Handler:\n" +
			"    def __init__(self, config):\n        pass\n" +
			"    def handle_post(self, payload):\n        return {\"echo\": payload, \"ssl\": ssl.OPENSSL_VERSION}\n"
		if err := os.WriteFile(filepath.Join(handler, "handler.py"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(handler, 0o755)
		port := freePort(t)
		reply := runServer(t, ctr, daemon.Env, bin, sock, "python", []string{
			"--mount", "type=bind,src=" + handler + ",dst=/handler,options=rbind:ro",
			"--env", "CORTEX_HANDLER_PATH=/handler/handler.py", "--env", "CORTEX_PORT=" + port,
		}, images["python-runtime"].Name, "http://127.0.0.1:"+port+"/")
		if echo, _ := reply["echo"].(map[string]any); echo["a"] != 1.0 || !strings.HasPrefix(fmt.Sprint(reply["ssl"]), "OpenSSL") {
			t.Errorf("python runtime answered %v", reply)
		}
	})
	t.Run("pause", func(t *testing.T) {
		pause := exec.Command(filepath.Join(bin, "ctr"), "-a", sock, "-n", "k8s.io", "run", "--rm", "--read-only",
			"docker.io/library/"+images["pause"].Name, "pause")
		pause.Env = daemon.Env
		if err := pause.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "the pause container to run", func() error {
			out, err := ctr("task", "ls")
			if err == nil && (!strings.Contains(out, "\npause ") || !strings.Contains(out, "RUNNING")) {
				err = fmt.Errorf("not running:\n%s", out)
			}
			return err
		})
		if out, err := ctr("task", "kill", "-s", "SIGTERM", "pause"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if err := pause.Wait(); err != nil {
			t.Errorf("pause after SIGTERM: %v (want exit 0)", err)
		}
	})
}

// runServer runs image as container id with host networking and a read-only root, POSTs {"a":1}
// to url until it answers JSON, stops the container and returns the answer.
func runServer(t *testing.T, ctr func(...string) (string, error), env []string, bin, sock, id string, flags []string, image, url string) map[string]any {
	t.Helper()
	args := append([]string{"-a", sock, "-n", "k8s.io", "run", "--rm", "--net-host", "--read-only"}, flags...)
	server := exec.Command(filepath.Join(bin, "ctr"), append(args, "docker.io/library/"+image, id)...)
	server.Env = env
	var serverOut bytes.Buffer
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	defer func() {
		_, _ = ctr("task", "kill", "-s", "SIGTERM", id)
		<-exited
	}()
	var reply map[string]any
	waitFor(t, 60*time.Second, id+" to answer", func() error {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited before answering (%v):\n%s", id, err, serverOut.String())
		default:
		}
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return json.Unmarshal(b, &reply)
	})
	return reply
}

// containerdBinaries returns a directory holding containerd, its runc shim, ctr and runc:
// scripts/node-bins.sh's (Debian's packages, downloaded once and unpacked, or
// $CORTEX_CONTAINERD_DIR), the same the real-node tests of internal/testutil/kubetest run.
func containerdBinaries(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot, "scripts", "node-bins.sh")).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Skipf("no containerd: scripts/node-bins.sh: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}
