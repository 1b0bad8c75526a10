// Package apitypes holds the operator API's wire types: what the operator sends and the client
// decodes. It is a leaf (standard library only), so the client and the CLI can use these types
// without importing the operator and its process supervisor.
package apitypes

import "time"

// LocalTokenPrefix starts the bearer token of the local provider's admin credential.
const LocalTokenPrefix = "cortex-local-v1."

// Error codes of the API's JSON errors ({"error": {"code", "message"}}).
const (
	CodeUnauthenticated = "unauthenticated"      // 401
	CodeForbidden       = "forbidden"            // 403
	CodeRateLimited     = "rate_limited"         // 429
	CodeIDPUnavailable  = "identity_unavailable" // 503
	CodeBadRequest      = "bad_request"          // 400
	CodeNotFound        = "not_found"            // 404
	CodeConflict        = "conflict"             // 409
	CodeTooLarge        = "too_large"            // 413
	CodeInternal        = "internal"             // 500
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and message of an error answer.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// AuthParams is what a client needs to mint a token for this cluster (GET /v1/auth, no auth).
type AuthParams struct {
	ClusterID string   `json:"cluster_id"`
	STSHost   string   `json:"sts_host"`
	STSRegion string   `json:"sts_region"`
	STSScheme string   `json:"sts_scheme"`
	Methods   []string `json:"methods"`
}

// Info is GET /v1/info.
type Info struct {
	Version string      `json:"version"`
	Cluster ClusterInfo `json:"cluster"`
	Caller  CallerInfo  `json:"caller"`
}

// ClusterInfo describes the cluster.
type ClusterInfo struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Provider        string `json:"provider"`
	AccountID       string `json:"account_id,omitempty"`
	Region          string `json:"region,omitempty"`
	CreatorARN      string `json:"creator_arn,omitempty"`
	AuthMode        string `json:"auth_mode"`
	STSTestEndpoint string `json:"sts_test_endpoint,omitempty"`
	// PublicEndpoints are the endpoints tokens may be bound to (their audience).
	PublicEndpoints []string `json:"public_endpoints,omitempty"`
}

// CallerInfo is the verified caller and its role.
type CallerInfo struct {
	ARN          string `json:"arn"`
	CanonicalARN string `json:"canonical_arn"`
	Account      string `json:"account,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	SessionName  string `json:"session_name,omitempty"`
	Role         string `json:"role"`
	Method       string `json:"method"`
}

// AccessRule gives a principal (an IAM ARN or a 12-digit account id) a role.
type AccessRule struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
	GrantedBy string `json:"granted_by,omitempty"`
	GrantedAt string `json:"granted_at,omitempty"`
	UniqueID  string `json:"unique_id,omitempty"`
	BoundAt   string `json:"bound_at,omitempty"`
}

// AccessList is GET /v1/access.
type AccessList struct {
	Mode        string `json:"mode"`
	AccountID   string `json:"account_id,omitempty"`
	AccountRole string `json:"account_role,omitempty"`
	CreatorARN  string `json:"creator_arn,omitempty"`
	// CreatorUniqueID is the IAM unique id the creator is bound to (empty until it first signs in).
	CreatorUniqueID string       `json:"creator_unique_id,omitempty"`
	Rules           []AccessRule `json:"rules"`
}

// GrantRequest is PUT /v1/access.
type GrantRequest struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
}

// State is an API's summarized status.
type State string

// The states of an API.
const (
	// Live: every requested replica is ready and no older version is still being replaced.
	Live State = "live"
	// Updating: replicas are starting, restarting or replacing an older version.
	Updating State = "updating"
	// Error: a replica cannot start or exits before becoming ready; Reason says why.
	Error State = "error"
)

// What a deploy did to one API.
const (
	ActionCreated   = "created"
	ActionUpdated   = "updated"
	ActionUnchanged = "unchanged"
)

// Result is what a deploy did to one API.
type Result struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// DeployResponse is the answer to POST /v1/apis.
type DeployResponse struct {
	Results []Result `json:"results"`
}

// Replicas is the replica count of an APIStatus.
type Replicas struct {
	Requested int `json:"requested"`
	Ready     int `json:"ready"`
}

// ReplicaStatus is one replica.
type ReplicaStatus struct {
	ID       int    `json:"id"`
	State    string `json:"state"` // starting | ready | restarting | error | stopping
	Restarts int    `json:"restarts"`
	Reason   string `json:"reason,omitempty"`
}

// APIStatus is an API as the operator reports it (GET /v1/apis, GET /v1/apis/{name}).
type APIStatus struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Status   State    `json:"status"`
	Reason   string   `json:"reason,omitempty"`
	Replicas Replicas `json:"replicas"`
	Endpoint string   `json:"endpoint"`
	// EndpointTLS says what the endpoint's certificate chains to: empty, the cluster's CA (the
	// one the environment pins for the operator); EndpointTLSPublic, the public web PKI (a
	// certificate the load balancer presents, e.g. ACM with ssl_certificate_arn), verified
	// against the client's system roots. A client refuses any other value.
	EndpointTLS string `json:"endpoint_tls,omitempty"`
	// Auth is who may call the API through the gateway.
	Auth      APIAuth         `json:"auth"`
	UpdatedAt time.Time       `json:"updated_at"`
	Details   []ReplicaStatus `json:"replica_details,omitempty"`
	// Version is the content hash of what the API ships: its spec and its project files. A
	// deploy that changes it rolls the API out.
	Version string `json:"version"`
	// CodeHash is the content hash of the project files alone.
	CodeHash string `json:"code_hash,omitempty"`
}

// EndpointTLSPublic is APIStatus.EndpointTLS of an endpoint whose certificate is from a public CA.
const EndpointTLSPublic = "public"

// Auth types of an API (its spec's auth.type).
const (
	APIAuthIAM    = "iam"
	APIAuthAPIKey = "api_key"
	APIAuthNone   = "none"
)

// APIAuth is an API's auth as its status reports it (the spec's, default filled in).
type APIAuth struct {
	Type  string   `json:"type"`
	Allow []string `json:"allow,omitempty"`
}

// APIKey is an API key as the operator lists it: never the key or its hash.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	APIs      []string   `json:"apis"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

// CreateAPIKeyRequest is POST /v1/api-keys.
type CreateAPIKeyRequest struct {
	Name string   `json:"name"`
	APIs []string `json:"apis"`
	// ExpiresInSeconds: 0 never expires.
	ExpiresInSeconds int64 `json:"expires_in_seconds,omitempty"`
}

// CreatedAPIKey is the answer of POST /v1/api-keys: the key, shown this once, and its record.
type CreatedAPIKey struct {
	Key    string `json:"key"`
	APIKey APIKey `json:"api_key"`
}

// APIKeyList is GET /v1/api-keys.
type APIKeyList struct {
	APIKeys []APIKey `json:"api_keys"`
}

// RevokedAPIKey is the answer of DELETE /v1/api-keys/{name or id}.
type RevokedAPIKey struct {
	Revoked APIKey `json:"revoked"`
}

// APIList is GET /v1/apis.
type APIList struct {
	APIs []APIStatus `json:"apis"`
}
