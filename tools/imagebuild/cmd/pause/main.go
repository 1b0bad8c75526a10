// Command pause is the sandbox ("pause") container of a pod on the test node: it holds the pod's
// namespaces open and does nothing else. No registry is reachable on the test machine, so the
// image containerd's sandbox_image names is built here (scripts/build-images.sh) rather than
// pulled. Like Kubernetes' own pause, it reaps the zombies it inherits as PID 1 and exits 0 on
// SIGINT or SIGTERM.
//
// Change pauseVersion in scripts/build-images.sh when this program changes: it is the image's tag.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
