package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/awssdk"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	kubestate "github.com/cortexlabs-go/cortex/internal/kube/statestore"
	"github.com/cortexlabs-go/cortex/internal/statestore"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube"
)

// ProviderKubernetes is the operator inside a Kubernetes cluster: its state is in Secrets of its
// namespace (internal/kube/statestore) and its APIs run in the APIs' namespace (the kube backend).
// The state dir is only scratch (the gateway's access log, operator.addr).
const ProviderKubernetes = "kubernetes"

// OnKubernetes says whether the operator runs inside Kubernetes (state in Secrets, APIs on the
// kube backend): provider kubernetes, or provider aws with kubernetes.namespace set, which is the
// operator `cortex cluster up --provider aws` installs into EKS (it reports provider aws with the
// cluster's account, region and creator; docs/operator.md).
func (c *Config) OnKubernetes() bool {
	return c.Provider == ProviderKubernetes || (c.Provider == "aws" && c.Kubernetes.Namespace != "")
}

// KubernetesConfig configures the kubernetes provider (docs/kubernetes.md).
type KubernetesConfig struct {
	// Kubeconfig is a kubeconfig file (tests, an operator outside the cluster). Empty: the
	// in-cluster configuration (the pod's ServiceAccount).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Namespace is the operator's: it holds the state Secrets (required).
	Namespace string `json:"namespace,omitempty"`
	// APIsNamespace holds the APIs (required; not Namespace).
	APIsNamespace string `json:"apis_namespace,omitempty"`
	// APIImage is the image the APIs' pods run (required; see kube.Options.Image).
	APIImage string `json:"api_image,omitempty"`
	// EKSPodIdentity gives APIs with iam_role_arn or iam_policy_arns an IAM role of their own
	// through EKS Pod Identity (package apiidentity), with the operator's own AWS credentials, on
	// the EKS cluster cluster_name in region of account_id. Off: such APIs are refused.
	EKSPodIdentity bool `json:"eks_pod_identity,omitempty"`
	// APIIAM is what APIs may be given (the cluster admin's allowlist of policy and role ARNs;
	// empty: APIs with iam_policy_arns or iam_role_arn are refused). Any deploy identity writes
	// specs: without it, deploy would be an administrator of the AWS account.
	APIIAM apiidentity.Allowed `json:"api_iam,omitempty"`
	// Identities replaces the EKS binder (tests).
	Identities apiidentity.Binder `json:"-"`
}

func (k *KubernetesConfig) validate(c *Config) error {
	if !c.OnKubernetes() {
		for _, f := range []struct{ name, v string }{{"kubernetes.kubeconfig", k.Kubeconfig}, {"kubernetes.namespace", k.Namespace},
			{"kubernetes.apis_namespace", k.APIsNamespace}, {"kubernetes.api_image", k.APIImage}} {
			if f.v != "" {
				return fmt.Errorf("%s: only with provider kubernetes (provider is %s)", f.name, c.Provider)
			}
		}
		if len(k.APIIAM.PolicyARNs)+len(k.APIIAM.RoleARNs) > 0 {
			return fmt.Errorf("kubernetes.api_iam: only on Kubernetes (provider is %s)", c.Provider)
		}
		if k.EKSPodIdentity {
			return fmt.Errorf("kubernetes.eks_pod_identity: only on Kubernetes (provider kubernetes, or aws with kubernetes.namespace; provider is %s)", c.Provider)
		}
		return nil
	}
	if err := k.APIIAM.Validate("kubernetes.api_iam"); err != nil {
		return err
	}
	if k.EKSPodIdentity && c.AccountID == "" {
		return errors.New("kubernetes.eks_pod_identity: needs account_id (and cluster_name, region: the EKS cluster)")
	}
	for _, f := range []struct{ name, v string }{{"kubernetes.namespace", k.Namespace}, {"kubernetes.apis_namespace", k.APIsNamespace}} {
		if f.v == "" {
			return fmt.Errorf("%s: required with provider kubernetes", f.name)
		}
		if errs := validation.IsDNS1123Label(f.v); len(errs) > 0 {
			return fmt.Errorf("%s: %q is not a namespace name: %s", f.name, f.v, errs[0])
		}
	}
	if k.Namespace == k.APIsNamespace {
		return errors.New("kubernetes.apis_namespace: must differ from kubernetes.namespace (a deploy identity could run a pod as the operator's ServiceAccount)")
	}
	if k.APIImage == "" && c.APIs.Workloads == nil {
		return errors.New("kubernetes.api_image: required with provider kubernetes (the image the APIs' pods run)")
	}
	if c.TLSCertFile == "" {
		// A CA made in the scratch state dir would be a new one each time the pod is rescheduled,
		// and every client pinned the old one.
		return errors.New("tls_cert_file: required with provider kubernetes (the install mounts it from its TLS Secret)")
	}
	return nil
}

// restConfig is the in-cluster configuration, or the kubeconfig's.
func (k *KubernetesConfig) restConfig() (*rest.Config, error) {
	if k.Kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: in-cluster configuration (set kubernetes.kubeconfig outside a cluster): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubernetes.kubeconfig: %w", err)
	}
	return cfg, nil
}

// stateStore is where the operator's state lives: Secrets with provider kubernetes, else files of
// the state dir.
func (s *Server) stateStore() (statestore.Store, error) {
	if !s.cfg.OnKubernetes() {
		return statestore.NewFiles(s.cfg.StateDir), nil
	}
	rc, err := s.cfg.Kubernetes.restConfig()
	if err != nil {
		return nil, err
	}
	if s.kube, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return kubestate.New(s.kube, s.cfg.Kubernetes.Namespace)
}

// kubeBackend starts the kube backend in the APIs' namespace; its informers' caches are synced
// when it returns (a minute at most).
func (s *Server) kubeBackend(ctx context.Context) (workload.Backend, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	k := s.cfg.Kubernetes
	ids, err := s.apiIdentities(ctx)
	if err != nil {
		return nil, err
	}
	// The APIs' NetworkPolicies admit only the gateway's pods, from the operator's namespace: the
	// gateway's own Deployment (remote mode, what the install runs), or the operator's pod when the
	// gateway is embedded in it.
	gwName := "cortex-gateway"
	if s.cfg.APIs.Gateway != GatewayRemote {
		gwName = "cortex-operator"
	}
	b, err := kube.New(ctx, kube.Options{Client: s.kube, Namespace: k.APIsNamespace, Image: k.APIImage, Identities: ids,
		GatewayNamespace: k.Namespace, GatewayLabels: map[string]string{"app.kubernetes.io/name": gwName}})
	if err != nil {
		return nil, fmt.Errorf("kubernetes workloads: %w", err)
	}
	return b, nil
}

// apiIdentities is the binder of per-API IAM roles: nil without kubernetes.eks_pod_identity (the
// kube backend then refuses APIs that ask for one). It uses the operator's own AWS credentials
// (the SDK's default chain: on EKS, the operator's own Pod Identity or a Secret's keys).
func (s *Server) apiIdentities(ctx context.Context) (apiidentity.Binder, error) {
	k := s.cfg.Kubernetes
	if k.Identities != nil || !k.EKSPodIdentity {
		return k.Identities, nil
	}
	awsCfg, err := awssdk.LoadConfig(ctx, config.WithRegion(s.cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("kubernetes.eks_pod_identity: AWS configuration: %w", err)
	}
	b, err := apiidentity.New(apiidentity.Config{IAM: iam.NewFromConfig(awsCfg), EKS: eks.NewFromConfig(awsCfg),
		Cluster: s.cfg.ClusterName, Namespace: k.APIsNamespace, Partition: s.cfg.Partition, Region: s.cfg.Region,
		AccountID: s.cfg.AccountID, RolePrefix: clusterconfig.RolePrefix(s.cfg.ClusterName, s.cfg.Region), Allowed: k.APIIAM})
	if err != nil {
		return nil, fmt.Errorf("kubernetes.eks_pod_identity: %w", err)
	}
	return b, nil
}
