// Command gobundle is a test helper of the Python client's tests (python/tests/test_bundle.py):
// it prints what the Go CLI's `cortex deploy` would send for a project directory, so the tests
// compare the Python client's upload with it byte for byte. With -verify it instead reads an
// upload (JSON, as the operator receives it) on standard input and checks it as the operator does.
//
//	gobundle DIR          -> {"upload": {...}} or {"error": "..."}
//	gobundle -verify      -> {"ok": true} or {"error": "..."}
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/cortexlabs-go/cortex/internal/bundle"
)

func main() {
	verify := flag.Bool("verify", false, "verify an upload read from standard input (bundle.Verify)")
	flag.Parse()
	out := map[string]any{}
	switch {
	case *verify:
		var u bundle.Upload
		if err := json.NewDecoder(os.Stdin).Decode(&u); err != nil {
			out["error"] = "decode: " + err.Error()
		} else if err := bundle.Verify(u); err != nil {
			out["error"] = err.Error()
		} else {
			out["ok"] = true
		}
	case flag.NArg() == 1:
		u, err := bundle.Read(flag.Arg(0))
		if err != nil {
			out["error"] = err.Error()
		} else {
			out["upload"] = u
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: gobundle DIR | gobundle -verify < upload.json")
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
