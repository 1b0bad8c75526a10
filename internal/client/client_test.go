package client

import "testing"

func TestValidateEndpoint(t *testing.T) {
	for _, tc := range []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://operator.example.com:8888", false, true},
		{"https://127.0.0.1:8888/", false, true},
		{"http://127.0.0.1:8888", false, false},
		{"http://127.0.0.1:8888", true, true},
		{"http://localhost:8888", true, true},
		{"http://[::1]:8888", true, true},
		{"http://10.0.0.1:8888", true, false},
		{"http://operator.example.com", true, false},
		{"ftp://x", true, false},
		{"https://user:pw@x:1", false, false},
		{"https://x:1/path", false, false},
		{"https://x:1?q=1", false, false},
		{"operator:8888", false, false},
	} {
		_, err := ValidateEndpoint(tc.url, tc.allowHTTP)
		if (err == nil) != tc.ok {
			t.Errorf("%s (http allowed %v): err = %v", tc.url, tc.allowHTTP, err)
		}
	}
}

func TestDescribeSource(t *testing.T) {
	for in, want := range map[string]string{
		"EnvConfigCredentials":                        "environment variables (AWS_ACCESS_KEY_ID)",
		"SharedConfigCredentials: /home/u/.aws/creds": "shared credentials file /home/u/.aws/creds",
		"SSOProvider":                                 "AWS IAM Identity Center (SSO)",
		"":                                            "unknown",
	} {
		if got := DescribeSource(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
