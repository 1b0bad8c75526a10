package gateway

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"
)

// go test -run '^$' -bench AccessLogWrite -benchmem ./internal/gateway/
func BenchmarkAccessLogWrite(b *testing.B) {
	l := newAccessLog(io.Discard)
	defer l.close()
	r := httptest.NewRequest("POST", "/iris/predict", nil)
	start := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.write(start, "0062d8166ebb560af69dd795", "", r, "/iris/predict", "iris", "127.0.0.1:40001", &Decision{Auth: "api_key", Principal: "key:0123456789abcdef", Reason: "api_key"}, 200, 25)
	}
}
