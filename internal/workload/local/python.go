package local

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// RuntimeServer is the HTTP server the Python runtime (runtime/serve.py) serves handlers with,
// pinned as in requirements-dev.txt.
const RuntimeServer = "waitress==3.0.2"

// CheckPython reports, with the command that fixes it, when python cannot run the serving runtime
// because it cannot import its HTTP server. Replicas of python handlers fail to start then (their
// status says the same); command handlers are not affected.
func CheckPython(python string) error {
	if python == "" {
		python = "python3"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", "import waitress").CombinedOutput()
	if err == nil {
		return nil
	}
	detail := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(detail, '\n'); i >= 0 {
		detail = detail[i+1:]
	}
	if detail == "" {
		detail = err.Error()
	}
	return fmt.Errorf("%s cannot run python handlers: the runtime's HTTP server is missing (%s); install it with `%s -m pip install '%s'`, or start the cluster with --python <an interpreter that has it>, e.g. the repo's .venv/bin/python (scripts/setup.sh)",
		python, detail, python, RuntimeServer)
}
