package logs

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// On a terminal, what an API printed cannot drive the terminal (title changes, screen clears,
// cursor moves, fake colored lines): control characters and invalid UTF-8 are shown escaped,
// tabs and newlines kept. Piped, the output is byte-exact.
func TestCopyLogsEscapesControlsOnlyOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		name, in, tty string
	}{
		{"plain", "[echo-0] hello\tworld\n", "[echo-0] hello\tworld\n"},
		{"utf-8 kept", "[echo-0] héllo ✓ 日本\n", "[echo-0] héllo ✓ 日本\n"},
		{"title change", "\x1b]0;pwned\x07x\n", `\x1b]0;pwned\x07x` + "\n"},
		{"screen clear", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"fake colored line", "\r\x1b[32m[operator] ok\x1b[0m\n", `\x0d\x1b[32m[operator] ok\x1b[0m` + "\n"},
		{"8-bit CSI byte", "a\x9b2Jb", `a\x9b2Jb`},
		{"C1 CSI as UTF-8", "a\u009b2Jb", `a\u009b2Jb`},
		{"other C0, DEL", "\x00\x08\x7f\x0b\x0c", `\x00\x08\x7f\x0b\x0c`},
		{"invalid UTF-8", "a\xff\xc3(b\xe2\x82", `a\xff\xc3(b\xe2\x82`},
		{"backspace overwrite", "secret\b\b\b\b\b\bpublic\n", `secret\x08\x08\x08\x08\x08\x08public` + "\n"},
	} {
		for _, mode := range []struct {
			name     string
			terminal bool
			want     string
		}{{"terminal", true, tc.tty}, {"pipe", false, tc.in}} {
			for _, reader := range []struct {
				name string
				wrap func(io.Reader) io.Reader
			}{{"whole", func(r io.Reader) io.Reader { return r }}, {"byte by byte", iotest.OneByteReader}} {
				var out bytes.Buffer
				if err := copyLogs(&out, reader.wrap(strings.NewReader(tc.in)), mode.terminal); err != nil {
					t.Fatalf("%s/%s/%s: %v", tc.name, mode.name, reader.name, err)
				}
				if out.String() != mode.want {
					t.Errorf("%s/%s/%s: got %q, want %q", tc.name, mode.name, reader.name, out.String(), mode.want)
				}
			}
		}
	}
}
