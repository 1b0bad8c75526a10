// Package eksfake is a FAKE of the Amazon EKS operations that no real server on this machine can
// answer: access entries, access policies, pod identity associations and add-ons (addons.go), and the accessConfig of
// CreateCluster/DescribeCluster. It exists because moto (5.2.x, measured) answers 404 to the first
// three and drops accessConfig, and there is no other EKS emulator; everything else goes to moto.
//
// The fake is an HTTP server speaking EKS's restJson1 protocol exactly as the AWS API reference and
// aws-sdk-go-v2's service/eks model define it (paths, methods, JSON member names, epoch-second
// timestamps, error codes in the X-Amzn-Errortype header, status codes), and tests drive it only
// through aws-sdk-go-v2's eks client with a base endpoint, so the SDK's own serializers and
// deserializers check the shapes. With Options.Upstream (moto), it is a reverse proxy: requests
// for other services, and the EKS operations it does not own, are forwarded unchanged; CreateCluster
// is forwarded after recording its accessConfig, DescribeCluster's answer gets the accessConfig back.
//
// What it cannot know it is told: the caller of CreateCluster (Options.CreatorARN; a fake cannot
// map a signature to an identity) and the account (Options.AccountID). It checks no signatures.
//
// For an end-to-end test it can also stand the cluster's API server in for EKS's
// (Options.KubeEndpoint, KubeCA: DescribeCluster's endpoint and CA) and make a node group's Auto
// Scaling group in moto as EKS does (Options.NodeGroupASGs, nodegroups.go).
package eksfake

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Authentication modes of a cluster (accessConfig.authenticationMode).
const (
	ModeConfigMap       = "CONFIG_MAP"
	ModeAPI             = "API"
	ModeAPIAndConfigMap = "API_AND_CONFIG_MAP"
)

// PolicyPrefix is the ARN prefix of the EKS access policies.
const PolicyPrefix = "arn:aws:eks::aws:cluster-access-policy/"

// policies are the access policies EKS offers (ListAccessPolicies, 2025).
var policies = []string{
	"AmazonAIOpsAssistantPolicy", "AmazonARCRegionSwitchScalingPolicy", "AmazonEKSAdminPolicy",
	"AmazonEKSAdminViewPolicy", "AmazonEKSAutoNodePolicy", "AmazonEKSBlockStorageClusterPolicy",
	"AmazonEKSClusterAdminPolicy", "AmazonEKSComputeClusterPolicy", "AmazonEKSEditPolicy",
	"AmazonEKSHybridPolicy", "AmazonEKSLoadBalancingClusterPolicy", "AmazonEKSNetworkingClusterPolicy",
	"AmazonEKSViewPolicy", "AmazonEMRJobPolicy", "AmazonSagemakerHyperpodClusterPolicy",
	"AmazonSagemakerHyperpodControllerPolicy", "AmazonSagemakerHyperpodSystemNamespacePolicy",
}

// Options configure a Server.
type Options struct {
	// Upstream, when set, is where everything the fake does not own is forwarded (moto's URL).
	Upstream string
	// AccountID is the account of the ARNs the fake makes (default 123456789012, moto's).
	AccountID string
	// CreatorARN is the IAM principal that creates clusters through the fake: with
	// bootstrapClusterCreatorAdminPermissions (EKS's default) it gets an access entry with
	// AmazonEKSClusterAdminPolicy, as EKS gives the creator.
	CreatorARN string
	// KubeEndpoint and KubeCA, when set, are what DescribeCluster answers as every cluster's
	// endpoint and certificateAuthority.data (the base64 of the PEM, as EKS sends it): a local API
	// server that stands in for the EKS cluster's, so an unmodified `cortex cluster up` builds its
	// Kubernetes client from DescribeCluster (test/e2e TestEKSRealNode).
	KubeEndpoint, KubeCA string
	// NodeGroupASGs makes the fake do what EKS does for a managed node group and moto does not:
	// after moto's CreateNodegroup, create the Auto Scaling group moto named for it (with a
	// launch template and one instance) in the upstream moto; DeleteNodegroup deletes them
	// (nodegroups.go).
	NodeGroupASGs bool
}

// Server is a running fake.
type Server struct {
	URL string

	opts  Options
	proxy *httputil.ReverseProxy
	mux   *http.ServeMux

	mu       sync.Mutex
	clusters map[string]*cluster
	// created records the accessConfig of every CreateCluster request, in order (what was sent).
	created []CreateRecord
	// failNext makes the next request of an operation fail (fault injection for the callers' tests).
	failNext map[string]int
}

// CreateRecord is what one CreateCluster request asked for.
type CreateRecord struct {
	Name string
	// AccessConfig is the request's accessConfig member as sent (nil: none).
	AccessConfig *AccessConfig
}

// AccessConfig is the accessConfig of CreateCluster and of a described cluster.
type AccessConfig struct {
	AuthenticationMode                      string `json:"authenticationMode,omitempty"`
	BootstrapClusterCreatorAdminPermissions *bool  `json:"bootstrapClusterCreatorAdminPermissions,omitempty"`
}

type cluster struct {
	name    string
	access  AccessConfig
	entries map[string]*entry // by principal ARN
	assocs  map[string]*podIdentity
	addons  map[string]*addon // by name (addons.go)
}

type entry struct {
	PrincipalARN   string
	Type           string
	Username       string
	Groups         []string
	ARN            string
	Tags           map[string]string
	Created        time.Time
	Modified       time.Time
	policies       map[string]*associated // by policy ARN
	associationSeq []string               // policy ARNs in association order
}

type associated struct {
	PolicyARN  string
	ScopeType  string
	Namespaces []string
	At         time.Time
	Modified   time.Time
}

type podIdentity struct {
	ID, ARN, Namespace, ServiceAccount, RoleARN string
	Tags                                        map[string]string
	Created, Modified                           time.Time
}

// Start runs a fake on a free 127.0.0.1 port until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// New returns the fake as an http.Handler (Start serves it).
func New(opts Options) *Server {
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	s := &Server{opts: opts, clusters: map[string]*cluster{}, failNext: map[string]int{}, mux: http.NewServeMux()}
	if opts.Upstream != "" {
		u, err := url.Parse(opts.Upstream)
		if err != nil {
			panic(fmt.Sprintf("eksfake: upstream %q: %v", opts.Upstream, err))
		}
		s.proxy = httputil.NewSingleHostReverseProxy(u)
	}
	const ae = "/clusters/{name}/access-entries"
	const pia = "/clusters/{name}/pod-identity-associations"
	routes := map[string]func(http.ResponseWriter, *http.Request, *cluster){
		"POST " + ae:                                             s.createAccessEntry,
		"GET " + ae:                                              s.listAccessEntries,
		"GET " + ae + "/{principal}":                             s.describeAccessEntry,
		"DELETE " + ae + "/{principal}":                          s.deleteAccessEntry,
		"POST " + ae + "/{principal}/access-policies":            s.associateAccessPolicy,
		"GET " + ae + "/{principal}/access-policies":             s.listAssociatedAccessPolicies,
		"DELETE " + ae + "/{principal}/access-policies/{policy}": s.disassociateAccessPolicy,
		"POST " + pia:                                            s.createPodIdentityAssociation,
		"GET " + pia:                                             s.listPodIdentityAssociations,
		"GET " + pia + "/{id}":                                   s.describePodIdentityAssociation,
		"DELETE " + pia + "/{id}":                                s.deletePodIdentityAssociation,
		"POST " + pia + "/{id}":                                  s.updatePodIdentityAssociation,
		"POST /clusters/{name}/addons":                           s.createAddon,
		"GET /clusters/{name}/addons":                            s.listAddons,
		"GET /clusters/{name}/addons/{addon}":                    s.describeAddon,
		"DELETE /clusters/{name}/addons/{addon}":                 s.deleteAddon,
	}
	for pattern, h := range routes {
		s.mux.HandleFunc(pattern, s.withCluster(h))
	}
	s.mux.HandleFunc("POST /clusters", s.createCluster)
	s.mux.HandleFunc("GET /clusters/{name}", s.describeCluster)
	s.mux.HandleFunc("DELETE /clusters/{name}", s.deleteCluster)
	if opts.NodeGroupASGs && opts.Upstream != "" {
		s.mux.HandleFunc("POST /clusters/{name}/node-groups", s.createNodegroup)
		s.mux.HandleFunc("DELETE /clusters/{name}/node-groups/{nodegroup}", s.deleteNodegroup)
	}
	s.mux.HandleFunc("/", s.forward)
	return s
}

// AddCluster makes a cluster known to the fake without CreateCluster (a test of the callers that
// needs no moto), in the given authentication mode.
func (s *Server) AddCluster(name, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[name] = newCluster(name, AccessConfig{AuthenticationMode: mode, BootstrapClusterCreatorAdminPermissions: ptr(false)})
}

// Created returns the accessConfig of every CreateCluster request the fake saw.
func (s *Server) Created() []CreateRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.created)
}

// FailNext makes the next n requests of operation (e.g. "AssociateAccessPolicy") answer 500
// ServerException before changing anything: the failure of one step, for the callers' tests.
func (s *Server) FailNext(operation string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[operation] = n
}

func newCluster(name string, ac AccessConfig) *cluster {
	return &cluster{name: name, access: ac, entries: map[string]*entry{}, assocs: map[string]*podIdentity{}, addons: map[string]*addon{}}
}

func ptr[T any](v T) *T { return &v }

// ServeHTTP answers EKS requests and forwards the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if svc := signedService(r); svc != "" && svc != "eks" {
		s.forward(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// signedService is the service of the request's SigV4 credential scope ("" when unsigned).
func signedService(r *http.Request) string {
	a := r.Header.Get("Authorization")
	i := strings.Index(a, "Credential=")
	if i < 0 {
		return ""
	}
	scope := strings.SplitN(a[i+len("Credential="):], ",", 2)[0] // AKID/date/region/service/aws4_request
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

func signedRegion(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if i := strings.Index(a, "Credential="); i >= 0 {
		if parts := strings.Split(strings.SplitN(a[i+len("Credential="):], ",", 2)[0], "/"); len(parts) == 5 {
			return parts[2]
		}
	}
	return "us-east-1"
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	if s.proxy == nil {
		// What moto and EKS answer to an unknown path.
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "eksfake: no such operation "+r.Method+" "+r.URL.Path)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

// ---- errors ----

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func notFound(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusNotFound, "ResourceNotFoundException", msg)
}

func invalidParameter(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, "InvalidParameterException", msg)
}

func invalidRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, "InvalidRequestException", msg)
}

func inUse(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusConflict, "ResourceInUseException", msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// epoch is a restJson1 timestamp: seconds since the epoch, a JSON number.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// decode reads a JSON request body strictly enough to reject what EKS rejects (not JSON).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		invalidRequest(w, "cannot read the request body")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "the request body is not valid JSON")
		return false
	}
	return true
}

// ---- clusters ----

func (s *Server) withCluster(h func(http.ResponseWriter, *http.Request, *cluster)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if op := operationOf(r); s.failNext[op] > 0 {
			s.failNext[op]--
			writeError(w, http.StatusInternalServerError, "ServerException", "eksfake: injected failure of "+op)
			return
		}
		c := s.clusters[r.PathValue("name")]
		if c == nil {
			notFound(w, "No cluster found for name: "+r.PathValue("name")+".")
			return
		}
		h(w, r, c)
	}
}

// operationOf names the EKS operation of a request the fake owns (for FailNext).
func operationOf(r *http.Request) string {
	p := r.Pattern
	switch {
	case strings.HasSuffix(p, "/access-policies/{policy}"):
		return "DisassociateAccessPolicy"
	case strings.HasSuffix(p, "/access-policies"):
		return map[string]string{"POST": "AssociateAccessPolicy", "GET": "ListAssociatedAccessPolicies"}[r.Method]
	case strings.HasSuffix(p, "/access-entries/{principal}"):
		return map[string]string{"GET": "DescribeAccessEntry", "DELETE": "DeleteAccessEntry"}[r.Method]
	case strings.HasSuffix(p, "/access-entries"):
		return map[string]string{"POST": "CreateAccessEntry", "GET": "ListAccessEntries"}[r.Method]
	case strings.HasSuffix(p, "/pod-identity-associations/{id}"):
		return map[string]string{"GET": "DescribePodIdentityAssociation", "DELETE": "DeletePodIdentityAssociation", "POST": "UpdatePodIdentityAssociation"}[r.Method]
	case strings.HasSuffix(p, "/pod-identity-associations"):
		return map[string]string{"POST": "CreatePodIdentityAssociation", "GET": "ListPodIdentityAssociations"}[r.Method]
	case strings.HasSuffix(p, "/addons/{addon}"):
		return map[string]string{"GET": "DescribeAddon", "DELETE": "DeleteAddon"}[r.Method]
	case strings.HasSuffix(p, "/addons"):
		return map[string]string{"POST": "CreateAddon", "GET": "ListAddons"}[r.Method]
	}
	return ""
}

// createCluster records the accessConfig, forwards the request to moto and, when moto made the
// cluster, keeps the cluster's access configuration (EKS's defaults where none was sent).
func (s *Server) createCluster(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		invalidRequest(w, "cannot read the request body")
		return
	}
	var in struct {
		Name         string        `json:"name"`
		AccessConfig *AccessConfig `json:"accessConfig"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "the request body is not valid JSON")
		return
	}
	ac := AccessConfig{AuthenticationMode: ModeConfigMap, BootstrapClusterCreatorAdminPermissions: ptr(true)}
	if in.AccessConfig != nil {
		switch m := in.AccessConfig.AuthenticationMode; m {
		case "":
		case ModeAPI, ModeAPIAndConfigMap, ModeConfigMap:
			ac.AuthenticationMode = m
		default:
			invalidParameter(w, "Unsupported authentication mode "+m+".")
			return
		}
		if b := in.AccessConfig.BootstrapClusterCreatorAdminPermissions; b != nil {
			ac.BootstrapClusterCreatorAdminPermissions = b
		}
	}
	if ac.AuthenticationMode == ModeConfigMap && !*ac.BootstrapClusterCreatorAdminPermissions {
		invalidParameter(w, "bootstrapClusterCreatorAdminPermissions must be true when the authentication mode is CONFIG_MAP.")
		return
	}
	s.mu.Lock()
	s.created = append(s.created, CreateRecord{Name: in.Name, AccessConfig: in.AccessConfig})
	_, exists := s.clusters[in.Name]
	s.mu.Unlock()
	if s.proxy == nil {
		if exists {
			inUse(w, "Cluster already exists with name: "+in.Name)
			return
		}
		s.mu.Lock()
		s.addCreated(in.Name, ac, signedRegion(r))
		s.mu.Unlock()
		writeJSON(w, map[string]any{"cluster": map[string]any{"name": in.Name, "status": "ACTIVE", "accessConfig": ac}})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	if rec.Code/100 == 2 {
		s.mu.Lock()
		s.addCreated(in.Name, ac, signedRegion(r))
		s.mu.Unlock()
	}
	copyResponse(w, rec, func(v map[string]any) { setAccessConfig(v, ac) })
}

// addCreated registers a cluster made through the fake, with the creator's entry that EKS makes
// when bootstrapClusterCreatorAdminPermissions is true and the mode includes the API.
func (s *Server) addCreated(name string, ac AccessConfig, region string) {
	c := newCluster(name, ac)
	s.clusters[name] = c
	if s.opts.CreatorARN != "" && *ac.BootstrapClusterCreatorAdminPermissions && ac.AuthenticationMode != ModeConfigMap {
		now := time.Now()
		e := &entry{PrincipalARN: s.opts.CreatorARN, Type: "STANDARD", Username: defaultUsername(s.opts.CreatorARN),
			ARN: s.entryARN(region, name, s.opts.CreatorARN), Tags: map[string]string{}, Created: now, Modified: now, policies: map[string]*associated{}}
		pol := PolicyPrefix + "AmazonEKSClusterAdminPolicy"
		e.policies[pol] = &associated{PolicyARN: pol, ScopeType: "cluster", Namespaces: []string{}, At: now, Modified: now}
		e.associationSeq = []string{pol}
		c.entries[e.PrincipalARN] = e
	}
}

func (s *Server) describeCluster(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c := s.clusters[r.PathValue("name")]
	var ac AccessConfig
	if c != nil {
		ac = c.access
	}
	s.mu.Unlock()
	if s.proxy == nil {
		if c == nil {
			notFound(w, "No cluster found for name: "+r.PathValue("name")+".")
			return
		}
		writeJSON(w, map[string]any{"cluster": map[string]any{"name": c.name, "status": "ACTIVE", "accessConfig": ac}})
		return
	}
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	copyResponse(w, rec, func(v map[string]any) {
		if c != nil {
			setAccessConfig(v, ac)
		}
		if cl, ok := v["cluster"].(map[string]any); ok && s.opts.KubeEndpoint != "" {
			cl["endpoint"] = s.opts.KubeEndpoint
			cl["certificateAuthority"] = map[string]any{"data": s.opts.KubeCA}
		}
	})
}

func (s *Server) deleteCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.proxy == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.clusters[name] == nil {
			notFound(w, "No cluster found for name: "+name+".")
			return
		}
		delete(s.clusters, name)
		writeJSON(w, map[string]any{"cluster": map[string]any{"name": name, "status": "DELETING"}})
		return
	}
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	if rec.Code/100 == 2 { // EKS deletes a cluster's access entries and associations with it
		s.mu.Lock()
		delete(s.clusters, name)
		s.mu.Unlock()
	}
	copyResponse(w, rec, nil)
}

func setAccessConfig(v map[string]any, ac AccessConfig) {
	if c, ok := v["cluster"].(map[string]any); ok {
		c["accessConfig"] = ac
	}
}

// copyResponse writes a recorded upstream response, rewriting a successful JSON body with edit.
func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder, edit func(map[string]any)) {
	body := rec.Body.Bytes()
	if edit != nil && rec.Code/100 == 2 {
		var v map[string]any
		if json.Unmarshal(body, &v) == nil {
			edit(v)
			if b, err := json.Marshal(v); err == nil {
				body = b
			}
		}
	}
	for k, vs := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// ---- validation ----

// principalRE is an IAM user or role ARN (access entries take no other principals; an
// assumed-role session must be granted by its role).
var principalRE = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:(user|role)(/[\x21-\x7e]+)*/[\w+=,.@-]{1,128}$`)

var roleARNRE = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role(/[\x21-\x7e]+)*/[\w+=,.@-]{1,64}$`)

var reservedPrefixes = []string{"system:", "eks:", "aws:", "amazon:", "iam:"}

var entryTypes = []string{"STANDARD", "FARGATE_LINUX", "EC2_LINUX", "EC2_WINDOWS", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"}

func (s *Server) entryARN(region, clusterName, principal string) string {
	kind, name := principalKindName(principal)
	return fmt.Sprintf("arn:aws:eks:%s:%s:access-entry/%s/%s/%s/%s/%s", region, s.opts.AccountID, clusterName, kind,
		accountOf(principal), name, randomID(8)+"-"+randomID(4)+"-"+randomID(4)+"-"+randomID(4)+"-"+randomID(12))
}

func principalKindName(arn string) (kind, name string) {
	res := arn[strings.LastIndex(arn, ":")+1:] // user/path/name or role/path/name
	kind = res[:strings.Index(res, "/")]
	return kind, res[strings.LastIndex(res, "/")+1:]
}

func accountOf(arn string) string { return strings.Split(arn, ":")[4] }

// defaultUsername is EKS's username for an entry created without one.
func defaultUsername(principal string) string {
	kind, name := principalKindName(principal)
	if kind == "role" {
		return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/{{SessionName}}", accountOf(principal), name)
	}
	return principal
}

func randomID(n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func requireAPIMode(w http.ResponseWriter, c *cluster) bool {
	if c.access.AuthenticationMode == ModeConfigMap {
		invalidRequest(w, "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.")
		return false
	}
	return true
}

// page applies maxResults/nextToken to n items: the range to return and the next token.
func page(w http.ResponseWriter, r *http.Request, n, max int) (lo, hi int, next string, ok bool) {
	q := r.URL.Query()
	limit := max
	if v := q.Get("maxResults"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > max {
			invalidParameter(w, fmt.Sprintf("maxResults must be between 1 and %d.", max))
			return 0, 0, "", false
		}
		limit = m
	}
	if t := q.Get("nextToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		off, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "offset:") || off < 0 || off > n {
			invalidParameter(w, "The nextToken is invalid.")
			return 0, 0, "", false
		}
		lo = off
	}
	hi = min(lo+limit, n)
	if hi < n {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(hi)))
	}
	return lo, hi, next, true
}

// ---- access entries ----

func (e *entry) json(clusterName string) map[string]any {
	return map[string]any{
		"clusterName": clusterName, "principalArn": e.PrincipalARN, "kubernetesGroups": e.Groups,
		"accessEntryArn": e.ARN, "createdAt": epoch(e.Created), "modifiedAt": epoch(e.Modified),
		"tags": e.Tags, "username": e.Username, "type": e.Type,
	}
}

func (s *Server) createAccessEntry(w http.ResponseWriter, r *http.Request, c *cluster) {
	var in struct {
		PrincipalARN     string            `json:"principalArn"`
		KubernetesGroups []string          `json:"kubernetesGroups"`
		Tags             map[string]string `json:"tags"`
		Username         *string           `json:"username"`
		Type             string            `json:"type"`
	}
	if !decode(w, r, &in) || !requireAPIMode(w, c) {
		return
	}
	if !principalRE.MatchString(in.PrincipalARN) {
		invalidParameter(w, "The specified principalArn is invalid: invalid ARN")
		return
	}
	if in.Type == "" {
		in.Type = "STANDARD"
	}
	if !slices.Contains(entryTypes, in.Type) {
		invalidParameter(w, "The specified type is invalid: "+in.Type)
		return
	}
	if in.Type != "STANDARD" && (in.Username != nil || len(in.KubernetesGroups) > 0) {
		invalidParameter(w, "username and kubernetesGroups can only be specified for access entries of type STANDARD.")
		return
	}
	username := defaultUsername(in.PrincipalARN)
	if in.Username != nil {
		username = *in.Username
		if username == "" || len(username) > 256 {
			invalidParameter(w, "The username must be 1 to 256 characters.")
			return
		}
	}
	for _, p := range reservedPrefixes {
		if in.Username != nil && strings.HasPrefix(username, p) {
			invalidParameter(w, "The username can't start with "+p)
			return
		}
	}
	for _, g := range in.KubernetesGroups {
		if g == "" || strings.HasPrefix(g, "system:") {
			invalidParameter(w, fmt.Sprintf("The kubernetesGroups value %q is invalid: a group can't be empty or start with system:", g))
			return
		}
	}
	if _, dup := c.entries[in.PrincipalARN]; dup {
		inUse(w, "The specified access entry resource is already in use on this cluster.")
		return
	}
	now := time.Now()
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	groups := slices.Clone(in.KubernetesGroups)
	if groups == nil {
		groups = []string{}
	}
	e := &entry{PrincipalARN: in.PrincipalARN, Type: in.Type, Username: username, Groups: groups,
		ARN: s.entryARN(signedRegion(r), c.name, in.PrincipalARN), Tags: in.Tags, Created: now, Modified: now,
		policies: map[string]*associated{}}
	c.entries[e.PrincipalARN] = e
	writeJSON(w, map[string]any{"accessEntry": e.json(c.name)})
}

func (s *Server) entryOf(w http.ResponseWriter, r *http.Request, c *cluster) *entry {
	if !requireAPIMode(w, c) {
		return nil
	}
	e := c.entries[r.PathValue("principal")]
	if e == nil {
		notFound(w, "The specified access entry resource can't be found on this cluster.")
	}
	return e
}

func (s *Server) describeAccessEntry(w http.ResponseWriter, r *http.Request, c *cluster) {
	if e := s.entryOf(w, r, c); e != nil {
		writeJSON(w, map[string]any{"accessEntry": e.json(c.name)})
	}
}

func (s *Server) deleteAccessEntry(w http.ResponseWriter, r *http.Request, c *cluster) {
	if e := s.entryOf(w, r, c); e != nil {
		delete(c.entries, e.PrincipalARN) // its associated policies go with it, as in EKS
		writeJSON(w, map[string]any{})
	}
}

func (s *Server) listAccessEntries(w http.ResponseWriter, r *http.Request, c *cluster) {
	if !requireAPIMode(w, c) {
		return
	}
	filter := r.URL.Query().Get("associatedPolicyArn")
	var arns []string
	for arn, e := range c.entries {
		if filter == "" || e.policies[filter] != nil {
			arns = append(arns, arn)
		}
	}
	sort.Strings(arns)
	lo, hi, next, ok := page(w, r, len(arns), 100)
	if !ok {
		return
	}
	out := map[string]any{"accessEntries": append([]string{}, arns[lo:hi]...)}
	if next != "" {
		out["nextToken"] = next
	}
	writeJSON(w, out)
}

// ---- access policies ----

func validPolicy(w http.ResponseWriter, arn string) bool {
	name, ok := strings.CutPrefix(arn, PolicyPrefix)
	if !ok {
		invalidParameter(w, "The specified policyArn is invalid: "+arn)
		return false
	}
	if !slices.Contains(policies, name) {
		notFound(w, "The specified access policy can't be found: "+arn)
		return false
	}
	return true
}

func (a *associated) json() map[string]any {
	return map[string]any{
		"policyArn":    a.PolicyARN,
		"accessScope":  map[string]any{"type": a.ScopeType, "namespaces": a.Namespaces},
		"associatedAt": epoch(a.At), "modifiedAt": epoch(a.Modified),
	}
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\*?$|^\*$`)

func (s *Server) associateAccessPolicy(w http.ResponseWriter, r *http.Request, c *cluster) {
	var in struct {
		PolicyARN   string `json:"policyArn"`
		AccessScope *struct {
			Type       string   `json:"type"`
			Namespaces []string `json:"namespaces"`
		} `json:"accessScope"`
	}
	if !decode(w, r, &in) {
		return
	}
	e := s.entryOf(w, r, c)
	if e == nil || !validPolicy(w, in.PolicyARN) {
		return
	}
	if e.Type != "STANDARD" {
		invalidParameter(w, "Access policies can only be associated with access entries of type STANDARD.")
		return
	}
	if in.AccessScope == nil {
		invalidParameter(w, "accessScope is required.")
		return
	}
	switch in.AccessScope.Type {
	case "cluster":
		if len(in.AccessScope.Namespaces) > 0 {
			invalidParameter(w, "Namespaces can't be specified for an access scope of type cluster.")
			return
		}
	case "namespace":
		if len(in.AccessScope.Namespaces) == 0 {
			invalidParameter(w, "At least one namespace is required for an access scope of type namespace.")
			return
		}
		for _, ns := range in.AccessScope.Namespaces {
			if !namespaceRE.MatchString(ns) {
				invalidParameter(w, fmt.Sprintf("The namespace %q is invalid.", ns))
				return
			}
		}
	default:
		invalidParameter(w, fmt.Sprintf("The access scope type %q is invalid: use cluster or namespace.", in.AccessScope.Type))
		return
	}
	now := time.Now()
	nss := slices.Clone(in.AccessScope.Namespaces)
	if nss == nil {
		nss = []string{}
	}
	a := e.policies[in.PolicyARN]
	if a == nil { // associating again replaces the scope
		a = &associated{PolicyARN: in.PolicyARN, At: now}
		e.policies[in.PolicyARN] = a
		e.associationSeq = append(e.associationSeq, in.PolicyARN)
	}
	a.ScopeType, a.Namespaces, a.Modified = in.AccessScope.Type, nss, now
	writeJSON(w, map[string]any{"clusterName": c.name, "principalArn": e.PrincipalARN, "associatedAccessPolicy": a.json()})
}

func (s *Server) disassociateAccessPolicy(w http.ResponseWriter, r *http.Request, c *cluster) {
	e := s.entryOf(w, r, c)
	if e == nil {
		return
	}
	pol := r.PathValue("policy")
	if e.policies[pol] == nil {
		notFound(w, "The specified access policy is not associated with this access entry: "+pol)
		return
	}
	delete(e.policies, pol)
	e.associationSeq = slices.DeleteFunc(e.associationSeq, func(p string) bool { return p == pol })
	writeJSON(w, map[string]any{})
}

func (s *Server) listAssociatedAccessPolicies(w http.ResponseWriter, r *http.Request, c *cluster) {
	e := s.entryOf(w, r, c)
	if e == nil {
		return
	}
	lo, hi, next, ok := page(w, r, len(e.associationSeq), 100)
	if !ok {
		return
	}
	list := []map[string]any{}
	for _, p := range e.associationSeq[lo:hi] {
		list = append(list, e.policies[p].json())
	}
	out := map[string]any{"clusterName": c.name, "principalArn": e.PrincipalARN, "associatedAccessPolicies": list}
	if next != "" {
		out["nextToken"] = next
	}
	writeJSON(w, out)
}

// ---- pod identity associations ----

func (a *podIdentity) json(clusterName string) map[string]any {
	return map[string]any{
		"clusterName": clusterName, "namespace": a.Namespace, "serviceAccount": a.ServiceAccount,
		"roleArn": a.RoleARN, "associationArn": a.ARN, "associationId": a.ID, "tags": a.Tags,
		"createdAt": epoch(a.Created), "modifiedAt": epoch(a.Modified), "disableSessionTags": false,
	}
}

var serviceAccountRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

func (s *Server) createPodIdentityAssociation(w http.ResponseWriter, r *http.Request, c *cluster) {
	var in struct {
		Namespace      string            `json:"namespace"`
		ServiceAccount string            `json:"serviceAccount"`
		RoleARN        string            `json:"roleArn"`
		Tags           map[string]string `json:"tags"`
	}
	if !decode(w, r, &in) {
		return
	}
	switch {
	case !namespaceRE.MatchString(in.Namespace) || strings.Contains(in.Namespace, "*"):
		invalidParameter(w, "The namespace is invalid: "+in.Namespace)
		return
	case !serviceAccountRE.MatchString(in.ServiceAccount):
		invalidParameter(w, "The serviceAccount is invalid: "+in.ServiceAccount)
		return
	case !roleARNRE.MatchString(in.RoleARN):
		invalidParameter(w, "The roleArn is invalid: "+in.RoleARN)
		return
	}
	for _, a := range c.assocs {
		if a.Namespace == in.Namespace && a.ServiceAccount == in.ServiceAccount {
			inUse(w, "Association already exists: "+a.ID)
			return
		}
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	now := time.Now()
	id := "a-" + randomID(17)
	a := &podIdentity{ID: id, ARN: fmt.Sprintf("arn:aws:eks:%s:%s:podidentityassociation/%s/%s", signedRegion(r), s.opts.AccountID, c.name, id),
		Namespace: in.Namespace, ServiceAccount: in.ServiceAccount, RoleARN: in.RoleARN, Tags: in.Tags, Created: now, Modified: now}
	c.assocs[id] = a
	writeJSON(w, map[string]any{"association": a.json(c.name)})
}

func (s *Server) associationOf(w http.ResponseWriter, r *http.Request, c *cluster) *podIdentity {
	a := c.assocs[r.PathValue("id")]
	if a == nil {
		notFound(w, "No Pod Identity Association found with id: "+r.PathValue("id"))
	}
	return a
}

func (s *Server) describePodIdentityAssociation(w http.ResponseWriter, r *http.Request, c *cluster) {
	if a := s.associationOf(w, r, c); a != nil {
		writeJSON(w, map[string]any{"association": a.json(c.name)})
	}
}

// updatePodIdentityAssociation changes the role of an association (UpdatePodIdentityAssociation:
// POST .../pod-identity-associations/{id} with roleArn; namespace and service account are fixed).
func (s *Server) updatePodIdentityAssociation(w http.ResponseWriter, r *http.Request, c *cluster) {
	var in struct {
		RoleARN string `json:"roleArn"`
	}
	if !decode(w, r, &in) {
		return
	}
	a := s.associationOf(w, r, c)
	if a == nil {
		return
	}
	if in.RoleARN != "" {
		if !roleARNRE.MatchString(in.RoleARN) {
			invalidParameter(w, "The roleArn is invalid: "+in.RoleARN)
			return
		}
		a.RoleARN = in.RoleARN
	}
	a.Modified = time.Now()
	writeJSON(w, map[string]any{"association": a.json(c.name)})
}

func (s *Server) deletePodIdentityAssociation(w http.ResponseWriter, r *http.Request, c *cluster) {
	if a := s.associationOf(w, r, c); a != nil {
		delete(c.assocs, a.ID)
		writeJSON(w, map[string]any{"association": a.json(c.name)})
	}
}

func (s *Server) listPodIdentityAssociations(w http.ResponseWriter, r *http.Request, c *cluster) {
	q := r.URL.Query()
	var list []*podIdentity
	for _, a := range c.assocs {
		if (q.Get("namespace") == "" || a.Namespace == q.Get("namespace")) && (q.Get("serviceAccount") == "" || a.ServiceAccount == q.Get("serviceAccount")) {
			list = append(list, a)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	lo, hi, next, ok := page(w, r, len(list), 100)
	if !ok {
		return
	}
	sums := []map[string]any{}
	for _, a := range list[lo:hi] {
		sums = append(sums, map[string]any{"clusterName": c.name, "namespace": a.Namespace, "serviceAccount": a.ServiceAccount,
			"associationArn": a.ARN, "associationId": a.ID})
	}
	out := map[string]any{"associations": sums}
	if next != "" {
		out["nextToken"] = next
	}
	writeJSON(w, out)
}
