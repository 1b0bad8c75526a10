// Command cortex is the single binary of the platform: the CLI, and `cortex operator serve` for the server.
package main

import (
	"os"

	"github.com/cortexlabs-go/cortex/internal/cli/root"
)

func main() {
	os.Exit(root.Main(os.Args[1:]))
}
