package motoserver

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestStartServesMotoAPI(t *testing.T) {
	s := Start(t, Options{})
	resp, err := http.Get(s.URL + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// BindAddress moves moto to another local address (127.0.0.2 is local on Linux, as all of
// 127/8 is), and only there.
func TestStartBindAddress(t *testing.T) {
	s := Start(t, Options{BindAddress: "127.0.0.2"})
	if !strings.HasPrefix(s.URL, "http://127.0.0.2:") || s.Host != strings.TrimPrefix(s.URL, "http://") {
		t.Fatalf("URL %q Host %q", s.URL, s.Host)
	}
	resp, err := http.Get(s.URL + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, port, _ := net.SplitHostPort(s.Host)
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port)); err == nil {
		c.Close()
		t.Fatalf("moto also answers on 127.0.0.1:%s", port)
	}
}
