package statestore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubestate "github.com/cortexlabs-go/cortex/internal/kube/statestore"
	"github.com/cortexlabs-go/cortex/internal/statestore"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// TestStore runs against a real API server: its resourceVersion preconditions are what make a
// stale write fail, and its Secret size limit is what the store's own check must stay within.
func TestStore(t *testing.T) {
	c := kubetest.Start(t)
	ctx := context.Background()
	const ns = "cortex"
	c.Namespace(t, ns)
	store, err := kubestate.New(c.Client, ns)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("SecretLabelsAndContent", func(t *testing.T) {
		d := statestore.NewDoc(store, "access.json")
		if _, ok, err := d.Load(ctx); err != nil || ok {
			t.Fatalf("missing document: ok=%v err=%v", ok, err)
		}
		if err := d.Save(ctx, []byte("{\n  \"rules\": []\n}\n")); err != nil {
			t.Fatal(err)
		}
		sec, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "cortex-state-access", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sec.Labels["app.kubernetes.io/managed-by"] != "cortex" || sec.Labels["cortex.dev/state"] != "true" || sec.Type != corev1.SecretTypeOpaque {
			t.Errorf("labels %v type %s", sec.Labels, sec.Type)
		}
		if got := string(sec.Data["access.json"]); got != `{"rules":[]}` || len(sec.Data) != 1 {
			t.Errorf("data %q", sec.Data)
		}
		data, ok, err := statestore.NewDoc(store, "access.json").Load(ctx)
		if err != nil || !ok || string(data) != `{"rules":[]}` {
			t.Errorf("read back %q %v %v", data, ok, err)
		}
		if got := store.Describe("access.json"); got != "Secret cortex/cortex-state-access" {
			t.Errorf("describe %q", got)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		// Two operators read the same version; the second write is refused, the first stays.
		a, b := statestore.NewDoc(store, "apis.json"), statestore.NewDoc(store, "apis.json")
		if err := a.Save(ctx, []byte(`{"v":0}`)); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*statestore.Doc{a, b} {
			if _, _, err := d.Load(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Save(ctx, []byte(`{"v":"a"}`)); err != nil {
			t.Fatal(err)
		}
		if err := b.Save(ctx, []byte(`{"v":"b"}`)); !errors.Is(err, statestore.ErrConflict) {
			t.Fatalf("stale write: err = %v, want a conflict", err)
		}
		// Creating a document that exists is a conflict too (a second operator's first write).
		if err := statestore.NewDoc(store, "apis.json").Save(ctx, []byte(`{"v":"c"}`)); !errors.Is(err, statestore.ErrConflict) {
			t.Fatalf("create over an existing document: err = %v", err)
		}
		if data, _, _, _ := store.Read(ctx, "apis.json"); string(data) != `{"v":"a"}` {
			t.Fatalf("document holds %s, want the first writer's", data)
		}
		// Deleted since it was read: refused, not re-created from a stale view.
		if err := c.Client.CoreV1().Secrets(ns).Delete(ctx, "cortex-state-apis", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := a.Save(ctx, []byte(`{"v":"a2"}`)); !errors.Is(err, statestore.ErrConflict) {
			t.Fatalf("write over a deleted document: err = %v", err)
		}
	})

	t.Run("SizeLimit", func(t *testing.T) {
		// A JSON string of exactly MaxDocumentBytes: the API server takes it, so the check is not
		// stricter than Kubernetes; one byte more is refused by the store, before any request.
		str := func(n int) []byte { return append(append([]byte{'"'}, bytes.Repeat([]byte{'a'}, n-2)...), '"') }
		d := statestore.NewDoc(store, "api-keys.json")
		if err := d.Save(ctx, str(kubestate.MaxDocumentBytes)); err != nil {
			t.Fatalf("a document of exactly %d bytes: %v", kubestate.MaxDocumentBytes, err)
		}
		err := d.Save(ctx, str(kubestate.MaxDocumentBytes+1))
		if !errors.Is(err, statestore.ErrTooLarge) || !strings.Contains(err.Error(), "Secret cortex/cortex-state-api-keys would hold 1048577 bytes, more than the 1048576") {
			t.Fatalf("err = %v", err)
		}
		if data, _, _, _ := store.Read(ctx, "api-keys.json"); len(data) != kubestate.MaxDocumentBytes {
			t.Errorf("document changed to %d bytes", len(data))
		}
		// The API server's own refusal of one byte more, which the store's check stands in front of.
		sec, _ := c.Client.CoreV1().Secrets(ns).Get(ctx, "cortex-state-api-keys", metav1.GetOptions{})
		sec.Data["api-keys.json"] = str(kubestate.MaxDocumentBytes + 1)
		if _, err := c.Client.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}); err == nil {
			t.Error("the API server took a Secret over its limit: the store's limit is too strict")
		}
	})

	t.Run("RefusesWhatIsNotItsOwn", func(t *testing.T) {
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cortex-state-cluster", Namespace: ns},
			Data: map[string][]byte{"cluster.json": []byte(`{"id":"planted"}`)}}
		if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := statestore.NewDoc(store, "cluster.json").Load(ctx); err == nil || !strings.Contains(err.Error(), "is not a cortex state document") {
			t.Fatalf("err = %v", err)
		}
		if err := statestore.NewDoc(store, "cluster.json").Save(ctx, []byte(`{}`)); !errors.Is(err, statestore.ErrConflict) {
			t.Fatalf("create over a foreign Secret: err = %v", err)
		}
		if err := statestore.NewDoc(store, "x.json").Save(ctx, []byte(`not json`)); err == nil {
			t.Error("a document that is not JSON was written")
		}
	})
}
