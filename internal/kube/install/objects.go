// Package install is what cortex puts into a Kubernetes cluster: one list of objects (Build),
// written with server-side apply (Apply) or printed as YAML for GitOps (YAML), so the two outputs
// cannot drift, and removed again by label and UID (Uninstall).
//
// Two namespaces: the operator's (Options.Namespace, default cortex) holds the operator, its
// ServiceAccount, its TLS Secret and its Services (and the state Secrets the operator writes);
// the APIs' (Options.APIsNamespace, default <namespace>-apis) holds the APIs and the Roles of
// internal/kube/rbac. They are apart because whoever may create pods in the APIs' namespace (a
// cortex admin from kubectl; deploy cannot) could run them as any ServiceAccount of that
// namespace: the operator's must not be one of them.
package install

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	admac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyac "k8s.io/client-go/applyconfigurations/policy/v1"
	rbacac "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	kubestate "github.com/cortexlabs-go/cortex/internal/kube/statestore"
	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// Names and labels of the installed objects.
const (
	LabelManagedBy = rbac.ManagedByLabel
	ManagedBy      = "cortex"
	// LabelPartOf marks the namespaces. They do not carry LabelManagedBy: Uninstall never deletes
	// a namespace (it may hold objects that are not cortex's).
	LabelPartOf   = "app.kubernetes.io/part-of"
	LabelName     = "app.kubernetes.io/name"
	FieldManager  = rbac.FieldManager
	OperatorName  = "cortex-operator" // Deployment, ServiceAccount, Service, Role, RoleBinding
	GatewayName   = "cortex-gateway"  // Deployment, ServiceAccount, Service, Role, RoleBinding, PodDisruptionBudget
	TLSSecretName = "cortex-tls"
	CASecretName  = "cortex-ca"
	// GatewayTLSSecretName holds what the gateway pods mount: their server certificate (signed by
	// the cluster CA, for the gateway's names only), the cluster CA (to verify the operator) and
	// their client certificate for the operator's internal endpoints.
	GatewayTLSSecretName = "cortex-gateway-tls"
	// GatewayClientCASecretName holds the gateway client CA and its key: no pod mounts it (the
	// operator mounts only the CA's certificate, from TLSSecretName).
	GatewayClientCASecretName = "cortex-gateway-client-ca"
	// GatewayReplicas run at once; a PodDisruptionBudget keeps one through voluntary disruptions.
	GatewayReplicas = 2
	// AnnotationClusterID on the operator Deployment is the cluster id tokens are bound to; a
	// re-install keeps it.
	AnnotationClusterID = "cortex.dev/cluster-id"

	DefaultNamespace = "cortex"
	OperatorPort     = 8888
	GatewayPort      = 8443
	// gatewayServicePort is what clients dial for APIs.
	gatewayServicePort = 443

	// stateDir is scratch (in the /tmp emptyDir): the operator's state is in Secrets of its
	// namespace (--provider kubernetes, internal/kube/statestore).
	stateDir = "/tmp/cortex"
	tlsDir   = "/etc/cortex/tls"
	// gatewayClientCAKey is the gateway client CA's certificate in TLSSecretName.
	gatewayClientCAKey = "gateway-client-ca.crt"
	nonRootUID         = 65532
)

// TLS is the cluster's TLS material: the CA clients pin and its key, and the operator's server
// certificate (chain: leaf, CA) and key. The CA's key is in a Secret of its own that no pod mounts
// (CASecretName): a re-install signs a server certificate for new names (a load balancer's
// address) with it, so the CA clients pinned stays the same.
type TLS struct {
	CACert []byte
	CAKey  []byte
	Cert   []byte
	Key    []byte
	// The gateway's server certificate and key (signed by the CA above, for the gateway's names).
	GatewayCert, GatewayKey []byte
	// The gateway client CA (its key in GatewayClientCASecretName only) and the gateway's client
	// certificate and key, which the operator's internal endpoints require.
	GatewayClientCACert, GatewayClientCAKey []byte
	GatewayClientCert, GatewayClientKey     []byte
}

func (t *TLS) complete() bool {
	for _, b := range [][]byte{t.CACert, t.CAKey, t.Cert, t.Key, t.GatewayCert, t.GatewayKey,
		t.GatewayClientCACert, t.GatewayClientCAKey, t.GatewayClientCert, t.GatewayClientKey} {
		if len(b) == 0 {
			return false
		}
	}
	return true
}

// Options say what to install.
type Options struct {
	// Namespace holds the operator (default cortex).
	Namespace string
	// APIsNamespace holds the APIs (default <Namespace>-apis); it must differ from Namespace.
	APIsNamespace string
	// Image is the cortex image the operator runs (required).
	Image string
	// APIImage is the image the APIs' pods run (default Image).
	APIImage string
	// ServiceType of the operator and gateway Services (default LoadBalancer).
	ServiceType corev1.ServiceType
	// ClusterID binds identity tokens to this cluster (required; kept across re-installs).
	ClusterID string
	// AccountID, Region and CreatorARN are passed to the operator when set.
	AccountID, Region, CreatorARN string
	// PublicEndpoints are the URLs clients dial (the operator accepts tokens bound to these).
	PublicEndpoints []string
	// GatewayPublicEndpoints are the URLs clients dial to reach the gateway (tokens for iam APIs
	// are bound to these). Default: the gateway Service's in-cluster name.
	GatewayPublicEndpoints []string
	// GatewayPublicTLS: GatewayPublicEndpoints present a public CA's certificate (a load balancer
	// with ACM), so clients verify them against their system roots (operator --apis-public-tls).
	GatewayPublicTLS bool
	// TLS is the material of the TLS Secret (required).
	TLS *TLS
	// Webhook, when set, turns on the operator's TokenReview webhook for one API server
	// (webhook.go; cluster up --iam-webhook).
	Webhook *Webhook
	// APIServer, when set, is the host:port at which the operator's pods reach the Kubernetes API
	// (KUBERNETES_SERVICE_HOST/PORT, which client-go's in-cluster configuration reads). Default:
	// the kubernetes Service, which needs a Service proxy (kube-proxy or the CNI's) on the nodes.
	APIServer string
	// OperatorAWS, when set, is how the operator reaches AWS on EKS (awscreds.go): a Secret of
	// cluster credentials, or nothing when its ServiceAccount has a role (EKS Pod Identity).
	OperatorAWS *OperatorAWS
	// EKSPodIdentity lets the operator give APIs IAM roles of their own by EKS Pod Identity
	// associations in the EKS cluster ClusterName (operator --eks-pod-identity --cluster-name).
	EKSPodIdentity bool
	ClusterName    string
	// APIIAM is what APIs may be given (operator --api-allowed-policy-arn/--api-allowed-role-arn;
	// the cluster admin's allowlist, empty: nothing).
	APIIAM apiidentity.Allowed
	// Auth is the operator's authorization mode (operator --auth-mode/--account-role; empty: its
	// defaults, account and deploy, and no argument).
	Auth Auth
	// Provider is what the operator reports: kubernetes (default) or aws (the EKS install of
	// `cluster up --provider aws`; the same kube backend and state in Secrets).
	Provider string
	// OperatorNodePort and GatewayNodePort fix the node ports of a NodePort install (0: the API
	// server picks). Load balancers that target the nodes need ports known in advance.
	OperatorNodePort, GatewayNodePort int32
	// STSTestEndpoint, TESTS ONLY, makes the operator verify identity tokens against this STS
	// emulator (http(s)://host[:port], e.g. moto) instead of AWS (operator --sts-test-endpoint).
	STSTestEndpoint string
	// OperatorServiceIP, when set, is the operator Service's cluster IP: the gateway pods resolve
	// the Service's name (which they dial, and which the operator's certificate covers) to it
	// from their hosts file, so that the gateway reaches the operator without cluster DNS.
	OperatorServiceIP string
}

func (o *Options) setDefaults() error {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.APIsNamespace == "" {
		o.APIsNamespace = o.Namespace + "-apis"
	}
	for _, ns := range []string{o.Namespace, o.APIsNamespace} {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %v", ns, errs[0])
		}
	}
	if o.Namespace == o.APIsNamespace {
		return errors.New("the APIs' namespace must differ from the operator's (a deploy identity could run a pod as the operator's ServiceAccount)")
	}
	if o.Image == "" {
		return errors.New("an image is required (--image)")
	}
	if o.APIImage == "" {
		o.APIImage = o.Image
	}
	switch o.ServiceType {
	case "":
		o.ServiceType = corev1.ServiceTypeLoadBalancer
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP:
	default:
		return fmt.Errorf("service type %q: use LoadBalancer, NodePort or ClusterIP", o.ServiceType)
	}
	if o.ClusterID == "" {
		return errors.New("a cluster id is required")
	}
	switch o.Provider {
	case "":
		o.Provider = "kubernetes"
	case "kubernetes", "aws":
	default:
		return fmt.Errorf("provider %q: use kubernetes or aws", o.Provider)
	}
	if (o.OperatorNodePort != 0 || o.GatewayNodePort != 0) && o.ServiceType != corev1.ServiceTypeNodePort {
		return errors.New("node ports need service type NodePort")
	}
	if len(o.GatewayPublicEndpoints) == 0 {
		o.GatewayPublicEndpoints = []string{"https://" + GatewayName + "." + o.Namespace + ".svc"}
	}
	if o.APIServer != "" {
		host, port, err := net.SplitHostPort(o.APIServer)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 || (net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(host)) > 0) {
			return fmt.Errorf("API server address %q: want host:port", o.APIServer)
		}
	}
	if o.TLS == nil || !o.TLS.complete() {
		return errors.New("TLS material is required")
	}
	if o.Webhook != nil && (o.Webhook.APIServer == "" || !o.Webhook.complete()) {
		return errors.New("the IAM webhook needs its API server URL, client CA and client certificate")
	}
	if err := o.OperatorAWS.validate(); err != nil {
		return err
	}
	if o.EKSPodIdentity && (o.ClusterName == "" || o.AccountID == "") {
		return errors.New("per-API roles by EKS Pod Identity need the EKS cluster's name and the account id")
	}
	if err := o.APIIAM.Validate("api_iam"); err != nil {
		return err
	}
	if err := o.Auth.Validate(); err != nil {
		return err
	}
	if o.OperatorServiceIP != "" && net.ParseIP(o.OperatorServiceIP) == nil {
		return fmt.Errorf("operator Service IP %q is not an IP address", o.OperatorServiceIP)
	}
	if o.STSTestEndpoint != "" {
		if _, err := identity.TestEndpointHosts(o.STSTestEndpoint, o.Region); err != nil {
			return err
		}
	}
	return nil
}

// ParseServiceType accepts the Service type in any case (loadbalancer, NodePort, ...).
func ParseServiceType(s string) (corev1.ServiceType, error) {
	for _, t := range []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP} {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
	}
	return "", fmt.Errorf("invalid service type %q: use LoadBalancer, NodePort or ClusterIP", s)
}

// Objects is everything the install writes, in apply order (namespaces first, the operator last,
// so that it starts with its permissions and Secret in place).
type Objects struct {
	Namespaces      []*coreac.NamespaceApplyConfiguration
	ServiceAccounts []*coreac.ServiceAccountApplyConfiguration
	Roles           []*rbacac.RoleApplyConfiguration
	RoleBindings    []*rbacac.RoleBindingApplyConfiguration
	Secrets         []*coreac.SecretApplyConfiguration
	Services        []*coreac.ServiceApplyConfiguration
	Deployments     []*appsac.DeploymentApplyConfiguration
	PDBs            []*policyac.PodDisruptionBudgetApplyConfiguration

	// AdmissionPolicies and AdmissionPolicyBindings are cluster-scoped: rbac.ReplicasPolicy, the
	// bound on the APIs' replicas (applied after the RoleBindings, with the installer's rights,
	// not the operator's).
	AdmissionPolicies       []*admac.ValidatingAdmissionPolicyApplyConfiguration
	AdmissionPolicyBindings []*admac.ValidatingAdmissionPolicyBindingApplyConfiguration

	opts Options
}

// Options returns the options the objects were built from, defaults filled.
func (o *Objects) Options() Options { return o.opts }

// All returns every object in apply order.
func (o *Objects) All() []any {
	var all []any
	for _, x := range o.Namespaces {
		all = append(all, x)
	}
	for _, x := range o.ServiceAccounts {
		all = append(all, x)
	}
	for _, x := range o.Roles {
		all = append(all, x)
	}
	for _, x := range o.RoleBindings {
		all = append(all, x)
	}
	for _, x := range o.AdmissionPolicies {
		all = append(all, x)
	}
	for _, x := range o.AdmissionPolicyBindings {
		all = append(all, x)
	}
	for _, x := range o.Secrets {
		all = append(all, x)
	}
	for _, x := range o.Services {
		all = append(all, x)
	}
	for _, x := range o.Deployments {
		all = append(all, x)
	}
	for _, x := range o.PDBs {
		all = append(all, x)
	}
	return all
}

func managed() map[string]string { return map[string]string{LabelManagedBy: ManagedBy} }

func withName(name string) map[string]string {
	l := managed()
	l[LabelName] = name
	return l
}

// OperatorRules are the operator's rules in the APIs' namespace: exactly what the kube workload
// backend (internal/workload/kube) calls, and nothing else. Server-side apply is the "patch" verb,
// plus "create" when the object does not exist yet. Why each verb, by resource:
//
//   - deployments: get (the ownership check before a first apply), list/watch (the informer),
//     create/patch (apply, and Restart's annotation), delete.
//   - services, serviceaccounts, networkpolicies, secrets: get (ownership check), list (Delete
//     finds an API's objects by label), create/patch (apply), delete. Not watched.
//   - poddisruptionbudgets: as above, plus watch (the informer decides when to remove one).
//   - pods: list/watch (the informer: status and replica details); pods/log: get (logs).
//   - endpointslices: list/watch (the informer: the gateway's targets).
//   - configmaps: the APIs' code (immutable, one per API and content hash): create, get (an
//     existing one is checked before use, and read on a restore), list (find an API's unused
//     code, and Delete), delete. Never patched (immutable) nor watched.
var OperatorRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"services", "serviceaccounts", "secrets"}, Verbs: []string{"get", "list", "create", "patch", "delete"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list", "create", "patch", "delete"}},
	{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "delete"}},
}

// OperatorStateRules are the operator's rules in its own namespace: exactly what its state store
// (internal/kube/statestore) calls, on Secrets only: create (a document's first write; create
// cannot be limited to names), and get and update of the state Secrets by name (so the operator
// cannot read the CA key's Secret or any other).
var OperatorStateRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
	{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: stateSecretNames(), Verbs: []string{"get", "update"}},
}

func stateSecretNames() []string {
	var names []string
	for _, d := range statestore.Documents {
		names = append(names, kubestate.SecretName(d))
	}
	return names
}

// GatewayRules are the gateway's rules in the APIs' namespace: list and watch EndpointSlices (the
// informer of internal/workload/kube/targets: the replicas' addresses), nothing else. Routes and
// decisions come from the operator.
var GatewayRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
}

// Build returns the objects of an install. It does no I/O: Apply and YAML use the same list.
func Build(opts Options) (*Objects, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ns, apis := opts.Namespace, opts.APIsNamespace
	o := &Objects{opts: opts}
	for _, n := range []string{ns, apis} {
		o.Namespaces = append(o.Namespaces, coreac.Namespace(n).WithLabels(map[string]string{
			LabelPartOf: ManagedBy,
			// Pod Security Admission: the API server itself refuses a pod that is not locked down
			// (privileged, root, host namespaces, added capabilities, ...) in these namespaces,
			// e.g. one an admin identity creates from kubectl.
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		}))
	}
	o.ServiceAccounts = append(o.ServiceAccounts, coreac.ServiceAccount(OperatorName, ns).WithLabels(withName(OperatorName)).
		// Mounted explicitly by the operator's pod, which is the only pod that uses it.
		WithAutomountServiceAccountToken(false))

	role := rbacac.Role(OperatorName, apis).WithLabels(withName(OperatorName))
	for _, r := range OperatorRules {
		role.WithRules(rbacac.PolicyRule().WithAPIGroups(r.APIGroups...).WithResources(r.Resources...).WithVerbs(r.Verbs...))
	}
	o.Roles = append(o.Roles, role)
	o.RoleBindings = append(o.RoleBindings, rbacac.RoleBinding(OperatorName, apis).WithLabels(withName(OperatorName)).
		WithSubjects(rbacac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(OperatorName).WithNamespace(ns)).
		WithRoleRef(rbacac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(OperatorName)))
	o.ServiceAccounts = append(o.ServiceAccounts, coreac.ServiceAccount(GatewayName, ns).WithLabels(withName(GatewayName)).
		WithAutomountServiceAccountToken(false))
	gwRole := rbacac.Role(GatewayName, apis).WithLabels(withName(GatewayName))
	for _, r := range GatewayRules {
		gwRole.WithRules(rbacac.PolicyRule().WithAPIGroups(r.APIGroups...).WithResources(r.Resources...).WithVerbs(r.Verbs...))
	}
	o.Roles = append(o.Roles, gwRole)
	o.RoleBindings = append(o.RoleBindings, rbacac.RoleBinding(GatewayName, apis).WithLabels(withName(GatewayName)).
		WithSubjects(rbacac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(GatewayName).WithNamespace(ns)).
		WithRoleRef(rbacac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(GatewayName)))
	roles, bindings := rbac.Objects(apis)
	o.Roles = append(o.Roles, roles...)
	o.RoleBindings = append(o.RoleBindings, bindings...)
	policy, binding := rbac.ReplicasPolicy(apis)
	o.AdmissionPolicies = append(o.AdmissionPolicies, policy)
	o.AdmissionPolicyBindings = append(o.AdmissionPolicyBindings, binding)
	stateRole := rbacac.Role(OperatorName, ns).WithLabels(withName(OperatorName))
	for _, r := range OperatorStateRules {
		stateRole.WithRules(rbacac.PolicyRule().WithAPIGroups(r.APIGroups...).WithResources(r.Resources...).
			WithResourceNames(r.ResourceNames...).WithVerbs(r.Verbs...))
	}
	o.Roles = append(o.Roles, stateRole)
	o.RoleBindings = append(o.RoleBindings, rbacac.RoleBinding(OperatorName, ns).WithLabels(withName(OperatorName)).
		WithSubjects(rbacac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(OperatorName).WithNamespace(ns)).
		WithRoleRef(rbacac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(OperatorName)))

	o.Secrets = append(o.Secrets, coreac.Secret(TLSSecretName, ns).WithLabels(withName(OperatorName)).
		WithType(corev1.SecretTypeTLS).WithData(map[string][]byte{
		"ca.crt":                opts.TLS.CACert,
		corev1.TLSCertKey:       opts.TLS.Cert,
		corev1.TLSPrivateKeyKey: opts.TLS.Key,
		gatewayClientCAKey:      opts.TLS.GatewayClientCACert,
	}), coreac.Secret(CASecretName, ns).WithLabels(withName(OperatorName)).
		WithType(corev1.SecretTypeOpaque).WithData(map[string][]byte{
		"ca.crt": opts.TLS.CACert,
		"ca.key": opts.TLS.CAKey,
	}), coreac.Secret(GatewayTLSSecretName, ns).WithLabels(withName(GatewayName)).
		WithType(corev1.SecretTypeTLS).WithData(map[string][]byte{
		"ca.crt":                opts.TLS.CACert,
		corev1.TLSCertKey:       opts.TLS.GatewayCert,
		corev1.TLSPrivateKeyKey: opts.TLS.GatewayKey,
		"client.crt":            opts.TLS.GatewayClientCert,
		"client.key":            opts.TLS.GatewayClientKey,
	}), coreac.Secret(GatewayClientCASecretName, ns).WithLabels(withName(GatewayName)).
		WithType(corev1.SecretTypeOpaque).WithData(map[string][]byte{
		"ca.crt": opts.TLS.GatewayClientCACert,
		"ca.key": opts.TLS.GatewayClientCAKey,
	}))
	o.Secrets = append(o.Secrets, webhookSecrets(opts)...)
	o.Secrets = append(o.Secrets, awsSecrets(opts)...)

	selector := map[string]string{LabelManagedBy: ManagedBy, LabelName: OperatorName}
	// The gateway's pods carry the labels the APIs' NetworkPolicies admit (kube.Options.GatewayLabels).
	gwSelector := map[string]string{LabelManagedBy: ManagedBy, LabelName: GatewayName}
	svc := func(name string, port, target, nodePort int32) *coreac.ServiceApplyConfiguration {
		p := coreac.ServicePort().WithName("https").WithProtocol(corev1.ProtocolTCP).
			WithPort(port).WithTargetPort(intstr.FromInt32(target))
		if nodePort != 0 {
			p.WithNodePort(nodePort)
		}
		spec := coreac.ServiceSpec().WithType(opts.ServiceType).WithSelector(withName(name)).WithPorts(p)
		if opts.ServiceType != corev1.ServiceTypeClusterIP {
			// Local: a node port delivers only to a replica on its own node, so kube-proxy keeps
			// the client's source address (Cluster would rewrite it to the node's): netlimit and
			// the failure limiter count per client, and the audit log names it. Nodes without a
			// replica drop the traffic and fail the load balancer's health check (docs/aws.md).
			spec.WithExternalTrafficPolicy(corev1.ServiceExternalTrafficPolicyLocal)
		}
		return coreac.Service(name, ns).WithLabels(withName(name)).WithSpec(spec)
	}
	o.Services = append(o.Services, svc(OperatorName, OperatorPort, OperatorPort, opts.OperatorNodePort),
		svc(GatewayName, gatewayServicePort, GatewayPort, opts.GatewayNodePort))
	o.Deployments = append(o.Deployments, operatorDeployment(opts, selector), gatewayDeployment(opts, gwSelector))
	o.PDBs = append(o.PDBs, policyac.PodDisruptionBudget(GatewayName, ns).WithLabels(withName(GatewayName)).
		WithSpec(policyac.PodDisruptionBudgetSpec().WithSelector(metaac.LabelSelector().WithMatchLabels(gwSelector)).
			WithMaxUnavailable(intstr.FromInt32(1))))
	return o, nil
}

// apiServerEnv points client-go's in-cluster configuration at hostPort (Options.APIServer).
func apiServerEnv(hostPort string) []*coreac.EnvVarApplyConfiguration {
	if hostPort == "" {
		return nil
	}
	host, port, _ := net.SplitHostPort(hostPort) // validated by setDefaults
	return []*coreac.EnvVarApplyConfiguration{
		coreac.EnvVar().WithName("KUBERNETES_SERVICE_HOST").WithValue(host),
		coreac.EnvVar().WithName("KUBERNETES_SERVICE_PORT").WithValue(port),
	}
}

func operatorDeployment(opts Options, selector map[string]string) *appsac.DeploymentApplyConfiguration {
	args := []string{"operator", "serve",
		"--provider=" + opts.Provider,
		"--namespace=" + opts.Namespace,
		"--apis-namespace=" + opts.APIsNamespace,
		"--api-image=" + opts.APIImage,
		"--state-dir=" + stateDir,
		"--listen=0.0.0.0:" + strconv.Itoa(OperatorPort),
		"--tls-cert-file=" + tlsDir + "/" + corev1.TLSCertKey,
		"--tls-key-file=" + tlsDir + "/" + corev1.TLSPrivateKeyKey,
		"--cluster-id=" + opts.ClusterID,
		"--log-level=info",
	}
	if opts.AccountID != "" {
		args = append(args, "--account-id="+opts.AccountID)
	}
	if opts.EKSPodIdentity {
		args = append(args, "--eks-pod-identity", "--cluster-name="+opts.ClusterName)
	}
	args = append(args, APIIAMArgs(opts.APIIAM)...)
	if opts.Region != "" {
		args = append(args, "--region="+opts.Region)
	}
	if opts.CreatorARN != "" {
		args = append(args, "--creator-arn="+opts.CreatorARN)
	}
	args = append(args, opts.Auth.Args()...)
	if opts.STSTestEndpoint != "" {
		args = append(args, "--sts-test-endpoint="+opts.STSTestEndpoint)
	}
	for _, e := range opts.PublicEndpoints {
		args = append(args, "--public-endpoint="+e)
	}
	// The gateway is its own Deployment: it asks this operator for every decision.
	args = append(args, "--apis-gateway=remote", "--apis-gateway-client-ca-file="+tlsDir+"/"+gatewayClientCAKey)
	for _, e := range opts.GatewayPublicEndpoints {
		args = append(args, "--apis-public-endpoint="+e)
	}
	if opts.GatewayPublicTLS {
		args = append(args, "--apis-public-tls")
	}
	readOnly := int32(0o440) // owner root, group fsGroup (the operator's group): not world-readable
	c := coreac.Container().WithName(operatorContainer).WithImage(opts.Image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		// The image's entrypoint is the cortex binary.
		WithArgs(args...).
		WithEnv(coreac.EnvVar().WithName("HOME").WithValue("/tmp")).
		WithEnv(apiServerEnv(opts.APIServer)...).
		WithPorts(coreac.ContainerPort().WithName("operator").WithContainerPort(OperatorPort).WithProtocol(corev1.ProtocolTCP)).
		WithReadinessProbe(coreac.Probe().WithPeriodSeconds(5).
			WithHTTPGet(coreac.HTTPGetAction().WithPath("/healthz").WithPort(intstr.FromString("operator")).WithScheme(corev1.URISchemeHTTPS))).
		WithResources(coreac.ResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}).
			WithLimits(corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")})).
		WithSecurityContext(lockedDown()).
		WithVolumeMounts(
			coreac.VolumeMount().WithName("tmp").WithMountPath("/tmp"),
			coreac.VolumeMount().WithName("tls").WithMountPath(tlsDir).WithReadOnly(true))

	pod := coreac.PodSpec().
		WithServiceAccountName(OperatorName).
		// The operator talks to the API server (the kube backend): it needs its token.
		WithAutomountServiceAccountToken(true).
		WithEnableServiceLinks(false).
		WithSecurityContext(coreac.PodSecurityContext().
			WithRunAsNonRoot(true).WithRunAsUser(nonRootUID).WithRunAsGroup(nonRootUID).WithFSGroup(nonRootUID).
			WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithContainers(c).
		WithVolumes(
			coreac.Volume().WithName("tmp").WithEmptyDir(coreac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse("1Gi"))),
			coreac.Volume().WithName("tls").WithSecret(coreac.SecretVolumeSource().WithSecretName(TLSSecretName).WithDefaultMode(readOnly)))
	webhookOperator(opts, pod)
	awsOperator(opts, pod)

	return appsac.Deployment(OperatorName, opts.Namespace).WithLabels(withName(OperatorName)).
		WithAnnotations(map[string]string{AnnotationClusterID: opts.ClusterID}).
		WithSpec(appsac.DeploymentSpec().
			WithReplicas(1).
			WithSelector(metaac.LabelSelector().WithMatchLabels(selector)).
			// One operator at a time: a second one's state writes would conflict (and be refused).
			WithStrategy(appsac.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType)).
			WithRevisionHistoryLimit(3).
			WithTemplate(coreac.PodTemplateSpec().WithLabels(selector).WithSpec(pod)))
}

// lockedDown is the container security context of cortex's own pods (Pod Security "restricted").
func lockedDown() *coreac.SecurityContextApplyConfiguration {
	return coreac.SecurityContext().
		WithRunAsNonRoot(true).
		WithPrivileged(false).
		WithAllowPrivilegeEscalation(false).
		WithReadOnlyRootFilesystem(true).
		WithCapabilities(coreac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

// gatewayDeployment runs `cortex gateway serve`: GatewayReplicas pods, as locked down as the
// operator's, with a ServiceAccount that may only list and watch EndpointSlices of the APIs.
// operatorHost is the operator Service's in-cluster name, which the gateway dials.
func operatorHost(namespace string) string { return OperatorName + "." + namespace + ".svc" }

func gatewayDeployment(opts Options, selector map[string]string) *appsac.DeploymentApplyConfiguration {
	const gwTLS = "/etc/cortex/gateway"
	args := []string{"gateway", "serve",
		"--listen=0.0.0.0:" + strconv.Itoa(GatewayPort),
		"--tls-cert-file=" + gwTLS + "/" + corev1.TLSCertKey,
		"--tls-key-file=" + gwTLS + "/" + corev1.TLSPrivateKeyKey,
		"--operator=https://" + operatorHost(opts.Namespace) + ":" + strconv.Itoa(OperatorPort),
		"--operator-ca-file=" + gwTLS + "/ca.crt",
		"--client-cert-file=" + gwTLS + "/client.crt",
		"--client-key-file=" + gwTLS + "/client.key",
		"--apis-namespace=" + opts.APIsNamespace,
		"--log-level=info",
	}
	c := coreac.Container().WithName("gateway").WithImage(opts.Image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		WithArgs(args...).
		WithEnv(coreac.EnvVar().WithName("HOME").WithValue("/tmp")).
		// The gateway watches EndpointSlices: it reaches the API server as the operator does.
		WithEnv(apiServerEnv(opts.APIServer)...).
		WithPorts(coreac.ContainerPort().WithName("gateway").WithContainerPort(GatewayPort).WithProtocol(corev1.ProtocolTCP)).
		// Every path of the gateway is an API's (no health route of its own): ready when it
		// accepts connections.
		WithReadinessProbe(coreac.Probe().WithPeriodSeconds(5).
			WithTCPSocket(coreac.TCPSocketAction().WithPort(intstr.FromString("gateway")))).
		WithResources(coreac.ResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}).
			WithLimits(corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")})).
		WithSecurityContext(lockedDown()).
		WithVolumeMounts(
			coreac.VolumeMount().WithName("tmp").WithMountPath("/tmp"),
			coreac.VolumeMount().WithName("tls").WithMountPath(gwTLS).WithReadOnly(true))
	pod := coreac.PodSpec().
		WithServiceAccountName(GatewayName).
		// The gateway watches EndpointSlices: it needs its token (and its Role allows only that).
		WithAutomountServiceAccountToken(true).
		WithEnableServiceLinks(false).
		WithSecurityContext(coreac.PodSecurityContext().
			WithRunAsNonRoot(true).WithRunAsUser(nonRootUID).WithRunAsGroup(nonRootUID).WithFSGroup(nonRootUID).
			WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		// The replicas on different nodes where there are several: one node's loss leaves one.
		WithTopologySpreadConstraints(coreac.TopologySpreadConstraint().WithMaxSkew(1).
			WithTopologyKey(corev1.LabelHostname).WithWhenUnsatisfiable(corev1.ScheduleAnyway).
			WithLabelSelector(metaac.LabelSelector().WithMatchLabels(selector))).
		WithContainers(c).
		WithVolumes(
			coreac.Volume().WithName("tmp").WithEmptyDir(coreac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse("64Mi"))),
			coreac.Volume().WithName("tls").WithSecret(coreac.SecretVolumeSource().WithSecretName(GatewayTLSSecretName).WithDefaultMode(0o440)))
	if opts.OperatorServiceIP != "" {
		pod.WithHostAliases(coreac.HostAlias().WithIP(opts.OperatorServiceIP).WithHostnames(operatorHost(opts.Namespace)))
	}
	return appsac.Deployment(GatewayName, opts.Namespace).WithLabels(withName(GatewayName)).
		WithSpec(appsac.DeploymentSpec().
			WithReplicas(GatewayReplicas).
			WithSelector(metaac.LabelSelector().WithMatchLabels(selector)).
			// Rolling: the gateway holds no state, and a new pod serves before an old one goes.
			WithStrategy(appsac.DeploymentStrategy().WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsac.RollingUpdateDeployment().WithMaxUnavailable(intstr.FromInt32(0)).WithMaxSurge(intstr.FromInt32(1)))).
			WithRevisionHistoryLimit(3).
			WithTemplate(coreac.PodTemplateSpec().WithLabels(selector).WithSpec(pod)))
}
