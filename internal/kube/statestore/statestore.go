// Package statestore keeps the operator's state documents (package internal/statestore) in
// Kubernetes: one Secret per document in the operator's namespace, so that an operator pod that
// is rescheduled, on any node, reads the state its predecessor wrote.
//
// Secrets, not ConfigMaps: the documents hold API key hashes, the access rules and the IAM
// unique-id bindings, and Kubernetes treats Secrets as sensitive (encryption at rest when the
// cluster enables it; the `view` role and cortex's `read` role never see them). Each Secret is
// named cortex-state-<document> (SecretName), labelled app.kubernetes.io/managed-by=cortex, and
// holds the document, compacted, under the key of its name. Writes are Create (the document must
// not exist) or Update with the resourceVersion last read: the API server refuses a stale write
// with 409 Conflict, which is statestore.ErrConflict here.
package statestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/cortexlabs-go/cortex/internal/statestore"
)

// Labels of the Secrets.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "cortex"
	// LabelState marks a Secret as one of the operator's state documents.
	LabelState = "cortex.dev/state"
	// secretPrefix starts every state Secret's name.
	secretPrefix = "cortex-state-"
	// MaxDocumentBytes is the most a document may hold (compacted): the API server refuses a
	// Secret whose data is larger (corev1.MaxSecretSize, 1 MiB). The store checks it first, so
	// the error says what is too large and by how much.
	MaxDocumentBytes = corev1.MaxSecretSize
	// requestTimeout bounds one API server request when the caller's context has no deadline.
	requestTimeout = 15 * time.Second
)

// SecretName is the name of the Secret that holds a document: cortex-state-<name without .json>.
func SecretName(doc string) string { return secretPrefix + strings.TrimSuffix(doc, ".json") }

// Store is the Kubernetes implementation of statestore.Store.
type Store struct {
	client    kubernetes.Interface
	namespace string
}

var _ statestore.Store = (*Store)(nil)

// New returns the store of namespace (the operator's; it must exist).
func New(client kubernetes.Interface, namespace string) (*Store, error) {
	if client == nil {
		return nil, errors.New("kube state store: a client is required")
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return nil, fmt.Errorf("kube state store: namespace %q: %s", namespace, errs[0])
	}
	return &Store{client: client, namespace: namespace}, nil
}

// Describe implements statestore.Store.
func (s *Store) Describe(name string) string {
	return "Secret " + s.namespace + "/" + SecretName(name)
}

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// Read implements statestore.Store. A Secret of the name that cortex does not manage is an
// error: the operator never takes its state from an object someone else made.
func (s *Store) Read(ctx context.Context, name string) ([]byte, string, bool, error) {
	if err := statestore.ValidateName(name); err != nil {
		return nil, "", false, err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	sec, err := s.client.CoreV1().Secrets(s.namespace).Get(ctx, SecretName(name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	if err := owned(sec); err != nil {
		return nil, "", false, err
	}
	data, ok := sec.Data[name]
	if !ok {
		return nil, "", false, fmt.Errorf("%s has no key %q", s.Describe(name), name)
	}
	return data, sec.ResourceVersion, true, nil
}

func owned(sec *corev1.Secret) error {
	if sec.Labels[LabelManagedBy] != ManagedBy || sec.Labels[LabelState] != "true" {
		return fmt.Errorf("the Secret %s/%s exists and is not a cortex state document (labels %s=%s, %s=true missing); remove or rename it",
			sec.Namespace, sec.Name, LabelManagedBy, ManagedBy, LabelState)
	}
	return nil
}

// Write implements statestore.Store: Create when version is "", else Update with version as the
// resourceVersion precondition.
func (s *Store) Write(ctx context.Context, name string, data []byte, version string) (string, error) {
	if err := statestore.ValidateName(name); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return "", fmt.Errorf("%s: not JSON: %w", name, err)
	}
	if buf.Len() > MaxDocumentBytes {
		return "", fmt.Errorf("%w: %s would hold %d bytes, more than the %d a Secret can hold", statestore.ErrTooLarge, s.Describe(name), buf.Len(), MaxDocumentBytes)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(name), Namespace: s.namespace, ResourceVersion: version,
			Labels: map[string]string{LabelManagedBy: ManagedBy, LabelState: "true"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{name: buf.Bytes()},
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	secrets := s.client.CoreV1().Secrets(s.namespace)
	var out *corev1.Secret
	var err error
	if version == "" {
		out, err = secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: "cortex"})
	} else {
		out, err = secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "cortex"})
	}
	switch {
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return "", statestore.ErrConflict
	case version != "" && apierrors.IsNotFound(err): // deleted since it was read
		return "", statestore.ErrConflict
	case err != nil:
		return "", writeError(err)
	}
	return out.ResourceVersion, nil
}

// writeError describes a failed write without the API server's message, which may quote what was
// sent: the reason, the code and the offending fields.
func writeError(err error) error {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return err // a transport error: it carries the URL, never the body
	}
	s := st.Status()
	msg := fmt.Sprintf("%s (HTTP %d)", s.Reason, s.Code)
	if s.Reason == metav1.StatusReasonForbidden {
		msg += ": " + s.Message // RBAC's answer names the user, verb and resource, never data
	}
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			msg += fmt.Sprintf("; %s: %s", c.Field, c.Type)
		}
	}
	return errors.New(msg)
}
