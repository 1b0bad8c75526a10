package motoserver

import (
	"net/http"
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
