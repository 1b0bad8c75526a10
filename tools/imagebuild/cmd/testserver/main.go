// Command testserver is the smallest useful container API: it answers every HTTP request on
// $PORT (default 8080, all interfaces, as a pod must) with a JSON object describing the request,
// echoing a JSON body back under "body". The real-node tests deploy it as a `container` API and
// call it through the gateway. GET /healthz answers {"ok":true} for readiness probes.
//
// Change testserverVersion in scripts/build-images.sh when this program changes: it is the tag.
package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply := map[string]any{"server": "cortex-testserver", "hostname": host, "method": r.Method, "path": r.URL.Path}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body over 1 MiB"})
			return
		}
		if len(body) > 0 {
			var v any
			if json.Unmarshal(body, &v) == nil {
				reply["body"] = v
			} else {
				reply["body"] = string(body)
			}
		}
		writeJSON(w, http.StatusOK, reply)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("testserver listening on :%s", port)
	log.Fatal(srv.ListenAndServe())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
