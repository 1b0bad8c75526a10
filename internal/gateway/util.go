package gateway

import (
	"context"
	"log"
	"net/http"
	"strings"
)

func contextWith(r *http.Request, info *reqInfo) context.Context {
	return context.WithValue(r.Context(), ctxKey{}, info)
}

type logFunc func(format string, args ...any)

func (f logFunc) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newStdLogger(f func(format string, args ...any)) *log.Logger {
	return log.New(logFunc(f), "", 0)
}
