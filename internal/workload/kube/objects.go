package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube/targets"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	netac "k8s.io/client-go/applyconfigurations/networking/v1"
	policyac "k8s.io/client-go/applyconfigurations/policy/v1"
)

// Labels and annotations on every object cortex writes. The informers and Delete select on
// LabelManagedBy=ManagedBy, so cortex sees and removes only its own objects.
const (
	LabelManagedBy = targets.LabelManagedBy
	ManagedBy      = targets.ManagedBy
	LabelAPI       = targets.LabelAPI

	// AnnotationUpdatedAt is the time the operator last changed the API (Status.UpdatedAt).
	AnnotationUpdatedAt = "cortex.dev/updated-at"
	// AnnotationSecretHash is a digest of the API's secret environment on the pod template, so a
	// change of credentials rolls the pods.
	AnnotationSecretHash = "cortex.dev/secret-hash"
	// AnnotationRestartedAt on the pod template is written by Restart (its own field manager).
	AnnotationRestartedAt = "cortex.dev/restarted-at"

	// FieldManager owns the fields Apply writes; restartFieldManager owns only the restart
	// annotation, so a later Apply does not remove it (which would restart the pods again).
	FieldManager        = "cortex"
	restartFieldManager = "cortex-restart"

	containerName = "api"
	portName      = targets.PortName
	tmpVolume     = "tmp"
	// DefaultPort is where an API's container listens ($CORTEX_PORT).
	DefaultPort = 8080
	// nonRootUID runs the container (the "nonroot" user of distroless images).
	nonRootUID = 65532
	// instanceMetadataV4 and V6 are the cloud instance-metadata addresses: an API must never
	// borrow the node's IAM role.
	instanceMetadataV4 = "169.254.169.254/32"
	instanceMetadataV6 = "fd00:ec2::254/128"
	gpuResource        = "nvidia.com/gpu"
)

func labels(name string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelAPI: name}
}

func secretName(api string) string { return api + "-env" }

func secretHash(env map[string]string) string {
	if len(env) == 0 {
		return ""
	}
	data, _ := json.Marshal(env) // sorted keys
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// objects is everything one API is made of, as server-side-apply configurations.
type objects struct {
	serviceAccount *coreac.ServiceAccountApplyConfiguration
	service        *coreac.ServiceApplyConfiguration
	networkPolicy  *netac.NetworkPolicyApplyConfiguration
	deployment     *appsac.DeploymentApplyConfiguration
	pdb            *policyac.PodDisruptionBudgetApplyConfiguration // nil: replicas <= 1
	secret         *coreac.SecretApplyConfiguration                // nil: no secret environment
}

// build turns a deployment into the API's objects. spec must be validated; code is the index of
// the API's code ConfigMap (nil: no code is mounted).
func (b *Backend) build(d workload.Deployment, code []codeEntry) (*objects, error) {
	s := d.Spec
	ns, name, lbl := b.opts.Namespace, s.Name, labels(s.Name)
	o := &objects{}

	o.serviceAccount = coreac.ServiceAccount(name, ns).WithLabels(lbl).
		// No Kubernetes API token in the pods, with or without an AWS identity: EKS Pod Identity's
		// webhook adds a token of its own (audience pods.eks.amazonaws.com) to the pods of a
		// ServiceAccount with an association (identity.go).
		WithAutomountServiceAccountToken(false)

	o.service = coreac.Service(name, ns).WithLabels(lbl).WithSpec(coreac.ServiceSpec().
		WithType(corev1.ServiceTypeClusterIP).
		WithSelector(lbl).
		WithPorts(coreac.ServicePort().WithName(portName).WithProtocol(corev1.ProtocolTCP).
			WithPort(b.opts.Port).WithTargetPort(intstr.FromString(portName))))

	gatewayPeer := netac.NetworkPolicyPeer().
		WithPodSelector(metaac.LabelSelector().WithMatchLabels(b.opts.GatewayLabels))
	if b.opts.GatewayNamespace != ns {
		gatewayPeer.WithNamespaceSelector(metaac.LabelSelector().
			WithMatchLabels(map[string]string{corev1.LabelMetadataName: b.opts.GatewayNamespace}))
	}
	except4, except6 := egressExcept(s.HasIAMIdentity())
	o.networkPolicy = netac.NetworkPolicy(name, ns).WithLabels(lbl).WithSpec(netac.NetworkPolicySpec().
		WithPodSelector(metaac.LabelSelector().WithMatchLabels(lbl)).
		WithPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress).
		// Only the gateway may connect, and only to the API's port.
		WithIngress(netac.NetworkPolicyIngressRule().
			WithFrom(gatewayPeer).
			WithPorts(netac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromString(portName)))).
		// Anything but the credential endpoints it must not use (egressExcept).
		WithEgress(netac.NetworkPolicyEgressRule().WithTo(
			netac.NetworkPolicyPeer().WithIPBlock(netac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(except4...)),
			netac.NetworkPolicyPeer().WithIPBlock(netac.IPBlock().WithCIDR("::/0").WithExcept(except6...)),
		)))

	if s.Replicas > 1 {
		o.pdb = policyac.PodDisruptionBudget(name, ns).WithLabels(lbl).WithSpec(policyac.PodDisruptionBudgetSpec().
			WithSelector(metaac.LabelSelector().WithMatchLabels(lbl)).
			WithMaxUnavailable(intstr.FromInt32(1)))
	}

	sh := secretHash(d.SecretEnv)
	if sh != "" {
		data := make(map[string][]byte, len(d.SecretEnv))
		for k, v := range d.SecretEnv {
			data[k] = []byte(v)
		}
		o.secret = coreac.Secret(secretName(name), ns).WithLabels(lbl).
			WithType(corev1.SecretTypeOpaque).WithData(data)
	}

	container, err := b.container(d, sh != "", code != nil)
	if err != nil {
		return nil, err
	}
	podAnn := map[string]string{}
	if sh != "" {
		podAnn[AnnotationSecretHash] = sh
	}
	podSpec := coreac.PodSpec().
		WithServiceAccountName(name).
		WithAutomountServiceAccountToken(false).
		// No environment variables describing other Services of the namespace.
		WithEnableServiceLinks(false).
		WithSecurityContext(coreac.PodSecurityContext().
			WithRunAsNonRoot(true).WithRunAsUser(nonRootUID).WithRunAsGroup(nonRootUID).
			WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithContainers(container).
		// The root filesystem is read-only: /tmp is the one writable place.
		WithVolumes(coreac.Volume().WithName(tmpVolume).WithEmptyDir(coreac.EmptyDirVolumeSource().
			WithSizeLimit(resource.MustParse("1Gi"))))
	if code != nil {
		podSpec.WithVolumes(coreac.Volume().WithName(codeVolume).WithConfigMap(coreac.ConfigMapVolumeSource().
			WithName(codeName(name, d.Code)).WithItems(codeItems(code)...).WithDefaultMode(0o444)))
	}
	if len(d.Compute.NodeSelector) > 0 {
		podSpec.WithNodeSelector(d.Compute.NodeSelector)
	}
	if d.Compute.GPU > 0 {
		// GPU node groups are commonly tainted so that only GPU pods land on them.
		podSpec.WithTolerations(coreac.Toleration().WithKey(gpuResource).
			WithOperator(corev1.TolerationOpExists).WithEffect(corev1.TaintEffectNoSchedule))
	}
	depAnn := map[string]string{}
	if !d.UpdatedAt.IsZero() {
		depAnn[AnnotationUpdatedAt] = d.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	o.deployment = appsac.Deployment(name, ns).WithLabels(lbl).WithAnnotations(depAnn).
		WithSpec(appsac.DeploymentSpec().
			WithReplicas(int32(s.Replicas)).
			WithSelector(metaac.LabelSelector().WithMatchLabels(lbl)).
			// Rolling updates never drop below the requested capacity.
			WithStrategy(appsac.DeploymentStrategy().WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsac.RollingUpdateDeployment().
					WithMaxUnavailable(intstr.FromInt32(0)).WithMaxSurge(intstr.FromInt32(1)))).
			WithRevisionHistoryLimit(3).
			WithTemplate(coreac.PodTemplateSpec().WithLabels(lbl).WithAnnotations(podAnn).WithSpec(podSpec)))
	return o, nil
}

func (b *Backend) container(d workload.Deployment, hasSecret, code bool) (*coreac.ContainerApplyConfiguration, error) {
	s := d.Spec
	image, port := b.opts.Image, b.opts.Port
	if s.Handler.Type == apispec.HandlerContainer {
		image, port = s.Handler.Image, int32(s.Handler.Port)
	}
	env := []*coreac.EnvVarApplyConfiguration{}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, coreac.EnvVar().WithName(k).WithValue(s.Env[k]))
	}
	env = append(env,
		coreac.EnvVar().WithName("CORTEX_PORT").WithValue(strconv.Itoa(int(port))),
		// Listen on every address of the pod (serve.py listens on 127.0.0.1 by default), so that
		// the gateway reaches it through the Service.
		coreac.EnvVar().WithName("CORTEX_HOST").WithValue("0.0.0.0"),
		coreac.EnvVar().WithName("CORTEX_API_NAME").WithValue(s.Name),
	)
	// Defaults the spec may override (apispec reserves only CORTEX_ and AWS_): a name listed twice
	// makes server-side apply refuse the whole Deployment.
	setDefault := func(k, v string) {
		if _, ok := s.Env[k]; !ok {
			env = append(env, coreac.EnvVar().WithName(k).WithValue(v))
		}
	}
	setDefault("HOME", "/tmp")
	if s.Handler.Type != apispec.HandlerContainer {
		setDefault("PYTHONUNBUFFERED", "1")
	}
	c := coreac.Container().WithName(containerName).WithImage(image).
		WithImagePullPolicy(corev1.PullIfNotPresent)
	if code {
		// The code ConfigMap, read-only, where handler paths resolve.
		c.WithWorkingDir(b.opts.ProjectDir)
	}
	switch s.Handler.Type {
	case apispec.HandlerPython:
		cfg := []byte("{}")
		if s.Handler.Config != nil {
			var err error
			if cfg, err = json.Marshal(s.Handler.Config); err != nil {
				return nil, fmt.Errorf("handler.config: %w", err)
			}
		}
		env = append(env,
			coreac.EnvVar().WithName("CORTEX_HANDLER_PATH").WithValue(path.Join(b.opts.ProjectDir, s.Handler.Path)),
			coreac.EnvVar().WithName("CORTEX_HANDLER_CONFIG").WithValue(string(cfg)),
		)
		setDefault("PYTHONDONTWRITEBYTECODE", "1")
		c.WithCommand(b.opts.PythonCommand...).WithWorkingDir(b.opts.ProjectDir)
	case apispec.HandlerCommand:
		c.WithCommand(s.Handler.Command...)
	case apispec.HandlerContainer:
		// Empty command and args: the image's entrypoint and arguments.
		if len(s.Handler.Command) > 0 {
			c.WithCommand(s.Handler.Command...)
		}
		if len(s.Handler.Args) > 0 {
			c.WithArgs(s.Handler.Args...)
		}
	default:
		return nil, fmt.Errorf("unknown handler type %q", s.Handler.Type)
	}
	c.WithEnv(env...)
	if hasSecret {
		// Credentials come from a Secret, never from the Deployment (readable by more people).
		c.WithEnvFrom(coreac.EnvFromSource().WithSecretRef(coreac.SecretEnvSource().WithName(secretName(s.Name))))
	}
	c.WithPorts(coreac.ContainerPort().WithName(portName).WithContainerPort(port).WithProtocol(corev1.ProtocolTCP))
	probe := coreac.Probe().WithPeriodSeconds(2).WithFailureThreshold(3)
	if p := s.Handler.HealthCheckPath; p != "" {
		probe.WithHTTPGet(coreac.HTTPGetAction().WithPath(p).WithPort(intstr.FromString(portName)))
	} else {
		probe.WithTCPSocket(coreac.TCPSocketAction().WithPort(intstr.FromString(portName)))
	}
	c.WithReadinessProbe(probe)
	c.WithSecurityContext(coreac.SecurityContext().
		WithRunAsNonRoot(true).
		WithPrivileged(false).
		WithAllowPrivilegeEscalation(false).
		WithReadOnlyRootFilesystem(true).
		WithCapabilities(coreac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)))
	c.WithVolumeMounts(coreac.VolumeMount().WithName(tmpVolume).WithMountPath("/tmp"))
	if code {
		c.WithVolumeMounts(coreac.VolumeMount().WithName(codeVolume).WithMountPath(b.opts.ProjectDir).WithReadOnly(true))
	}

	res, err := resources(d.Compute)
	if err != nil {
		return nil, err
	}
	if res != nil {
		c.WithResources(res)
	}
	return c, nil
}

// resources turns Compute into requests and limits: cpu is requested (and may burst), memory and
// GPUs are requested and limited to the same amount.
func resources(c workload.Compute) (*coreac.ResourceRequirementsApplyConfiguration, error) {
	req, lim := corev1.ResourceList{}, corev1.ResourceList{}
	if c.CPU != "" {
		q, err := resource.ParseQuantity(c.CPU)
		if err != nil || q.Sign() <= 0 {
			return nil, fmt.Errorf("compute.cpu: invalid quantity %q", c.CPU)
		}
		req[corev1.ResourceCPU] = q
	}
	if c.Memory != "" {
		q, err := resource.ParseQuantity(c.Memory)
		if err != nil || q.Sign() <= 0 {
			return nil, fmt.Errorf("compute.mem: invalid quantity %q", c.Memory)
		}
		req[corev1.ResourceMemory], lim[corev1.ResourceMemory] = q, q
	}
	if c.GPU < 0 {
		return nil, fmt.Errorf("compute.gpu: must not be negative, got %d", c.GPU)
	}
	if c.GPU > 0 {
		q := *resource.NewQuantity(int64(c.GPU), resource.DecimalSI)
		req[gpuResource], lim[gpuResource] = q, q
	}
	if len(req) == 0 {
		return nil, nil
	}
	r := coreac.ResourceRequirements().WithRequests(req)
	if len(lim) > 0 {
		r.WithLimits(lim)
	}
	return r, nil
}
