package local

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cortexlabs-go/cortex/internal/workload"
)

// logRecord is a line of a replica's log file.
type logRecord struct {
	Time    string `json:"time"`
	API     string `json:"api"`
	Replica int    `json:"replica"`
	Source  string `json:"source"`
	Msg     string `json:"msg"`
}

// An API's output is data: whatever it prints, every line of its log file is a valid JSON record
// (UTF-8), its own lines are marked source "api" (it cannot forge the supervisor's "cortex"
// records), and every line `cortex logs` serves starts with the replica's prefix.
func TestHostileAPIOutputCannotBreakTheLogs(t *testing.T) {
	b := newBackend(t)
	b.opts.BaseEnv = append(defaultBaseEnv(), "CORTEX_TEST_HELPER=hostile")
	if err := b.Apply(context.Background(), workload.Deployment{Spec: helperSpec(t, "hostile", "hostile", 1)}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(b.opts.Dir, "logs", "hostile", "replica-0.log")
	var records []logRecord
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		records = records[:0]
		supervisor := false
		for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" {
				continue
			}
			var r logRecord
			if !utf8.ValidString(line) || !json.Valid([]byte(line)) || json.Unmarshal([]byte(line), &r) != nil {
				t.Fatalf("line %d of %s is not a JSON record: %q", i, file, line)
			}
			records = append(records, r)
			supervisor = supervisor || r.Source == "cortex"
		}
		if supervisor {
			break // the replica exited and the supervisor said so
		}
		if time.Now().After(deadline) {
			t.Fatalf("no supervisor record in %s:\n%s", file, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var forged, long, last bool
	for _, r := range records {
		if r.API != "hostile" || r.Replica != 0 || r.Time == "" {
			t.Errorf("record %+v", r)
		}
		switch {
		case r.Source == "cortex":
			if !strings.Contains(r.Msg, "restarting in") {
				t.Errorf("a supervisor record that the supervisor did not write: %+v", r)
			}
		case r.Source != "api":
			t.Errorf("record %+v: source %q", r, r.Source)
		case strings.Contains(r.Msg, `"msg":"forged"`):
			forged = true
		case strings.HasPrefix(r.Msg, "AAAA"):
			long = true
		case r.Msg == `"quoted" \ no newline at the end`:
			last = true
		}
	}
	if !forged || !long || !last {
		t.Errorf("output lost: forged=%t long=%t last=%t in %+v", forged, long, last, records)
	}

	// The stream `cortex logs` reads: one line per record, each with the replica's prefix (the
	// supervisor's events with their own).
	var buf bytes.Buffer
	if err := b.Logs(context.Background(), "hostile", false, &buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "[hostile-0] ") && !(strings.HasPrefix(line, "[hostile-0 cortex] ") && strings.Contains(line, "restarting in")) {
			t.Errorf("served line without the replica's prefix: %q", line)
		}
	}
}
