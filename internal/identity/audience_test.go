package identity

import "testing"

func TestNormalizeAudience(t *testing.T) {
	good := map[string]string{
		"https://operator.example.com":       "https://operator.example.com:443",
		"https://Operator.Example.COM:8888/": "https://operator.example.com:8888",
		"HTTPS://127.0.0.1:8888":             "https://127.0.0.1:8888",
		"https://[::1]:9443":                 "https://[::1]:9443",
		"https://[2001:DB8::1]":              "https://[2001:db8::1]:443",
		"http://localhost:8080":              "http://localhost:8080",
		"http://localhost":                   "http://localhost:80",
	}
	for in, want := range good {
		got, err := NormalizeAudience(in)
		if err != nil || got != want {
			t.Errorf("NormalizeAudience(%q) = %q, %v; want %q", in, got, err, want)
		}
		// Normalized form is a fixed point: the operator compares it byte for byte.
		if again, err := NormalizeAudience(got); err != nil || again != got {
			t.Errorf("not a fixed point: %q -> %q, %v", got, again, err)
		}
	}
	for _, bad := range []string{
		"", "operator.example.com", "ftp://operator.example.com", "https://", "https://:443",
		"https://user@operator.example.com", "https://operator.example.com/v1", "https://operator.example.com?x=1",
		"https://operator.example.com#f", "https://operator.example.com:0", "https://operator.example.com:65536",
		"https://operator.example.com:0443", "https://operator.example.com:", "https://op_erator.example.com",
		"https://operator.example.com.", "https://op..example.com", "https://[fe80::1%25eth0]:443",
		"https://operator.example.com\r\n:443", "https://opérateur.example.com", "https://operator.example.com?",
		"https://operator.example.com\n", "https://operator.example.com\n/",
	} {
		if got, err := NormalizeAudience(bad); err == nil {
			t.Errorf("NormalizeAudience(%q) = %q, want an error", bad, got)
		}
	}
}
