// Package apispec parses and validates API specs (cortex.yaml): a YAML list of APIs, each with a
// name, a kind (RealtimeAPI), a handler (a Python class run by cortex's serving runtime, or any
// command listening on $CORTEX_PORT), env, replicas and networking.endpoint.
//
// Parse works on YAML text and reports errors with the field and the line; Validate works on
// decoded specs (the operator receives JSON) and reports the field.
package apispec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// KindRealtime is the only kind the local provider runs.
const KindRealtime = "RealtimeAPI"

// Handler types.
const (
	HandlerPython  = "python"
	HandlerCommand = "command"
)

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
}

// Handler says what runs in each replica.
type Handler struct {
	// Type is "python" (a class Handler in Path with __init__(config) and handle_post(payload),
	// run by cortex's serving runtime) or "command" (Command, which must listen on $CORTEX_PORT).
	Type    string         `json:"type"`
	Path    string         `json:"path,omitempty"`
	Config  map[string]any `json:"config,omitempty"`
	Command []string       `json:"command,omitempty"`
}

// Networking is where the gateway serves the API.
type Networking struct {
	// Endpoint is the gateway path, default "/<name>".
	Endpoint string `json:"endpoint,omitempty"`
}

// FieldError is a validation error naming the API, the field and (when parsed from YAML) the line.
type FieldError struct {
	File  string // optional
	Line  int    // 0 when unknown
	Index int    // position of the API in the list
	API   string // the API's name when known
	Field string // e.g. networking.endpoint
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Index >= 0 {
		if e.API != "" {
			fmt.Fprintf(&b, "api %q (#%d): ", e.API, e.Index+1)
		} else {
			fmt.Fprintf(&b, "api #%d: ", e.Index+1)
		}
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

var (
	nameRE     = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	endpointRE = regexp.MustCompile(`^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,62})+$`)
	envKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// reservedEnv are set by cortex itself; a spec may not override them.
func reservedEnv(k string) bool {
	return strings.HasPrefix(k, "CORTEX_") || strings.HasPrefix(k, "AWS_")
}

// ValidateList validates and normalizes specs in place (defaults: replicas 1, endpoint "/name").
// It checks the fields of each spec, duplicate names and duplicate endpoints. Paths are checked
// on disk only when checkFS is true (the machine that runs the API must do it).
func ValidateList(specs []Spec, checkFS bool) error {
	if len(specs) == 0 {
		return &FieldError{Index: -1, Msg: "no APIs in the spec"}
	}
	if len(specs) > MaxAPIs {
		return &FieldError{Index: -1, Msg: fmt.Sprintf("too many APIs (%d, at most %d)", len(specs), MaxAPIs)}
	}
	names := map[string]int{}
	endpoints := map[string]int{}
	for i := range specs {
		if err := Validate(&specs[i], checkFS); err != nil {
			if fe, ok := err.(*FieldError); ok {
				fe.Index = i
			}
			return err
		}
		s := &specs[i]
		if j, dup := names[s.Name]; dup {
			return &FieldError{Index: i, API: s.Name, Field: "name", Msg: fmt.Sprintf("duplicate name %q (also API #%d)", s.Name, j+1)}
		}
		names[s.Name] = i
		ep := strings.ToLower(s.Networking.Endpoint)
		if j, dup := endpoints[ep]; dup {
			return &FieldError{Index: i, API: s.Name, Field: "networking.endpoint", Msg: fmt.Sprintf("endpoint %q is also used by API %q", s.Networking.Endpoint, specs[j].Name)}
		}
		endpoints[ep] = i
	}
	return nil
}

// Validate checks one spec and fills in defaults.
func Validate(s *Spec, checkFS bool) error {
	fe := func(field, format string, a ...any) error {
		return &FieldError{Index: -1, API: s.Name, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	if s.Name == "" {
		return fe("name", "required")
	}
	if !nameRE.MatchString(s.Name) {
		return fe("name", "invalid name %q: use 1-63 lowercase letters, digits and '-', starting with a letter", s.Name)
	}
	if s.Kind == "" {
		return fe("kind", "required (use %s)", KindRealtime)
	}
	if s.Kind != KindRealtime {
		return fe("kind", "unknown kind %q (supported: %s)", s.Kind, KindRealtime)
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.Replicas < 0 || s.Replicas > MaxReplicas {
		return fe("replicas", "must be between 1 and %d, got %d", MaxReplicas, s.Replicas)
	}
	if s.Networking.Endpoint == "" {
		s.Networking.Endpoint = "/" + s.Name
	}
	ep := s.Networking.Endpoint
	if !endpointRE.MatchString(ep) || strings.Contains(ep, "..") || strings.HasSuffix(ep, "/") {
		return fe("networking.endpoint", "invalid endpoint %q: use a path like /name or /team/name (letters, digits, '_', '-', '.'; no '..', no spaces)", ep)
	}
	if len(ep) > 256 {
		return fe("networking.endpoint", "too long (at most 256 characters)")
	}
	if ep == "/healthz" || strings.HasPrefix(ep, "/v1/") || ep == "/v1" {
		return fe("networking.endpoint", "endpoint %q is reserved", ep)
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !envKeyRE.MatchString(k) {
			return fe("env."+k, "invalid variable name")
		}
		if reservedEnv(k) {
			return fe("env."+k, "variables starting with CORTEX_ or AWS_ are set by cortex")
		}
		if strings.ContainsRune(s.Env[k], 0) {
			return fe("env."+k, "value contains a NUL byte")
		}
	}
	if s.ProjectDir != "" && !filepath.IsAbs(s.ProjectDir) {
		return fe("project_dir", "must be an absolute path, got %q", s.ProjectDir)
	}
	if checkFS && s.ProjectDir != "" {
		st, err := os.Stat(s.ProjectDir)
		if err != nil {
			return fe("project_dir", "%v", err)
		}
		if !st.IsDir() {
			return fe("project_dir", "%s is not a directory", s.ProjectDir)
		}
	}
	if err := ValidateAuth(&s.Auth); err != nil {
		return err.(*FieldError).withAPI(s.Name)
	}
	h := &s.Handler
	switch h.Type {
	case "":
		return fe("handler.type", "required (python or command)")
	case HandlerPython:
		if len(h.Command) > 0 {
			return fe("handler.command", "not allowed with type python")
		}
		if h.Path == "" {
			return fe("handler.path", "required for type python (the .py file with class Handler)")
		}
		if filepath.IsAbs(h.Path) || hasDotDot(h.Path) {
			return fe("handler.path", "must be a path inside the project directory, got %q", h.Path)
		}
		if !strings.HasSuffix(h.Path, ".py") {
			return fe("handler.path", "must be a .py file, got %q", h.Path)
		}
		if s.ProjectDir == "" {
			return fe("project_dir", "required for a python handler (the CLI sets it to the directory of cortex.yaml)")
		}
		if checkFS {
			st, err := os.Stat(filepath.Join(s.ProjectDir, h.Path))
			if err != nil {
				return fe("handler.path", "%v", err)
			}
			if !st.Mode().IsRegular() {
				return fe("handler.path", "%s is not a file", h.Path)
			}
		}
		if h.Config != nil {
			if _, err := json.Marshal(h.Config); err != nil {
				return fe("handler.config", "%v", err)
			}
		}
	case HandlerCommand:
		if h.Path != "" {
			return fe("handler.path", "not allowed with type command (use command)")
		}
		if h.Config != nil {
			return fe("handler.config", "not allowed with type command (use env)")
		}
		if len(h.Command) == 0 || h.Command[0] == "" {
			return fe("handler.command", "required for type command: a list like [python3, server.py] that listens on $CORTEX_PORT")
		}
		for i, a := range h.Command {
			if strings.ContainsRune(a, 0) {
				return fe(fmt.Sprintf("handler.command[%d]", i), "contains a NUL byte")
			}
		}
	default:
		return fe("handler.type", "unknown handler type %q (python or command)", h.Type)
	}
	return nil
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

// WantsAWSCredentials reports whether the API accepts the environment's AWS credentials.
func (s *Spec) WantsAWSCredentials() bool { return s.AWSCredentials == nil || *s.AWSCredentials }
