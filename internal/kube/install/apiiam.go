package install

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
)

// The operator's flags of the allowlist of what APIs may be given (operatorcmd).
const (
	apiPolicyArg = "--api-allowed-policy-arn="
	apiRoleArg   = "--api-allowed-role-arn="
)

// APIIAMArgs are the operator's arguments for the allowlist a: one flag per ARN.
func APIIAMArgs(a apiidentity.Allowed) []string {
	var args []string
	for _, arn := range a.PolicyARNs {
		args = append(args, apiPolicyArg+arn)
	}
	for _, arn := range a.RoleARNs {
		args = append(args, apiRoleArg+arn)
	}
	return args
}

// operatorContainer is the operator Deployment's container (operatorDeployment).
const operatorContainer = "operator"

func isAPIIAMArg(arg string) bool {
	return strings.HasPrefix(arg, apiPolicyArg) || strings.HasPrefix(arg, apiRoleArg)
}

// SetAPIIAM changes the allowlist of the installed operator (cluster configure): its Deployment's
// api-allowed arguments become exactly a's, everything else of the Deployment stays as the install
// made it (so cluster credentials, its image and its other flags are untouched; the install's next
// apply takes the field back with the same value). It returns whether the Deployment changed; the
// caller waits for the rollout (WaitAvailable). The update carries the resourceVersion read, so a
// concurrent change fails it instead of being overwritten.
func SetAPIIAM(ctx context.Context, c kubernetes.Interface, namespace string, a apiidentity.Allowed) (bool, error) {
	if err := a.Validate("api_iam"); err != nil {
		return false, err
	}
	// The new flags go where the old ones were (or before --region, as Build orders them).
	return setOperatorArgs(ctx, c, namespace, isAPIIAMArg, func(s string) bool { return strings.HasPrefix(s, "--region=") }, APIIAMArgs(a))
}

// setOperatorArgs replaces the operator container's arguments that own matches with args, where
// the first of them was (else before the first argument that before matches, else at the end),
// and updates the Deployment if that changed anything; it reports whether it did. The
// Deployment's controller writes its status all along (a rollout bumps the resourceVersion): on
// a conflict the Deployment is read again and only these arguments are set again, so whatever
// else changed meanwhile is kept, never overwritten.
func setOperatorArgs(ctx context.Context, c kubernetes.Interface, namespace string, own, before func(string) bool, args []string) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.AppsV1().Deployments(namespace).Get(ctx, OperatorName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read the operator's Deployment %s/%s: %w", namespace, OperatorName, err)
		}
		i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(ct corev1.Container) bool { return ct.Name == operatorContainer })
		if i < 0 {
			return fmt.Errorf("the Deployment %s/%s has no container %s", namespace, OperatorName, operatorContainer)
		}
		ct := &d.Spec.Template.Spec.Containers[i]
		at := slices.IndexFunc(ct.Args, own)
		if at < 0 {
			if at = slices.IndexFunc(ct.Args, before); at < 0 {
				at = len(ct.Args)
			}
		}
		kept := slices.DeleteFunc(slices.Clone(ct.Args[:at]), own)
		rest := slices.DeleteFunc(slices.Clone(ct.Args[at:]), own)
		next := append(append(kept, args...), rest...)
		if slices.Equal(next, ct.Args) {
			changed = false
			return nil
		}
		ct.Args = next
		if _, err := c.AppsV1().Deployments(namespace).Update(ctx, d, metav1.UpdateOptions{FieldManager: FieldManager + "-configure"}); err != nil {
			if apierrors.IsConflict(err) {
				return err
			}
			return fmt.Errorf("update the operator's Deployment %s/%s: %w", namespace, OperatorName, err)
		}
		changed = true
		return nil
	})
	return changed, err
}
