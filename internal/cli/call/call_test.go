package call

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func TestNewCmdCallParsesIntoOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want CallOptions
		err  string
	}{
		{args: []string{"echo"}, want: CallOptions{API: "echo"}},
		{args: []string{"echo", `{"x":1}`, "--path", "/health", "-X", "put"}, want: CallOptions{API: "echo", Payload: `{"x":1}`, Path: "/health", Method: "put"}},
		{args: nil, err: "accepts between 1 and 2 arg"},
		{args: []string{"a", "b", "c"}, err: "accepts between 1 and 2 arg"},
		{args: []string{"echo", "--path", "health"}, err: "--path must start with /"},
	} {
		for _, tty := range []bool{false, true} {
			f, _, _ := cmdutil.TestFactory(t.TempDir(), "", tty)
			var got *CallOptions
			err := cmdutil.ExecuteTest(NewCmdCall(f, func(o *CallOptions) error { got = o; return nil }), tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
				}
				continue
			}
			if err != nil || got.API != tc.want.API || got.Payload != tc.want.Payload || got.Path != tc.want.Path || got.Method != tc.want.Method {
				t.Errorf("%v: %+v %v", tc.args, got, err)
			}
		}
	}
}

func TestReadPayload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.json")
	_ = os.WriteFile(file, []byte(`{"from": "file"}`), 0o600)
	big := filepath.Join(t.TempDir(), "big.json")
	_ = os.WriteFile(big, bytes.Repeat([]byte(" "), maxPayload+1), 0o600)
	for _, tc := range []struct {
		arg, stdin, want, err string
	}{
		{arg: "", want: ""},
		{arg: `{"x": 1}`, want: `{"x": 1}`},
		{arg: "@-", stdin: `[1, 2]`, want: `[1, 2]`},
		{arg: "@" + file, want: `{"from": "file"}`},
		{arg: "@" + filepath.Join(t.TempDir(), "missing"), err: "no such file"},
		{arg: "@" + big, err: "larger than"},
		{arg: `{"x": `, err: "not valid JSON"},
		{arg: "@-", stdin: "not json", err: "not valid JSON"},
	} {
		ios, in, _, _ := cmdutil.Test()
		in.WriteString(tc.stdin)
		got, err := readPayload(ios, tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: %q %v", tc.arg, got, err)
		}
	}
}

// The answer ends with exactly one newline, whatever the API sent (issue 12, item 10).
func TestCopyEndingInNewline(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		`{"a": 1}`:     "{\"a\": 1}\n",
		"{\"a\": 1}\n": "{\"a\": 1}\n",
		"two\nlines":   "two\nlines\n",
	} {
		var b bytes.Buffer
		if _, err := copyEndingInNewline(&b, strings.NewReader(in)); err != nil || b.String() != want {
			t.Errorf("%q: %q %v", in, b.String(), err)
		}
	}
}
