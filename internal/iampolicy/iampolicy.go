// Package iampolicy renders cortex's three IAM policy documents from templates: the minimum
// management policy (what `cortex cluster up/configure/down` need), the operator's runtime policy,
// and the cluster's default policy (attached to the nodes' role as cortex-<cluster>-<region>).
package iampolicy

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
)

// Kinds of policy documents.
const (
	Management = "management"
	Operator   = "operator"
	Default    = "default"
)

// Kinds lists the documents in the order `cortex cluster policy` documents them.
var Kinds = []string{Management, Operator, Default}

//go:embed templates/*.json.tmpl
var templatesFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").Funcs(template.FuncMap{
	"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
}).ParseFS(templatesFS, "templates/*.json.tmpl"))

// Params fill in a template.
type Params struct {
	Partition   string // aws, aws-cn, aws-us-gov (default aws)
	AccountID   string
	Region      string
	ClusterName string
	Bucket      string
	LogGroup    string
	// RolePrefix is the prefix of the cluster's IAM role names (clusterconfig.RolePrefix).
	RolePrefix string
	// APIPolicyARNs and APIRoleARNs are the cluster admin's allowlist of what APIs may be given
	// (cluster.yaml api_iam). The operator policy agrees with it: iam:AttachRolePolicy on the APIs'
	// roles only for these policies (none: no attach at all), iam:PassRole beyond cortex's own API
	// roles only for these roles. Detaching stays unconditioned: it only removes rights, and a role
	// must lose a policy dropped from the list before it can be deleted.
	APIPolicyARNs, APIRoleARNs []string
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	safeRE    = regexp.MustCompile(`^[a-z0-9-]+$`)
)

func (p Params) validate() error {
	if err := (apiidentity.Allowed{PolicyARNs: p.APIPolicyARNs, RoleARNs: p.APIRoleARNs}).Validate("api_iam"); err != nil {
		return err
	}
	if !accountRE.MatchString(p.AccountID) {
		return fmt.Errorf("account id %q is not 12 digits", p.AccountID)
	}
	for name, v := range map[string]string{"partition": p.Partition, "region": p.Region, "cluster name": p.ClusterName, "bucket": p.Bucket, "log group": p.LogGroup, "role prefix": p.RolePrefix} {
		if !safeRE.MatchString(v) {
			return fmt.Errorf("%s %q may only contain lowercase letters, digits and hyphens", name, v)
		}
	}
	return nil
}

// Render returns the named policy document, indented, with every parameter filled in.
func Render(kind string, p Params) ([]byte, error) {
	if p.Partition == "" {
		p.Partition = "aws"
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("render %s policy: %w", kind, err)
	}
	t := templates.Lookup(kind + ".json.tmpl")
	if t == nil {
		return nil, fmt.Errorf("unknown policy type %q: use %s", kind, strings.Join(Kinds, ", "))
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("render %s policy: template is not JSON: %w", kind, err)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Compact removes insignificant whitespace (IAM counts it against the policy size limit).
func Compact(doc []byte) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// Statement is the part of a policy statement a preflight needs.
type Statement struct {
	Sid       string
	Actions   []string
	Resources []string
}

// Statements parses a rendered document into its Allow statements.
func Statements(doc []byte) ([]Statement, error) {
	var d struct {
		Statement []struct {
			Sid      string
			Effect   string
			Action   stringList
			Resource stringList
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var out []Statement
	for _, s := range d.Statement {
		if s.Effect != "Allow" {
			continue
		}
		out = append(out, Statement{Sid: s.Sid, Actions: s.Action, Resources: s.Resource})
	}
	return out, nil
}

// Actions returns every action a document allows, sorted and de-duplicated.
func Actions(doc []byte) ([]string, error) {
	sts, err := Statements(doc)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range sts {
		for _, a := range s.Actions {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}
