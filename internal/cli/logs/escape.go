package logs

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// copyLogs copies an API's log stream to dst: byte-exact when dst is not a terminal; on a
// terminal through terminalWriter, so that the API's output cannot drive the user's terminal.
func copyLogs(dst io.Writer, src io.Reader, terminal bool) error {
	if !terminal {
		_, err := io.Copy(dst, src)
		return err
	}
	tw := &terminalWriter{w: dst}
	_, err := io.Copy(tw, src)
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// terminalWriter writes text with its control characters shown escaped: every C0 control but tab
// and newline, DEL and invalid UTF-8 bytes as \xNN, the C1 controls (U+0080–U+009F) as \uNNNN.
// Everything else, multi-byte UTF-8 included, passes as is. A UTF-8 sequence cut by a Write
// boundary waits for the next Write; Flush escapes what is left of one at the end.
type terminalWriter struct {
	w       io.Writer
	pending []byte // an incomplete UTF-8 sequence at the end of the last Write
}

func (t *terminalWriter) Write(p []byte) (int, error) {
	buf := append(t.pending, p...)
	t.pending = nil
	out := make([]byte, 0, len(buf))
	for len(buf) > 0 {
		c := buf[0]
		if c < utf8.RuneSelf {
			if c == '\t' || c == '\n' || (c >= 0x20 && c != 0x7f) {
				out = append(out, c)
			} else {
				out = fmt.Appendf(out, `\x%02x`, c)
			}
			buf = buf[1:]
			continue
		}
		if !utf8.FullRune(buf) {
			t.pending = append([]byte(nil), buf...)
			break
		}
		r, size := utf8.DecodeRune(buf)
		switch {
		case r == utf8.RuneError && size == 1:
			out = fmt.Appendf(out, `\x%02x`, c)
		case r >= 0x80 && r <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, buf[:size]...)
		}
		buf = buf[size:]
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is left of an incomplete UTF-8 sequence, escaped.
func (t *terminalWriter) Flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	out := make([]byte, 0, 4*len(t.pending))
	for _, c := range t.pending {
		out = fmt.Appendf(out, `\x%02x`, c)
	}
	t.pending = nil
	_, err := t.w.Write(out)
	return err
}

// Escape returns s as terminalWriter shows it: its control characters and invalid UTF-8
// escaped. For text from an API that other commands print (`cortex get` shows status reasons).
func Escape(s string) string {
	var b strings.Builder
	tw := &terminalWriter{w: &b}
	_, _ = tw.Write([]byte(s))
	_ = tw.Flush()
	return b.String()
}
