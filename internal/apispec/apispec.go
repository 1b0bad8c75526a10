// Package apispec parses and validates API specs (cortex.yaml): a YAML list of APIs, each with a
// name, a kind (RealtimeAPI), a handler (a Python class run by cortex's serving runtime, any
// command listening on $CORTEX_PORT, or a container image: Kubernetes only), env, replicas,
// compute and networking.endpoint.
//
// Parse works on YAML text and reports errors with the field and the line; Validate works on
// decoded specs (the operator receives JSON) and reports the field.
package apispec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cortexlabs-go/cortex/internal/fielderr"
)

// KindRealtime is the only kind the local provider runs.
const KindRealtime = "RealtimeAPI"

// Handler types.
const (
	HandlerPython  = "python"
	HandlerCommand = "command"
	// HandlerContainer runs an image of the user's own (Kubernetes only: the local provider runs
	// no images).
	HandlerContainer = "container"
)

// DefaultContainerPort is where a container handler listens unless its port says otherwise.
const DefaultContainerPort = 8080

// NodeGroupLabel is the node label compute.node_group selects: an API with node_group "gpu" runs
// only on nodes labelled cortex.dev/node-group=gpu.
const NodeGroupLabel = "cortex.dev/node-group"

// Limits.
const (
	MaxReplicas = 32
	MaxAPIs     = 256
)

// Spec is one API of cortex.yaml. Field names are the YAML/JSON keys.
type Spec struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"`
	Handler    Handler           `json:"handler"`
	Env        map[string]string `json:"env,omitempty"`
	Replicas   int               `json:"replicas,omitempty"`
	Networking Networking        `json:"networking,omitempty"`
	// Compute is what each replica reserves and where it may run (Kubernetes; the local provider
	// ignores it). omitzero keeps the JSON, and so the hash, of specs without it unchanged.
	Compute Compute `json:"compute,omitzero"`
	// ProjectDir is the absolute directory the spec's relative paths are resolved against. The
	// CLI sets it to the directory of cortex.yaml; on the local provider the operator runs on
	// the same machine and reads the handler from there.
	ProjectDir string `json:"project_dir,omitempty"`
	// AWSCredentials: false opts the API out of the AWS credentials a local environment passes
	// to its APIs (default true, i.e. it gets them when the environment is configured to pass them).
	AWSCredentials *bool `json:"aws_credentials,omitempty"`
	// Auth says who may call the API through the gateway (see auth.go). Validate fills the
	// default, iam.
	Auth Auth `json:"auth"`
	// IAMRoleARN or IAMPolicyARNs give the API an AWS identity of its own (identity.go).
	IAMRoleARN    string   `json:"iam_role_arn,omitempty"`
	IAMPolicyARNs []string `json:"iam_policy_arns,omitempty"`
}

// Handler says what runs in each replica.
type Handler struct {
	// Type is "python" (a class Handler in Path with __init__(config) and handle_post(payload),
	// run by cortex's serving runtime), "command" (Command, which must listen on $CORTEX_PORT) or
	// "container" (Image, listening on Port; Command and Args replace its entrypoint and
	// arguments).
	Type    string         `json:"type"`
	Path    string         `json:"path,omitempty"`
	Config  map[string]any `json:"config,omitempty"`
	Command []string       `json:"command,omitempty"`
	// Container handlers only.
	Image string   `json:"image,omitempty"`
	Port  int      `json:"port,omitempty"`
	Args  []string `json:"args,omitempty"`
	// HealthCheckPath is an HTTP path answered with 2xx/3xx when the container is ready (its
	// readiness probe); empty: ready once the port accepts connections.
	HealthCheckPath string `json:"health_check_path,omitempty"`
}

// Compute is the resources of one replica and the nodes it may run on; zero values mean no
// request and any node.
type Compute struct {
	// CPU and Mem are Kubernetes quantities ("500m", "2", "512Mi", "2Gi").
	CPU string `json:"cpu,omitempty"`
	Mem string `json:"mem,omitempty"`
	// GPU is the number of nvidia.com/gpu devices.
	GPU int `json:"gpu,omitempty"`
	// NodeGroup selects the nodes labelled NodeGroupLabel=NodeGroup.
	NodeGroup string `json:"node_group,omitempty"`
}

// Networking is where the gateway serves the API.
type Networking struct {
	// Endpoint is the gateway path, default "/<name>".
	Endpoint string `json:"endpoint,omitempty"`
}

// FieldError is a problem of one field of a spec: the file, line, API and field (package fielderr).
type FieldError = fielderr.Error

// Subject names the index-th API (and its name when known) in messages.
func Subject(index int, name string) string {
	if name != "" {
		return fmt.Sprintf("api %q (#%d)", name, index+1)
	}
	return fmt.Sprintf("api #%d", index+1)
}

var (
	nameRE     = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	endpointRE = regexp.MustCompile(`^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,62})+$`)
	// healthPathRE: an absolute URL path of RFC 3986 path characters (no spaces, no query).
	healthPathRE = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,255}$`)
	envKeyRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// reservedEnv are set by cortex itself; a spec may not override them.
func reservedEnv(k string) bool {
	return strings.HasPrefix(k, "CORTEX_") || strings.HasPrefix(k, "AWS_")
}

// ValidateList validates and normalizes specs in place (defaults: replicas 1, endpoint "/name").
// It checks the fields of each spec, duplicate names and duplicate endpoints, and reports every
// problem (fielderr.Errors, each naming the API). Paths are checked on disk only when checkFS is
// true (the machine that runs the API must do it).
func ValidateList(specs []Spec, checkFS bool) error {
	return validateList(specs, checkFS, nil)
}

// validateList skips the specs in skip (they already have problems) except for duplicates.
func validateList(specs []Spec, checkFS bool, skip map[int]bool) error {
	var l fielderr.List
	if len(specs) == 0 {
		l.Add("", "no APIs in the spec")
		return l.Err()
	}
	if len(specs) > MaxAPIs {
		l.Add("", "too many APIs (%d, at most %d)", len(specs), MaxAPIs)
		return l.Err()
	}
	names := map[string]int{}
	endpoints := map[string]int{}
	add := func(i int, field, format string, a ...any) {
		e := l.Add(field, format, a...)
		e.Subject, e.Path = Subject(i, specs[i].Name), fmt.Sprintf("[%d].%s", i, field)
	}
	for i := range specs {
		s := &specs[i]
		if !skip[i] {
			if err := Validate(s, checkFS); err != nil {
				var es fielderr.Errors
				errors.As(err, &es)
				for _, e := range es {
					add(i, e.Field, "%s", e.Msg)
				}
				continue
			}
		}
		if s.Name == "" {
			continue
		}
		if j, dup := names[s.Name]; dup {
			add(i, "name", "duplicate name %q (also API #%d)", s.Name, j+1)
		} else {
			names[s.Name] = i
		}
		if s.Networking.Endpoint == "" {
			continue
		}
		ep := strings.ToLower(s.Networking.Endpoint)
		if j, dup := endpoints[ep]; dup {
			add(i, "networking.endpoint", "endpoint %q is also used by API %q", s.Networking.Endpoint, specs[j].Name)
		} else {
			endpoints[ep] = i
		}
	}
	return l.Err()
}

// Validate checks one spec, fills in defaults and reports every problem (fielderr.Errors).
func Validate(s *Spec, checkFS bool) error {
	var l fielderr.List
	validate(s, checkFS, func(field, format string, a ...any) { l.Add(field, format, a...) })
	return l.Err()
}

func validate(s *Spec, checkFS bool, fe func(field, format string, a ...any)) {
	switch {
	case s.Name == "":
		fe("name", "required")
	case !nameRE.MatchString(s.Name):
		fe("name", "invalid name %q: use 1-63 lowercase letters, digits and '-', starting with a letter", s.Name)
	}
	switch {
	case s.Kind == "":
		fe("kind", "required (use %s)", KindRealtime)
	case s.Kind != KindRealtime:
		fe("kind", "unknown kind %q (supported: %s)", s.Kind, KindRealtime)
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.Replicas < 0 || s.Replicas > MaxReplicas {
		fe("replicas", "must be between 1 and %d, got %d", MaxReplicas, s.Replicas)
	}
	if s.Networking.Endpoint == "" && s.Name != "" {
		s.Networking.Endpoint = "/" + s.Name
	}
	ep := s.Networking.Endpoint
	switch {
	case !endpointRE.MatchString(ep) || strings.Contains(ep, "..") || strings.HasSuffix(ep, "/"):
		if ep != "" || s.Name != "" {
			fe("networking.endpoint", "invalid endpoint %q: use a path like /name or /team/name (letters, digits, '_', '-', '.'; no '..', no spaces)", ep)
		}
	case len(ep) > 256:
		fe("networking.endpoint", "too long (at most 256 characters)")
	case ep == "/healthz" || strings.HasPrefix(ep, "/v1/") || ep == "/v1":
		fe("networking.endpoint", "endpoint %q is reserved", ep)
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case !envKeyRE.MatchString(k):
			fe("env."+k, "invalid variable name")
		case reservedEnv(k):
			fe("env."+k, "variables starting with CORTEX_ or AWS_ are set by cortex")
		case strings.ContainsRune(s.Env[k], 0):
			fe("env."+k, "value contains a NUL byte")
		}
	}
	projectOK := true
	if s.ProjectDir != "" && !filepath.IsAbs(s.ProjectDir) {
		fe("project_dir", "must be an absolute path, got %q", s.ProjectDir)
		projectOK = false
	} else if checkFS && s.ProjectDir != "" {
		st, err := os.Stat(s.ProjectDir)
		if err != nil {
			fe("project_dir", "%v", err)
			projectOK = false
		} else if !st.IsDir() {
			fe("project_dir", "%s is not a directory", s.ProjectDir)
			projectOK = false
		}
	}
	if err := ValidateAuth(&s.Auth); err != nil {
		var e *FieldError
		if errors.As(err, &e) {
			fe(e.Field, "%s", e.Msg)
		} else {
			fe("auth", "%v", err)
		}
	}
	validateCompute(&s.Compute, fe)
	validateIdentity(s, fe)
	h := &s.Handler
	if h.Type != HandlerContainer && h.Type != "" {
		for _, f := range []struct {
			field string
			set   bool
		}{{"image", h.Image != ""}, {"port", h.Port != 0}, {"args", len(h.Args) > 0}, {"health_check_path", h.HealthCheckPath != ""}} {
			if f.set {
				fe("handler."+f.field, "only allowed with type container")
			}
		}
	}
	switch h.Type {
	case "":
		fe("handler.type", "required (python, command or container)")
	case HandlerContainer:
		validateContainer(h, fe)
	case HandlerPython:
		if len(h.Command) > 0 {
			fe("handler.command", "not allowed with type python")
		}
		switch {
		case h.Path == "":
			fe("handler.path", "required for type python (the .py file with class Handler)")
		case filepath.IsAbs(h.Path) || hasDotDot(h.Path):
			fe("handler.path", "must be a path inside the project directory, got %q", h.Path)
		case !strings.HasSuffix(h.Path, ".py"):
			fe("handler.path", "must be a .py file, got %q", h.Path)
		case s.ProjectDir == "":
			fe("project_dir", "required for a python handler (the CLI sets it to the directory of cortex.yaml)")
		case checkFS && projectOK:
			st, err := os.Stat(filepath.Join(s.ProjectDir, h.Path))
			if err != nil {
				fe("handler.path", "%v", err)
			} else if !st.Mode().IsRegular() {
				fe("handler.path", "%s is not a file", h.Path)
			}
		}
		if h.Config != nil {
			if _, err := json.Marshal(h.Config); err != nil {
				fe("handler.config", "%v", err)
			}
		}
	case HandlerCommand:
		if h.Path != "" {
			fe("handler.path", "not allowed with type command (use command)")
		}
		if h.Config != nil {
			fe("handler.config", "not allowed with type command (use env)")
		}
		if len(h.Command) == 0 || h.Command[0] == "" {
			fe("handler.command", "required for type command: a list like [python3, server.py] that listens on $CORTEX_PORT")
		}
		for i, a := range h.Command {
			if strings.ContainsRune(a, 0) {
				fe(fmt.Sprintf("handler.command[%d]", i), "contains a NUL byte")
			}
		}
	default:
		fe("handler.type", "unknown handler type %q (python, command or container)", h.Type)
	}
}

func validateContainer(h *Handler, fe func(field, format string, a ...any)) {
	if h.Path != "" {
		fe("handler.path", "not allowed with type container (the image holds the code)")
	}
	if h.Config != nil {
		fe("handler.config", "not allowed with type container (use env)")
	}
	switch {
	case h.Image == "":
		fe("handler.image", "required for type container: an image reference like registry.example.com/team/api:1.2")
	case len(h.Image) > 512:
		fe("handler.image", "too long (at most 512 characters)")
	default:
		// The parser Docker and the kubelet use; "nginx" means docker.io/library/nginx.
		if _, err := reference.ParseNormalizedNamed(h.Image); err != nil {
			fe("handler.image", "invalid image reference %q: %v", h.Image, err)
		}
	}
	if h.Port == 0 {
		h.Port = DefaultContainerPort
	}
	if h.Port < 1 || h.Port > 65535 {
		fe("handler.port", "must be between 1 and 65535, got %d", h.Port)
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"handler.command", h.Command}, {"handler.args", h.Args}} {
		if len(l.list) > 256 {
			fe(l.field, "too many items (%d, at most 256)", len(l.list))
		}
		for i, a := range l.list {
			if strings.ContainsRune(a, 0) {
				fe(fmt.Sprintf("%s[%d]", l.field, i), "contains a NUL byte")
			}
		}
	}
	if len(h.Command) > 0 && h.Command[0] == "" {
		fe("handler.command[0]", "must not be empty (leave command out to run the image's entrypoint)")
	}
	if p := h.HealthCheckPath; p != "" && (!healthPathRE.MatchString(p) || hasDotDot(p)) {
		fe("handler.health_check_path", "invalid path %q: use an absolute URL path like /healthz (no spaces, no query, no '..')", p)
	}
}

// validateCompute checks the quantities with Kubernetes' own parser (what the API server would
// accept) and the node group as a label value.
func validateCompute(c *Compute, fe func(field, format string, a ...any)) {
	for _, q := range []struct{ field, value string }{{"compute.cpu", c.CPU}, {"compute.mem", c.Mem}} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		switch {
		case err != nil:
			fe(q.field, "invalid quantity %q: use a Kubernetes quantity like 500m, 2, 512Mi or 2Gi", q.value)
		case v.Sign() <= 0:
			fe(q.field, "must be positive, got %q", q.value)
		}
	}
	if c.GPU < 0 {
		fe("compute.gpu", "must not be negative, got %d", c.GPU)
	}
	if c.NodeGroup != "" {
		if errs := validation.IsValidLabelValue(c.NodeGroup); len(errs) > 0 {
			fe("compute.node_group", "invalid node group %q: %s", c.NodeGroup, strings.Join(errs, "; "))
		}
	}
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// Hash is a stable digest of the spec (after Validate), used to tell created/updated/unchanged.
func (s *Spec) Hash() string {
	data, _ := json.Marshal(s) // maps are marshalled with sorted keys
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TemplateHash is the digest of everything but the replica count: a change of it restarts the
// replicas; a change of replicas alone only scales.
func (s *Spec) TemplateHash() string {
	c := *s
	c.Replicas = 0
	return c.Hash()
}

// RunsProjectCode reports whether the handler runs files of the project directory (python and
// command handlers; a container's image holds its own code): on a cluster, cortex deploy sends
// them.
func (s *Spec) RunsProjectCode() bool {
	return s.Handler.Type == HandlerPython || s.Handler.Type == HandlerCommand
}

// WantsAWSCredentials reports whether the API accepts the environment's AWS credentials.
func (s *Spec) WantsAWSCredentials() bool { return s.AWSCredentials == nil || *s.AWSCredentials }
