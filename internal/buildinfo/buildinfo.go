// Package buildinfo holds the version stamped into the binary at build time.
package buildinfo

import "runtime/debug"

// Version is set with -ldflags "-X github.com/cortexlabs-go/cortex/internal/buildinfo.Version=v1.2.3".
var Version = "dev"

// Commit returns the VCS revision recorded by the Go toolchain, or "unknown".
func Commit() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
