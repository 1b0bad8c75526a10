package local

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// maxReasonText bounds the part of a status reason that comes from a replica's output.
const maxReasonText = 300

// reasonText makes a line a replica printed fit to be a status reason, which the operator
// serves and `cortex get`, the Python client and JSON readers show as is: surrounding space
// trimmed; every control character (C0 but space, DEL, C1) and every byte that is not UTF-8
// shown escaped (\xNN, \u00NN), so that the API's bytes cannot drive a terminal; at most
// maxReasonText bytes (escapes included), cut at a character boundary and marked with "...".
func reasonText(line []byte) string {
	line = bytes.TrimSpace(line)
	out := make([]byte, 0, min(len(line), maxReasonText)+3)
	for len(line) > 0 {
		r, size := utf8.DecodeRune(line)
		var piece []byte
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = fmt.Appendf(nil, `\x%02x`, line[0])
		case r < 0x20 || r == 0x7f:
			piece = fmt.Appendf(nil, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			piece = fmt.Appendf(nil, `\u%04x`, r)
		default:
			piece = line[:size]
		}
		if len(out)+len(piece) > maxReasonText {
			return string(out) + "..."
		}
		out = append(out, piece...)
		line = line[size:]
	}
	return string(out)
}
