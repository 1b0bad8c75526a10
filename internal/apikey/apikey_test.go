package apikey

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/statestore"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, path string, c *clock) *Store {
	t.Helper()
	s, err := Open(statestore.NewFiles(filepath.Dir(path)), c.now) // path is <dir>/api-keys.json
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeyLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-keys.json")
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	s := open(t, path, c)
	key, info, err := s.Create(CreateInput{Name: "ci", APIs: []string{"iris", "echo", "iris"}, CreatedBy: "arn:aws:iam::111122223333:user/alice", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The documented format, as a secret scanner would match it.
	if !regexp.MustCompile(`^cxk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`).MatchString(key) || len(key) != KeyLen || !strings.Contains(key, info.ID) {
		t.Fatalf("key %q (id %s) does not have the documented format", key, info.ID)
	}
	if strings.Join(info.APIs, ",") != "echo,iris" || info.ExpiresAt == nil || info.CreatedBy == "" {
		t.Fatalf("info: %+v", info)
	}
	// Only the hash is stored, in a private file.
	data, _ := os.ReadFile(path)
	secret := key[len(Prefix)+17:] // the secret may itself contain '_'
	if strings.Contains(string(data), secret) || strings.Contains(string(data), key) {
		t.Fatal("the state file holds the key")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v", fi.Mode().Perm())
	}

	wrongSecret := key[:len(key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(key, "A")]
	other, _, err := s.Create(CreateInput{Name: "other", APIs: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, api string
		want           error
	}{
		{"valid", key, "iris", nil},
		{"valid other api", key, "echo", nil},
		{"not for api", key, "billing", ErrNotForAPI},
		{"other key's scope", other, "iris", ErrNotForAPI},
		{"wrong secret", wrongSecret, "iris", ErrUnknown},
		{"unknown id", Prefix + "0123456789abcdef_" + secret, "iris", ErrUnknown},
		{"empty", "", "iris", ErrMalformed},
		{"no prefix", strings.TrimPrefix(key, Prefix), "iris", ErrMalformed},
		{"trailing newline", key + "\n", "iris", ErrMalformed},
		{"too long", key + "A", "iris", ErrMalformed},
		{"upper-case id", Prefix + strings.ToUpper(info.ID) + "_" + secret, "iris", ErrMalformed},
		{"identity token", "cortex-aws-v2.eyJob3N0Ijoi", "iris", ErrMalformed},
	} {
		if _, err := s.Check(tc.key, tc.api); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := s.Create(CreateInput{Name: "ci", APIs: []string{"iris"}}); err == nil {
		t.Error("a second key named ci was created")
	}

	// Survives a restart; last-used times are written by Flush, not by Check.
	before, _ := os.ReadFile(path)
	if strings.Contains(string(before), "last_used") {
		t.Fatal("Check wrote last_used to disk")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !strings.Contains(string(after), "last_used") {
		t.Fatal("Flush did not write last_used")
	}
	st, _ := os.Stat(path)
	if _, err := s.Check(key, "iris"); err != nil { // same minute: nothing to write
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(path); !os.SameFile(st, st2) {
		t.Fatal("Flush rewrote the file although no last-used time moved")
	}
	s2 := open(t, path, c)
	if _, err := s2.Check(key, "iris"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if l := s2.List(); len(l) != 2 || l[0].Name != "ci" || l[0].LastUsed == nil {
		t.Fatalf("list after reopen: %+v", l)
	}

	// Expiry.
	c.t = c.t.Add(time.Hour)
	if _, err := s2.Check(key, "iris"); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired key: %v", err)
	}

	// A deleted API leaves every key's scope; revocation by name or id.
	if ids, err := s2.DropAPI("echo"); err != nil || len(ids) != 2 {
		t.Fatalf("DropAPI: %v %v", ids, err)
	}
	if _, err := s2.Check(other, "echo"); !errors.Is(err, ErrNotForAPI) {
		t.Fatalf("key of a deleted API: %v", err)
	}
	if _, err := s2.Revoke("other"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Revoke(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Revoke("ci"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	s3 := open(t, path, c)
	if _, err := s3.Check(other, "echo"); !errors.Is(err, ErrUnknown) || len(s3.List()) != 0 {
		t.Fatalf("revoked key after reopen: %v, %d keys", err, len(s3.List()))
	}
}

func TestValidateName(t *testing.T) {
	for _, n := range []string{"ci", "team.prod-1", "a_b"} {
		if err := ValidateName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "CI", "-a", "a-", "a b", "0123456789abcdef", strings.Repeat("a", 64), "a\x00"} {
		if err := ValidateName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

// parseKey is the documented pattern, without a regexp.
func FuzzParseKey(f *testing.F) {
	re := regexp.MustCompile(`^cxk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$`)
	for _, s := range []string{"cxk_0123456789abcdef_" + strings.Repeat("A", 43), "cxk_0123456789abcdeF_" + strings.Repeat("A", 43), "", "cxk_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseKey(s)
		m := re.FindStringSubmatch(s)
		if ok != (m != nil) || (ok && id != m[1]) {
			t.Fatalf("parseKey(%q) = %q, %v; the pattern says %v", s, id, ok, m)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	s, err := Open(statestore.NewFiles(b.TempDir()), nil)
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := s.Create(CreateInput{Name: "b", APIs: []string{"iris"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := s.Check(key, "iris"); err != nil {
			b.Fatal(err)
		}
	}
}
