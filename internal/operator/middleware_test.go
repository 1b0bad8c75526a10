package operator

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPanicBecomesJSON500WithRequestID(t *testing.T) {
	var log strings.Builder
	l := slog.New(slog.NewJSONHandler(&log, nil))
	s := &Server{log: l, anonLog: l}
	h := s.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(rec.Body).Decode(&body)
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 500 || body.Error.Code != CodeInternal || id == "" || !strings.Contains(body.Error.Message, id) {
		t.Fatalf("got %d %+v (request id %q)", rec.Code, body, id)
	}
	if !strings.Contains(log.String(), "panic in handler") || !strings.Contains(log.String(), `"status":500`) {
		t.Fatalf("log: %s", log.String())
	}
}

func TestBearerParsing(t *testing.T) {
	for _, tc := range []struct {
		headers []string
		ok      bool
	}{
		{[]string{"Bearer abc"}, true},
		{[]string{"bearer abc"}, true},
		{[]string{"Basic abc"}, false},
		{[]string{"Bearer"}, false},
		{[]string{"Bearer "}, false},
		{[]string{"Bearer a", "Bearer b"}, false},
		{nil, false},
	} {
		r := httptest.NewRequest("GET", "/", io.NopCloser(strings.NewReader("")))
		for _, h := range tc.headers {
			r.Header.Add("Authorization", h)
		}
		if _, ok := bearer(r); ok != tc.ok {
			t.Errorf("%q: ok = %v", tc.headers, ok)
		}
	}
}
