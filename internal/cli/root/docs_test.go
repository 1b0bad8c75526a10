package root

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every curl example that sends a body says it is JSON: the APIs' runtime parses the body by its
// Content-Type, and curl -d sends application/x-www-form-urlencoded (issue 12, item 10).
func TestDocsCurlExamplesSendJSONContentType(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	data := regexp.MustCompile(`\s(-d|--data|--data-binary|--data-raw)\s`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			at := strings.Index(lines[i], "curl ")
			if at < 0 {
				continue
			}
			cmd := lines[i][at:]
			// Follow backslash continuations (also inside a comment: "#   -H ...").
			for strings.HasSuffix(strings.TrimSpace(cmd), `\`) && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(strings.TrimSpace(cmd), `\`) + " " + strings.TrimLeft(strings.TrimSpace(lines[i]), "# ")
			}
			if !data.MatchString(cmd + " ") {
				continue
			}
			n++
			if !strings.Contains(cmd, "Content-Type: application/json") {
				t.Errorf("%s: a curl example sends a body without Content-Type: application/json:\n  %s", f, cmd)
			}
		}
	}
	if n == 0 {
		t.Fatal("found no curl example with a body: the test checks nothing")
	}
}
