package identity

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fuzz targets' operator: cluster "cluster-a", audience testAudience, the aws partition, at
// testNow (the same as the hostile table's).
const fuzzCluster = "cluster-a"

// stsRecorder stands in for STS in the fuzz targets: it records every request the verifier sends
// and answers 403, so that a fuzzed token can never verify and the run never leaves the process.
type stsRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func (r *stsRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.body = append(r.body, string(b))
	r.mu.Unlock()
	return &http.Response{StatusCode: 403, Header: http.Header{"Content-Type": {"text/xml"}},
		Body: io.NopCloser(strings.NewReader(`<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>`)), Request: req}, nil
}

// fieldToken encodes fuzzed fields the way a client would, so that mutations act on the token's
// meaning rather than on its base64: host, date, audience, authorization in wire order, then an
// optional security_token and an optional extra key (which may repeat a known one).
func fieldToken(host, date, audience, authz, secTok string, withSecTok bool, extraKey, extraVal string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	add := func(k, v string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(v)
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	add("host", host)
	add("date", date)
	add("audience", audience)
	add("authorization", authz)
	if withSecTok {
		add("security_token", secTok)
	}
	if extraKey != "" {
		add(extraKey, extraVal)
	}
	b.WriteByte('}')
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// verifyFuzzed runs one token through a fresh verifier and checks the oracle.
func verifyFuzzed(t *testing.T, hosts HostTable, tok string) error {
	rec := &stsRecorder{}
	v, err := NewVerifier(VerifierConfig{Hosts: hosts, ClusterID: fuzzCluster, Audiences: []string{testAudience},
		HTTPClient: &http.Client{Transport: rec}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), tok)
	if err == nil {
		t.Fatal("verified although STS answered 403")
	}
	if !errors.Is(err, ErrInvalid) {
		// STS here always answers; anything else is a malformed token mistaken for an outage.
		t.Fatalf("a bad token was classified as %v", err)
	}
	for i, req := range rec.reqs {
		checkOutbound(t, hosts, req, rec.body[i])
	}
	if len(rec.reqs) > 0 && Code(err) != "sts_rejected" {
		t.Fatalf("STS was called but the error is %v", err)
	}
	return err
}

// checkOutbound is the fuzz oracle: what reaches STS must be exactly the contract's request for
// this operator. It deliberately does not call precheck or parseAuthorization: it re-derives
// every property from the request that was actually sent.
func checkOutbound(t *testing.T, hosts HostTable, req *http.Request, body string) {
	t.Helper()
	ep, ok := hosts[req.URL.Host]
	if !ok || req.URL.Scheme != "https" || req.URL.Path != "/" || req.URL.RawQuery != "" || req.Host != req.URL.Host || req.Method != "POST" {
		t.Fatalf("request to a host or URL that is not allowlisted: %s %s (Host %q)", req.Method, req.URL, req.Host)
	}
	if body != "Action=GetCallerIdentity&Version=2011-06-15" {
		t.Fatalf("body %q", body)
	}
	h := req.Header
	if h.Get("X-Cortex-Cluster-Id") != fuzzCluster || len(h.Values("X-Cortex-Cluster-Id")) != 1 {
		t.Fatalf("cluster id header %q, want the operator's own", h.Values("X-Cortex-Cluster-Id"))
	}
	if h.Get("X-Cortex-Audience") != testAudience || len(h.Values("X-Cortex-Audience")) != 1 {
		t.Fatalf("audience header %q, want the operator's own", h.Values("X-Cortex-Audience"))
	}
	date, err := time.Parse("20060102T150405Z", h.Get("X-Amz-Date"))
	if err != nil || date.Before(testNow.Add(-5*time.Minute)) || date.After(testNow.Add(time.Minute)) {
		t.Fatalf("X-Amz-Date %q is outside the freshness window", h.Get("X-Amz-Date"))
	}
	authz := h.Get("Authorization")
	rest, ok := strings.CutPrefix(authz, "AWS4-HMAC-SHA256 Credential=")
	parts := strings.Split(rest, ", ")
	if !ok || len(parts) != 3 || !strings.HasPrefix(parts[1], "SignedHeaders=") || !strings.HasPrefix(parts[2], "Signature=") {
		t.Fatalf("authorization has the wrong structure: %q", authz)
	}
	scope := strings.Split(parts[0], "/")
	if len(scope) != 5 || scope[1] != h.Get("X-Amz-Date")[:8] || scope[2] != ep.Region || scope[3] != "sts" || scope[4] != "aws4_request" {
		t.Fatalf("credential scope %q does not match host %s (region %s) and date", parts[0], ep.Host, ep.Region)
	}
	wantSigned := "content-length;content-type;host;x-amz-date;x-cortex-audience;x-cortex-cluster-id"
	wantHeaders := []string{"Authorization", "Content-Length", "Content-Type", "User-Agent", "X-Amz-Date", "X-Cortex-Audience", "X-Cortex-Cluster-Id"}
	if _, ok := h["X-Amz-Security-Token"]; ok {
		wantSigned = "content-length;content-type;host;x-amz-date;x-amz-security-token;x-cortex-audience;x-cortex-cluster-id"
		wantHeaders = append(wantHeaders, "X-Amz-Security-Token")
		sort.Strings(wantHeaders)
	}
	if got := strings.TrimPrefix(parts[1], "SignedHeaders="); got != wantSigned {
		t.Fatalf("signed headers %q, want %q", got, wantSigned)
	}
	var names []string
	for k, vs := range h {
		names = append(names, k)
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 || c == 0x7f {
					t.Fatalf("header %s carries a control character", k)
				}
			}
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != strings.Join(wantHeaders, ",") {
		t.Fatalf("headers %v, want exactly %v", names, wantHeaders)
	}
}

// FuzzVerifyFields fuzzes a token's fields, encoded inside the target, so that mutations reach
// every check (host, audience, scope, signed headers, freshness, session token) and STS.
func FuzzVerifyFields(f *testing.F) {
	hosts, good, goodSession, cases := hostileTokens(f)
	for _, tok := range append([]string{good, goodSession}, tokensOf(cases)...) {
		addFieldSeed(f, tok)
	}
	f.Fuzz(func(t *testing.T, host, date, audience, authz, secTok string, withSecTok bool, extraKey, extraVal string) {
		verifyFuzzed(t, hosts, fieldToken(host, date, audience, authz, secTok, withSecTok, extraKey, extraVal))
	})
}

// fieldArgs are FuzzVerifyFields's arguments.
type fieldArgs struct {
	host, date, audience, authz, secTok string
	withSecTok                          bool
	extraKey, extraVal                  string
}

// seedArgs splits a token into FuzzVerifyFields's arguments when its payload is a JSON object of
// strings (the rows that break the encoding itself seed FuzzDecodeToken instead).
func seedArgs(tok string) (fieldArgs, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
	if err != nil {
		return fieldArgs{}, false
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return fieldArgs{}, false
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	a := fieldArgs{host: str("host"), date: str("date"), audience: str("audience"), authz: str("authorization")}
	a.secTok, a.withSecTok = m["security_token"].(string)
	for k := range m {
		switch k {
		case "host", "date", "audience", "authorization", "security_token":
		default:
			a.extraKey, a.extraVal = k, str(k)
		}
	}
	return a, true
}

func addFieldSeed(f *testing.F, tok string) {
	if a, ok := seedArgs(tok); ok {
		f.Add(a.host, a.date, a.audience, a.authz, a.secTok, a.withSecTok, a.extraKey, a.extraVal)
	}
}

func tokensOf(cases []hostileCase) []string {
	var out []string
	for _, c := range cases {
		out = append(out, c.token)
	}
	return out
}

// FuzzDecodeToken fuzzes the raw token (prefix, base64, JSON): nothing panics, and whatever
// decodes re-encodes to a token that decodes to the same fields.
func FuzzDecodeToken(f *testing.F) {
	_, good, goodSession, cases := hostileTokens(f)
	for _, tok := range append([]string{good, goodSession}, tokensOf(cases)...) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		d, err := decodeToken(tok)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode error of the wrong class: %v", err)
			}
			return
		}
		if d.Host == "" || d.Date == "" || d.Audience == "" || d.Authorization == "" {
			t.Fatalf("decoded a token with an empty required field: %+v", d)
		}
		again, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if d2, err := decodeToken(again); err != nil || d2 != d {
			t.Fatalf("round trip: %+v -> %+v, %v", d, d2, err)
		}
	})
}

// TestFuzzCorpusReachesEveryCheck runs the committed corpus of FuzzVerifyFields (seeds and
// testdata/fuzz) through the verifier and counts where each entry ends. The corpus must reach
// every pre-check and STS itself: a fuzz target that never gets past the first check tests
// nothing (docs/performance.md records the counts of a 10-minute run).
func TestFuzzCorpusReachesEveryCheck(t *testing.T) {
	hosts, good, goodSession, cases := hostileTokens(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzVerifyFields")
	if *update { // -update writes the seeds into the committed corpus (a fuzz run adds the rest)
		writeSeedCorpus(t, dir, append([]string{good, goodSession}, tokensOf(cases)...))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read the committed corpus: %v", err)
	}
	counts := map[string]int{}
	for _, e := range entries {
		vals, err := readCorpusEntry(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if len(vals) != 8 {
			t.Fatalf("%s: %d values, want 8", e.Name(), len(vals))
		}
		withSec := vals[5] == "true"
		err = verifyFuzzed(t, hosts, fieldToken(vals[0], vals[1], vals[2], vals[3], vals[4], withSec, vals[6], vals[7]))
		counts[Code(err)]++
	}
	var lines []string
	for code, n := range counts {
		lines = append(lines, code+"="+strconv.Itoa(n))
	}
	sort.Strings(lines)
	t.Logf("%d corpus entries end at: %s", len(entries), strings.Join(lines, " "))
	for _, code := range []string{"bad_json", "host_not_allowed", "wrong_audience", "bad_date", "bad_authorization",
		"bad_scope", "bad_signed_headers", "token_expired", "bad_security_token", "sts_rejected"} {
		if counts[code] == 0 {
			t.Errorf("no corpus entry ends at %s: the fuzzer does not reach that check", code)
		}
	}
}

// writeSeedCorpus writes every token whose payload is a JSON object of strings as a corpus file.
func writeSeedCorpus(t *testing.T, dir string, tokens []string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		a, ok := seedArgs(tok)
		if !ok {
			continue
		}
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range []string{a.host, a.date, a.audience, a.authz, a.secTok} {
			b.WriteString("string(" + strconv.Quote(v) + ")\n")
		}
		b.WriteString("bool(" + strconv.FormatBool(a.withSecTok) + ")\n")
		b.WriteString("string(" + strconv.Quote(a.extraKey) + ")\n")
		b.WriteString("string(" + strconv.Quote(a.extraVal) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, "seed-"+strconv.Itoa(i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readCorpusEntry parses Go's fuzz corpus file format ("go test fuzz v1", then one Go literal per
// line) for the string and bool values FuzzVerifyFields takes.
func readCorpusEntry(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var vals []string
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			if line != "go test fuzz v1" {
				return nil, errors.New("not a fuzz corpus file")
			}
			first = false
			continue
		}
		switch {
		case strings.HasPrefix(line, "string(") && strings.HasSuffix(line, ")"):
			s, err := strconv.Unquote(line[len("string(") : len(line)-1])
			if err != nil {
				return nil, err
			}
			vals = append(vals, s)
		case line == "bool(true)" || line == "bool(false)":
			vals = append(vals, strings.TrimSuffix(strings.TrimPrefix(line, "bool("), ")"))
		default:
			return nil, errors.New("unexpected line " + strconv.Quote(line))
		}
	}
	return vals, sc.Err()
}
