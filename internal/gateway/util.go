package gateway

import (
	"io"
	"log"
	"strings"
)

type logFunc func(format string, args ...any)

func (f logFunc) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newStdLogger adapts the gateway's error log to the *log.Logger net/http wants (nil: discard).
func newStdLogger(f func(format string, args ...any)) *log.Logger {
	if f == nil {
		return log.New(io.Discard, "", 0)
	}
	return log.New(logFunc(f), "", 0)
}
