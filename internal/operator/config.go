// Package operator is the cortex operator: an HTTPS server that authenticates every request with
// an identity token, authorizes it by role, audit-logs the decision, and manages the cluster's
// access rules and APIs.
package operator

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"time"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/awsarn"
	"github.com/cortexlabs-go/cortex/internal/fielderr"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/yamlfile"
)

// Config is the operator's configuration (from a YAML file and flags; see docs/operator.md).
type Config struct {
	// StateDir holds the cluster record, access rules, TLS material and API state (0700).
	StateDir string `json:"state_dir"`
	// Listen is the HTTPS address (default 127.0.0.1:8888).
	Listen string `json:"listen,omitempty"`
	// PublicEndpoints are the URLs clients dial to reach this operator (a load balancer name, a
	// custom domain, ...). Identity tokens are bound to the endpoint the client dialed and only
	// these are accepted. Default: https://localhost, 127.0.0.1 and [::1] at the listen port.
	PublicEndpoints []string `json:"public_endpoints,omitempty"`
	// KubernetesAPIServers turns on the TokenReview webhook (POST /v1/kubernetes/tokenreview): the
	// URLs of the Kubernetes API servers that call it, as kubectl dials them. Tokens of `cortex
	// cluster token` are bound to one of these; the operator's own API never accepts them, and the
	// webhook never accepts the operator's tokens (the lists must not overlap). See
	// docs/kubernetes.md "Access by IAM identity".
	KubernetesAPIServers []string `json:"kubernetes_api_servers,omitempty"`
	// KubernetesWebhookClientCAFile, when set, makes the webhook answer only callers with a client
	// certificate from this CA (the API server's, from its webhook kubeconfig).
	KubernetesWebhookClientCAFile string `json:"kubernetes_webhook_client_ca_file,omitempty"`
	// Provider is local, aws or kubernetes (shown in /v1/info). kubernetes: the operator runs
	// inside a cluster, keeps its state in Secrets and runs APIs with the kube backend
	// (Kubernetes below; see kubernetes.go).
	Provider string `json:"provider,omitempty"`
	// Kubernetes configures the kubernetes provider.
	Kubernetes  KubernetesConfig `json:"kubernetes,omitempty"`
	ClusterName string           `json:"cluster_name,omitempty"`
	// ClusterID binds identity tokens to this cluster. Made at first start when empty, then kept.
	ClusterID  string `json:"cluster_id,omitempty"`
	AccountID  string `json:"account_id,omitempty"`
	Region     string `json:"region,omitempty"`
	Partition  string `json:"partition,omitempty"`
	CreatorARN string `json:"creator_arn,omitempty"`
	// AuthMode is account (default: any identity of AccountID, with AccountRole) or rules.
	AuthMode    string `json:"auth_mode,omitempty"`
	AccountRole string `json:"account_role,omitempty"`
	// STSTestEndpoint replaces the official STS hosts with exactly this one (an emulator).
	STSTestEndpoint string `json:"sts_test_endpoint,omitempty"`
	// LocalTokenFile enables the local admin credential (created 0600 if missing).
	LocalTokenFile string `json:"local_token_file,omitempty"`
	// TLS: a user's own certificate, or (empty) the cluster's own CA and a server cert for
	// localhost, 127.0.0.1 and DNSNames.
	TLSCertFile string   `json:"tls_cert_file,omitempty"`
	TLSKeyFile  string   `json:"tls_key_file,omitempty"`
	DNSNames    []string `json:"dns_names,omitempty"`
	// LogFile, when set, is where the operator writes its JSON log (the audit trail included),
	// rotated at LogMaxSizeMB (default 20) keeping LogMaxBackups old files (default 5), all 0600 in
	// a private directory. Empty: standard error. (Read by `cortex operator serve`; a Config built
	// in code passes its own Logger.)
	LogFile       string `json:"log_file,omitempty"`
	LogMaxSizeMB  int    `json:"log_max_size_mb,omitempty"`
	LogMaxBackups int    `json:"log_max_backups,omitempty"`
	// DenialLogWindowSeconds is how long repeated identical denials from one address are counted
	// before one summary line (default 60; see docs/security.md).
	DenialLogWindowSeconds int `json:"denial_log_window_seconds,omitempty"`
	// Connections bounds the connections and the time one client can hold (docs/security.md).
	Connections ConnLimits `json:"connections,omitempty"`
	// APIs configures the API backend and gateway (see apis.go).
	APIs APIsConfig `json:"apis,omitempty"`

	Logger *slog.Logger `json:"-"`
	// DenialLogger receives the lines of requests without a verified principal (unauthenticated
	// denials, the public endpoints, connection refusals), so that traffic anyone can send never
	// rotates the audit trail of principals away. Default: Logger.
	DenialLogger *slog.Logger `json:"-"`
	// KubeUserLookup, set only in code (tests), replaces the TokenReview webhook's mapping: the
	// Kubernetes user comes from it instead of the operator's rules. Tests use it to stand in for
	// EKS's authenticator, which maps an IAM identity by its access entry (see tokenreview.go).
	KubeUserLookup KubeUserLookup `json:"-"`
}

// ConnLimits bound what a client, authenticated or not, can hold open. Zero values take the
// defaults.
type ConnLimits struct {
	// MaxConns caps open connections in all (default 1024); MaxConnsPerClient caps them per client
	// IP (default 128; on a local cluster every client is 127.0.0.1). A connection over a cap is
	// closed as soon as it is accepted.
	MaxConns          int `json:"max_conns,omitempty"`
	MaxConnsPerClient int `json:"max_conns_per_client,omitempty"`
	// HeaderTimeoutSeconds bounds the time to send a request's headers (default 10);
	// BodyTimeoutSeconds the time to send its body, counted from when the handler starts
	// (default 30); IdleTimeoutSeconds how long a keep-alive connection may wait for its next
	// request (default 60).
	HeaderTimeoutSeconds int `json:"header_timeout_seconds,omitempty"`
	BodyTimeoutSeconds   int `json:"body_timeout_seconds,omitempty"`
	IdleTimeoutSeconds   int `json:"idle_timeout_seconds,omitempty"`
}

func (l *ConnLimits) setDefaults() error {
	for _, f := range []struct {
		name     string
		v        *int
		def, max int
	}{
		{"connections.max_conns", &l.MaxConns, 1024, 1 << 20},
		{"connections.max_conns_per_client", &l.MaxConnsPerClient, 128, 1 << 20},
		{"connections.header_timeout_seconds", &l.HeaderTimeoutSeconds, 10, 3600},
		{"connections.body_timeout_seconds", &l.BodyTimeoutSeconds, 30, 3600},
		{"connections.idle_timeout_seconds", &l.IdleTimeoutSeconds, 60, 3600},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 1 || *f.v > f.max {
			return fmt.Errorf("%s: %d is not between 1 and %d", f.name, *f.v, f.max)
		}
	}
	if l.MaxConnsPerClient > l.MaxConns {
		return fmt.Errorf("connections.max_conns_per_client: %d is more than max_conns (%d)", l.MaxConnsPerClient, l.MaxConns)
	}
	return nil
}

var clusterIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,62}$`)

// setDefaults fills defaults and validates every field; the error names the field.
func (c *Config) setDefaults() error {
	if c.StateDir == "" {
		return errors.New("state_dir: required")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8888"
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if len(c.PublicEndpoints) == 0 && port != "0" { // port 0: set by Run once the port is known
		c.PublicEndpoints = loopbackEndpoints(port)
	}
	if c.PublicEndpoints, err = identity.NormalizeAudiences(c.PublicEndpoints); err != nil {
		return fmt.Errorf("public_endpoints: %v", err)
	}
	if c.KubernetesAPIServers, err = identity.NormalizeAudiences(c.KubernetesAPIServers); err != nil {
		return fmt.Errorf("kubernetes_api_servers: %v", err)
	}
	if c.APIs.PublicEndpoints, err = identity.NormalizeAudiences(c.APIs.PublicEndpoints); err != nil {
		return fmt.Errorf("apis.public_endpoints: %v", err)
	}
	if err := checkAudiencesDisjoint(c.audienceSets(c.APIs.PublicEndpoints)...); err != nil {
		return err
	}
	if err := c.APIs.checkGateway(); err != nil {
		return err
	}
	if c.KubernetesWebhookClientCAFile != "" && len(c.KubernetesAPIServers) == 0 {
		return errors.New("kubernetes_webhook_client_ca_file: set kubernetes_api_servers too (the webhook is off without them)")
	}
	if len(c.KubernetesAPIServers) > 0 && c.KubernetesWebhookClientCAFile == "" {
		// Without it, anyone who can connect could make the webhook call STS once per forged token
		// (its one legitimate caller, the API server, is not rate limited): only the API server,
		// with a client certificate of this CA, may ask for reviews.
		return errors.New("kubernetes_webhook_client_ca_file: required with kubernetes_api_servers (the CA of the client certificate the API server presents to the webhook)")
	}
	if c.Provider == "" {
		c.Provider = "local"
	}
	if c.Provider != "local" && c.Provider != "aws" && c.Provider != ProviderKubernetes {
		return fmt.Errorf("provider: %q is not local, aws or kubernetes", c.Provider)
	}
	if err := c.Kubernetes.validate(c); err != nil {
		return err
	}
	if c.ClusterName == "" {
		c.ClusterName = "cortex"
	}
	if c.ClusterID != "" && !clusterIDRE.MatchString(c.ClusterID) {
		return fmt.Errorf("cluster_id: %q must be 3-63 lowercase letters, digits or '-'", c.ClusterID)
	}
	if c.AccountID != "" && !awsarn.IsAccountID(c.AccountID) {
		return fmt.Errorf("account_id: %q is not a 12-digit AWS account id", c.AccountID)
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Partition == "" {
		c.Partition = identity.PartitionAWS
	}
	if _, err := identity.PartitionHosts(c.Partition); err != nil {
		return fmt.Errorf("partition: %v", err)
	}
	if c.STSTestEndpoint == "" {
		if _, err := identity.RegionalHost(c.Partition, c.Region); err != nil {
			return fmt.Errorf("region: %v", err)
		}
	}
	if c.CreatorARN != "" {
		canon, err := access.NormalizePrincipal(c.CreatorARN)
		if err != nil || awsarn.IsAccountID(canon) {
			return fmt.Errorf("creator_arn: %q must be an IAM user or role ARN", c.CreatorARN)
		}
		c.CreatorARN = canon
	}
	if c.AuthMode == "" {
		c.AuthMode = string(access.ModeAccount)
	}
	if _, err := access.ParseMode(c.AuthMode); err != nil {
		return fmt.Errorf("auth_mode: %v", err)
	}
	if c.AccountRole == "" {
		c.AccountRole = string(access.RoleDeploy)
	}
	if _, err := access.ParseRole(c.AccountRole); err != nil {
		return fmt.Errorf("account_role: %v", err)
	}
	if c.STSTestEndpoint != "" {
		if _, err := identity.TestEndpointHosts(c.STSTestEndpoint, c.Region); err != nil {
			return fmt.Errorf("sts_test_endpoint: %v", err)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("tls_cert_file and tls_key_file: give both or neither")
	}
	if err := c.Connections.setDefaults(); err != nil {
		return err
	}
	if c.LogMaxSizeMB == 0 {
		c.LogMaxSizeMB = DefaultLogMaxSizeMB
	}
	if c.LogMaxSizeMB < 1 || c.LogMaxSizeMB > 10240 {
		return fmt.Errorf("log_max_size_mb: %d is not between 1 and 10240", c.LogMaxSizeMB)
	}
	if c.LogMaxBackups == 0 {
		c.LogMaxBackups = DefaultLogMaxBackups
	}
	if c.LogMaxBackups < 1 || c.LogMaxBackups > 1000 {
		return fmt.Errorf("log_max_backups: %d is not between 1 and 1000", c.LogMaxBackups)
	}
	if c.DenialLogWindowSeconds == 0 {
		c.DenialLogWindowSeconds = int(DefaultDenialLogWindow / time.Second)
	}
	if c.DenialLogWindowSeconds < 1 || c.DenialLogWindowSeconds > 86400 {
		return fmt.Errorf("denial_log_window_seconds: %d is not between 1 and 86400", c.DenialLogWindowSeconds)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if c.DenialLogger == nil {
		c.DenialLogger = c.Logger
	}
	return nil
}

// loopbackEndpoints are the default public endpoints: the loopback names at the listen port.
func loopbackEndpoints(port string) []string {
	return []string{"https://localhost:" + port, "https://127.0.0.1:" + port, "https://[::1]:" + port}
}

// ParseConfigFile decodes the operator's --config file (YAML 1.2 or JSON, see package yamlfile)
// and reports every unknown field and wrong type together, each with file and line
// (fielderr.Errors). Defaults and the remaining checks are applied when the server starts.
func ParseConfigFile(data []byte, file string) (Config, error) {
	var cfg Config
	doc, err := yamlfile.Parse(data)
	if err != nil {
		return cfg, fielderr.Locate(err, file, nil)
	}
	if err := doc.Decode(&cfg, nil); err != nil {
		return Config{}, fielderr.Locate(err, file, doc.Line)
	}
	return cfg, nil
}

// audienceSet is the public endpoints of one server the operator runs (named for errors).
type audienceSet struct {
	name      string
	endpoints []string
}

// checkAudiencesDisjoint refuses an endpoint that belongs to two of the servers whose tokens
// cortex verifies (the operator, the gateway, Kubernetes API servers): a token for it would be
// accepted by both, which is what binding tokens to an audience exists to prevent.
func checkAudiencesDisjoint(sets ...audienceSet) error {
	owner := map[string]string{}
	for _, set := range sets {
		for _, e := range set.endpoints {
			if other, ok := owner[e]; ok && other != set.name {
				return fmt.Errorf("%s: %s is also one of %s; a token must be good for one server only", set.name, e, other)
			}
			owner[e] = set.name
		}
	}
	return nil
}

// audienceSets are the servers' endpoints, with gateway the gateway's (configured, or its
// defaults once its port is known).
func (c *Config) audienceSets(gateway []string) []audienceSet {
	return []audienceSet{{"public_endpoints (the operator's)", c.PublicEndpoints},
		{"apis.public_endpoints (the gateway's)", gateway},
		{"kubernetes_api_servers", c.KubernetesAPIServers}}
}
