// Package remote connects a gateway running as its own process (`cortex gateway serve`) to the
// operator, which keeps every decision: the gateway asks the operator whether each request may
// pass (Client.Authorize, in the manner of Envoy's ext_authz) and follows the operator's routing
// table (Client.WatchRoutes, a long poll of versioned snapshots). Both calls go to the operator's
// internal endpoints over mutual TLS: the gateway presents a client certificate of the gateway
// client CA, and the operator answers nobody else (docs/security.md, "The gateway's internal
// endpoints").
//
// It fails closed: when the operator cannot be reached or answers anything unexpected, a request
// is refused with 503 and Retry-After, never let through. The last routing table is kept while
// the operator is away.
package remote

import (
	"github.com/cortexlabs-go/cortex/internal/gateway"
)

// The operator's internal endpoints (registered only in remote gateway mode).
const (
	AuthorizePath = "/v1/internal/gateway/authorize"
	RoutesPath    = "/v1/internal/gateway/routes"
)

// AuthorizeRequest is what the gateway sends for one request: the API it routes to, the client's
// address as the gateway's TCP peer (for the operator's per-client failure limiter) and the
// credential headers exactly as received (every value, so that the operator sees duplicates and
// refuses them as it would at the embedded gateway). Nothing else of the request leaves the
// gateway.
type AuthorizeRequest struct {
	API           string   `json:"api"`
	Client        string   `json:"client"`
	Authorization []string `json:"authorization,omitempty"`
	APIKey        []string `json:"x_api_key,omitempty"`
}

// Decision is the operator's answer: gateway.Decision on the wire.
type Decision struct {
	Status     int    `json:"status"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	Auth       string `json:"auth,omitempty"`
	Principal  string `json:"principal,omitempty"`
	Reason     string `json:"reason,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"`
}

// FromDecision converts the operator's decision for the wire.
func FromDecision(d gateway.Decision) Decision {
	return Decision{Status: d.Status, Code: d.Code, Message: d.Message, Auth: d.Auth, Principal: d.Principal,
		Reason: d.Reason, RetryAfter: d.RetryAfter}
}

// Gateway is the decision again, after the checks of Client.Authorize.
func (d Decision) gateway() gateway.Decision {
	return gateway.Decision{Status: d.Status, Code: d.Code, Message: d.Message, Auth: d.Auth, Principal: d.Principal,
		Reason: d.Reason, RetryAfter: d.RetryAfter}
}

// Routes is a snapshot of the routing table: endpoint path ("/iris") -> API name. Version changes
// whenever the table does (and differs between two runs of the operator).
type Routes struct {
	Version string            `json:"version"`
	Routes  map[string]string `json:"routes"`
}

// KnownParam is the query parameter of RoutesPath naming the version the gateway has: the
// operator answers at once if its own differs, else when it changes or after LongPoll.
const KnownParam = "known"
