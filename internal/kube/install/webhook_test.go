package install_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/operator"
)

// Without --iam-webhook nothing of the webhook is installed; with it, two Secrets (the CA's key
// and the API server's client key in one that no pod mounts, the CA certificate alone in the one
// the operator mounts) and the operator's two arguments.
func TestBuildWithWebhook(t *testing.T) {
	plain, err := install.Build(options(t, "cortex"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := install.NewWebhook("https://K8S.example.com:6443/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.APIServer != "https://k8s.example.com:6443" {
		t.Errorf("APIServer %q: want the normalized URL", w.APIServer)
	}
	o := options(t, "cortex")
	o.Webhook = w
	objs, err := install.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	secrets := func(objs *install.Objects) map[string]map[string][]byte {
		m := map[string]map[string][]byte{}
		for _, s := range objs.Secrets {
			m[*s.Name] = s.Data
		}
		return m
	}
	args := func(objs *install.Objects) string {
		return strings.Join(objs.Deployments[0].Spec.Template.Spec.Containers[0].Args, " ")
	}
	if s := secrets(plain); s[install.WebhookSecretName] != nil || s[install.WebhookClientCASecretName] != nil || strings.Contains(args(plain), "--kubernetes-") {
		t.Errorf("webhook objects without the option: %v %s", s, args(plain))
	}
	s := secrets(objs)
	if got := s[install.WebhookClientCASecretName]; len(got) != 1 || !bytes.Equal(got["ca.crt"], w.CACert) {
		t.Errorf("the mounted Secret holds %v, want ca.crt only", keys(got))
	}
	if got := s[install.WebhookSecretName]; !bytes.Equal(got["ca.key"], w.CAKey) || !bytes.Equal(got["tls.key"], w.ClientKey) || !bytes.Equal(got["tls.crt"], w.ClientCert) {
		t.Errorf("the webhook Secret holds %v", keys(got))
	}
	for _, want := range []string{"--kubernetes-api-server=https://k8s.example.com:6443", "--kubernetes-webhook-client-ca-file=/etc/cortex/webhook/ca.crt"} {
		if !strings.Contains(args(objs), want) {
			t.Errorf("operator args %s lack %s", args(objs), want)
		}
	}
	pod := objs.Deployments[0].Spec.Template.Spec
	var mounted []string
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			mounted = append(mounted, *v.Secret.SecretName)
		}
	}
	if slices.Contains(mounted, install.WebhookSecretName) || slices.Contains(mounted, install.CASecretName) || !slices.Contains(mounted, install.WebhookClientCASecretName) {
		t.Errorf("the operator mounts %v", mounted)
	}
	if m := pod.Containers[0].VolumeMounts; *m[len(m)-1].MountPath != "/etc/cortex/webhook" || !*m[len(m)-1].ReadOnly {
		t.Errorf("mounts %+v", m)
	}

	// The client certificate is for client auth, signed by the CA the operator trusts.
	ca, leaf := cert(t, w.CACert), cert(t, w.ClientCert)
	if err := leaf.CheckSignatureFrom(ca); err != nil || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !ca.IsCA {
		t.Errorf("client certificate: %v %v", err, leaf.ExtKeyUsage)
	}

	// Incomplete material and URLs that are not scheme://host:port are refused.
	o.Webhook = &install.Webhook{APIServer: w.APIServer, CACert: w.CACert}
	if _, err := install.Build(o); err == nil {
		t.Error("Build took an incomplete webhook")
	}
	for _, bad := range []string{"", "k8s.example.com", "https://k8s.example.com/prefix", "ftp://k8s.example.com"} {
		if _, err := install.NewWebhook(bad, nil); err == nil {
			t.Errorf("NewWebhook(%q) took it", bad)
		}
	}
}

// A re-install keeps the CA and the client certificate (the API server's config file stays good);
// a previous CA without a usable client certificate signs a new one.
func TestNewWebhookKeepsTheMaterial(t *testing.T) {
	first, err := install.NewWebhook("https://10.0.0.1:6443", nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := install.NewWebhook("https://10.0.0.1:6443", &install.Webhook{CACert: first.CACert, CAKey: first.CAKey, ClientCert: first.ClientCert, ClientKey: first.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.CACert, first.CACert) || !bytes.Equal(again.ClientCert, first.ClientCert) || !bytes.Equal(again.ClientKey, first.ClientKey) {
		t.Error("a re-install made new webhook material")
	}
	renewed, err := install.NewWebhook("https://10.0.0.1:6443", &install.Webhook{CACert: first.CACert, CAKey: first.CAKey})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(renewed.CACert, first.CACert) || bytes.Equal(renewed.ClientCert, first.ClientCert) || cert(t, renewed.ClientCert).CheckSignatureFrom(cert(t, first.CACert)) != nil {
		t.Error("without a client certificate: want a new one signed by the same CA")
	}
}

// The config file points at the operator's webhook route with everything embedded.
func TestWebhookConfig(t *testing.T) {
	w, err := install.NewWebhook("https://10.0.0.1:6443", nil)
	if err != nil {
		t.Fatal(err)
	}
	opCA := []byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")
	data, err := install.WebhookConfig("https://operator.example.com:8888/", opCA, w)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	cl, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cl.Server != "https://operator.example.com:8888"+operator.TokenReviewPath || !bytes.Equal(cl.CertificateAuthorityData, opCA) ||
		!bytes.Equal(user.ClientCertificateData, w.ClientCert) || !bytes.Equal(user.ClientKeyData, w.ClientKey) || cl.InsecureSkipTLSVerify {
		t.Errorf("config %+v %+v", cl, user)
	}
	if _, err := install.WebhookConfig("https://operator.example.com:8888", nil, w); err == nil {
		t.Error("no operator CA: want an error")
	}
}

func cert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keys(m map[string][]byte) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
