package remote

import (
	"net/http/httptest"
	"testing"
)

// Red team: an answer that carries no decision must not be a pass. JSON `null`, `{}` and a status
// 0 with nothing else decode to the zero Decision, whose Status 0 means "let it through"; so do
// answers of another shape (unknown fields are ignored), and a pass followed by a refusal was read
// as the pass. A real
// pass always names the API's auth type and a reason (operator.authorizeAPI), so the gateway can
// require both.
func TestAuthorizeZeroDecisionIsNotAPass(t *testing.T) {
	for _, body := range []string{
		`null`,
		`{}`,
		`{"status":0}`,
		`{"allow":true}`,
		`{"status":0,"auth":"iam"}`, // no reason
		`{"status":0,"reason":"x"}`, // no auth
		`{"status":0,"auth":"bogus","reason":"x"}`, // not an auth type
		`{"status":0,"auth":"none","reason":"public"}{"status":401}`,
	} {
		c, _ := hostileOperator(t, 200, body)
		d := c.Authorize(httptest.NewRequest("GET", "https://gw/api", nil), "api")
		if d.Status != 503 || d.Code != "authorizer_unavailable" {
			t.Errorf("operator answered %s: the gateway's decision is %+v, want 503 authorizer_unavailable", body, d)
		}
	}
}
