package install

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cortexlabs-go/cortex/internal/identity"
)

// The opt-in IAM webhook (cluster up --iam-webhook): the operator answers the API server's
// TokenReviews (internal/operator/tokenreview.go) for the API server at Webhook.APIServer, and
// only for a caller with a client certificate of the webhook client CA. The CA's key and the API
// server's client certificate and key are in WebhookSecretName, which no pod mounts (like
// CASecretName): `cortex cluster webhook-config` reads them with the admin's kubeconfig. The
// operator mounts WebhookClientCASecretName, which holds the CA certificate only.
const (
	WebhookSecretName         = "cortex-webhook"
	WebhookClientCASecretName = "cortex-webhook-client-ca"
	webhookDir                = "/etc/cortex/webhook"
	webhookPath               = "/v1/kubernetes/tokenreview"
	webhookClientCN           = "kube-apiserver"

	webhookCAValidity     = 10 * 365 * 24 * time.Hour
	webhookClientValidity = 365 * 24 * time.Hour
	// A re-install makes a new client certificate (same CA) this long before the old one expires;
	// the API server's webhook config file must then be replaced (webhook-config prints it).
	webhookRenewBefore = 30 * 24 * time.Hour
)

// Webhook is the IAM webhook's material: the API server it answers (normalized, as kubectl dials
// it: identity tokens are bound to it), the client CA and its key, and the API server's client
// certificate and key (PEM).
type Webhook struct {
	APIServer  string
	CACert     []byte
	CAKey      []byte
	ClientCert []byte
	ClientKey  []byte
}

// NewWebhook returns the webhook material for apiServer. With prev (a previous install's), its CA
// is kept, and its client certificate too while it is valid for more than 30 days: a re-install
// then writes the same bytes and the API server's config file stays good.
func NewWebhook(apiServer string, prev *Webhook) (*Webhook, error) {
	server, err := identity.NormalizeAudience(apiServer)
	if err != nil {
		return nil, fmt.Errorf("the Kubernetes API server URL %q: %v", apiServer, err)
	}
	now := time.Now()
	w := &Webhook{APIServer: server}
	var ca *x509.Certificate
	var caKey *ecdsa.PrivateKey
	if prev != nil {
		if pair, err := tls.X509KeyPair(prev.CACert, prev.CAKey); err == nil {
			c, perr := x509.ParseCertificate(pair.Certificate[0])
			k, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
			if perr == nil && ok && c.IsCA && now.Add(webhookRenewBefore).Before(c.NotAfter) {
				ca, caKey, w.CACert, w.CAKey = c, k, prev.CACert, prev.CAKey
			}
		}
	}
	if ca == nil {
		if ca, caKey, w.CACert, w.CAKey, err = newWebhookCA(now); err != nil {
			return nil, err
		}
	} else if pair, err := tls.X509KeyPair(prev.ClientCert, prev.ClientKey); err == nil {
		leaf, perr := x509.ParseCertificate(pair.Certificate[0])
		if perr == nil && leaf.CheckSignatureFrom(ca) == nil && now.Add(webhookRenewBefore).Before(leaf.NotAfter) {
			w.ClientCert, w.ClientKey = prev.ClientCert, prev.ClientKey
			return w, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: webhookClientCN, Organization: []string{"cortex"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(webhookClientValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if w.ClientKey, err = keyPEM(key); err != nil {
		return nil, err
	}
	w.ClientCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return w, nil
}

func newWebhookCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "cortex webhook client CA", Organization: []string{"cortex"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(webhookCAValidity),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return ca, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

// webhookSecrets are the webhook's Secrets in the operator's namespace (none without a webhook).
func webhookSecrets(opts Options) []*coreac.SecretApplyConfiguration {
	w := opts.Webhook
	if w == nil {
		return nil
	}
	return []*coreac.SecretApplyConfiguration{
		coreac.Secret(WebhookSecretName, opts.Namespace).WithLabels(withName(OperatorName)).
			WithType(corev1.SecretTypeOpaque).WithData(map[string][]byte{
			"ca.crt": w.CACert, "ca.key": w.CAKey, corev1.TLSCertKey: w.ClientCert, corev1.TLSPrivateKeyKey: w.ClientKey}),
		coreac.Secret(WebhookClientCASecretName, opts.Namespace).WithLabels(withName(OperatorName)).
			WithType(corev1.SecretTypeOpaque).WithData(map[string][]byte{"ca.crt": w.CACert}),
	}
}

// webhookOperator adds the webhook's arguments and its client-CA mount to the operator's
// container and pod (nothing without a webhook).
func webhookOperator(opts Options, pod *coreac.PodSpecApplyConfiguration) {
	if opts.Webhook == nil {
		return
	}
	c := &pod.Containers[0] // WithContainers copied the operator's container
	c.WithVolumeMounts(coreac.VolumeMount().WithName("webhook-client-ca").WithMountPath(webhookDir).WithReadOnly(true))
	pod.WithVolumes(coreac.Volume().WithName("webhook-client-ca").WithSecret(coreac.SecretVolumeSource().
		WithSecretName(WebhookClientCASecretName).WithDefaultMode(0o440)))
	c.WithArgs("--kubernetes-api-server="+opts.Webhook.APIServer, "--kubernetes-webhook-client-ca-file="+webhookDir+"/ca.crt")
}

// complete reports whether the certificates and keys are all there (not whether they are valid).
func (w *Webhook) complete() bool {
	return w != nil && len(w.CACert) > 0 && len(w.CAKey) > 0 && len(w.ClientCert) > 0 && len(w.ClientKey) > 0
}

// loadWebhook reads the webhook's Secret in namespace: nil when the webhook is not installed.
// APIServer is left empty (it is the operator's argument; a re-install takes it from the
// kubeconfig).
func loadWebhook(ctx context.Context, c kubernetes.Interface, namespace string) (*Webhook, error) {
	s, err := c.CoreV1().Secrets(namespace).Get(ctx, WebhookSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, WebhookSecretName, err)
	}
	if s.Labels[LabelManagedBy] != ManagedBy {
		return nil, fmt.Errorf("a Secret named %q exists in namespace %s and is not managed by cortex", WebhookSecretName, namespace)
	}
	return &Webhook{CACert: s.Data["ca.crt"], CAKey: s.Data["ca.key"],
		ClientCert: s.Data[corev1.TLSCertKey], ClientKey: s.Data[corev1.TLSPrivateKeyKey]}, nil
}

// LoadWebhook is the installed webhook's material in namespace with the operator's CA (the one
// the API server must trust to call it), for `cortex cluster webhook-config`.
func LoadWebhook(ctx context.Context, c kubernetes.Interface, namespace string) (w *Webhook, operatorCA []byte, err error) {
	w, err = loadWebhook(ctx, c, namespace)
	if err != nil {
		return nil, nil, err
	}
	if w == nil {
		return nil, nil, fmt.Errorf("the IAM webhook is not installed in namespace %s (cortex cluster up --provider kubernetes --iam-webhook)", namespace)
	}
	if !w.complete() {
		return nil, nil, fmt.Errorf("the Secret %s/%s is incomplete; run cortex cluster up --provider kubernetes --iam-webhook again", namespace, WebhookSecretName)
	}
	s, err := c.CoreV1().Secrets(namespace).Get(ctx, TLSSecretName, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read Secret %s/%s: %w", namespace, TLSSecretName, err)
	}
	if s.Labels[LabelManagedBy] != ManagedBy || len(s.Data["ca.crt"]) == 0 {
		return nil, nil, fmt.Errorf("the Secret %s/%s is not cortex's or has no ca.crt", namespace, TLSSecretName)
	}
	return w, s.Data["ca.crt"], nil
}

// WebhookConfig is the API server's --authentication-token-webhook-config-file (kubeconfig
// format, everything embedded): the operator's webhook at operatorURL, the operator's CA, and the
// API server's client certificate and key.
func WebhookConfig(operatorURL string, operatorCA []byte, w *Webhook) ([]byte, error) {
	if len(operatorCA) == 0 || w == nil || len(w.ClientCert) == 0 || len(w.ClientKey) == 0 {
		return nil, errors.New("webhook config: the operator's CA and the client certificate are required")
	}
	base, err := identity.NormalizeAudience(operatorURL)
	if err != nil {
		return nil, fmt.Errorf("the operator's URL %q: %v", operatorURL, err)
	}
	cfg := clientcmdapi.NewConfig()
	// The operator's TokenReviewPath (internal/operator; a test holds the two equal).
	cfg.Clusters["cortex-operator"] = &clientcmdapi.Cluster{Server: base + webhookPath,
		CertificateAuthorityData: bytes.Clone(operatorCA)}
	cfg.AuthInfos[webhookClientCN] = &clientcmdapi.AuthInfo{ClientCertificateData: bytes.Clone(w.ClientCert), ClientKeyData: bytes.Clone(w.ClientKey)}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "cortex-operator", AuthInfo: webhookClientCN}
	cfg.CurrentContext = "webhook"
	return clientcmd.Write(*cfg)
}
