package kubeaccess

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/awsarn"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
)

// The aws-auth ConfigMap: where EKS's authenticator (in CONFIG_MAP and API_AND_CONFIG_MAP modes)
// maps IAM roles (mapRoles) and users (mapUsers) to a username and groups.
const (
	AWSAuthNamespace = "kube-system"
	AWSAuthName      = "aws-auth"
)

// AWSAuth keeps Kubernetes access as aws-auth mappings, written as `eksctl create
// iamidentitymapping --arn ARN --username ARN --group G...` writes them, except that it is
// idempotent: one mapping per ARN (replaced, never duplicated), every other mapping and key kept
// as it was. ARNs in aws-auth cannot carry a path, so a role's path is dropped (as EKS matches it).
type AWSAuth struct {
	Client kubernetes.Interface
}

// Name implements Store.
func (a *AWSAuth) Name() string { return "aws-auth mapping" }

// Check implements Store: the API server answers for aws-auth (missing is fine: Put makes it).
func (a *AWSAuth) Check(ctx context.Context) error {
	_, err := a.Client.CoreV1().ConfigMaps(AWSAuthNamespace).Get(ctx, AWSAuthName, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read ConfigMap %s/%s: %w", AWSAuthNamespace, AWSAuthName, err)
	}
	return nil
}

// mapping keys of mapRoles and mapUsers entries.
const (
	keyRoleARN  = "rolearn"
	keyUserARN  = "userarn"
	keyUsername = "username"
	keyGroups   = "groups"
)

// awsAuthKey is the mapRoles or mapUsers key and the ARN field of principal, which is canonical.
func awsAuthKey(principal string) (dataKey, arnKey, canonical string, err error) {
	p, err := awsarn.Parse(principal)
	if err != nil {
		return "", "", "", fmt.Errorf("aws-auth maps IAM users and roles: %w", err)
	}
	switch p.Kind {
	case awsarn.KindRole:
		return "mapRoles", keyRoleARN, p.Canonical(), nil
	case awsarn.KindUser:
		return "mapUsers", keyUserARN, p.Canonical(), nil
	}
	return "", "", "", fmt.Errorf("aws-auth maps IAM users and roles, not %s", principal)
}

// canonicalARN drops a role's path (the form aws-auth matches), keeping unparsable values as they are.
func canonicalARN(s string) string {
	if p, err := awsarn.Parse(s); err == nil {
		return p.Canonical()
	}
	return s
}

// Put implements Store.
func (a *AWSAuth) Put(ctx context.Context, principal string, role access.Role) error {
	dataKey, arnKey, arn, err := awsAuthKey(principal)
	if err != nil {
		return err
	}
	entry := map[string]any{arnKey: arn, keyUsername: arn, keyGroups: rbac.Groups(role)}
	return a.edit(ctx, func(cm *corev1.ConfigMap) (bool, error) {
		list, err := parseMappings(cm, dataKey)
		if err != nil {
			return false, err
		}
		replaced := false
		out := list[:0:0]
		for _, m := range list {
			if s, _ := m[arnKey].(string); canonicalARN(s) == arn {
				if !replaced { // the first keeps its place; duplicates (eksctl makes them) go
					out = append(out, entry)
					replaced = true
				}
				continue
			}
			out = append(out, m)
		}
		if !replaced {
			out = append(out, entry)
		}
		return true, setMappings(cm, dataKey, out)
	})
}

// Delete implements Store.
func (a *AWSAuth) Delete(ctx context.Context, principal string) (bool, error) {
	dataKey, arnKey, arn, err := awsAuthKey(principal)
	if err != nil {
		return false, err
	}
	found := false
	err = a.edit(ctx, func(cm *corev1.ConfigMap) (bool, error) {
		list, err := parseMappings(cm, dataKey)
		if err != nil {
			return false, err
		}
		out := list[:0:0]
		for _, m := range list {
			if s, _ := m[arnKey].(string); canonicalARN(s) == arn {
				found = true
				continue
			}
			out = append(out, m)
		}
		if !found {
			return false, nil
		}
		return true, setMappings(cm, dataKey, out)
	})
	return found, err
}

// List implements Store: every user and role mapping (node roles included).
func (a *AWSAuth) List(ctx context.Context) ([]Grant, error) {
	cm, err := a.Client.CoreV1().ConfigMaps(AWSAuthNamespace).Get(ctx, AWSAuthName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ConfigMap %s/%s: %w", AWSAuthNamespace, AWSAuthName, err)
	}
	var out []Grant
	for _, k := range [][2]string{{"mapRoles", keyRoleARN}, {"mapUsers", keyUserARN}} {
		list, err := parseMappings(cm, k[0])
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			arn, _ := m[k[1]].(string)
			user, _ := m[keyUsername].(string)
			var groups []string
			if gs, ok := m[keyGroups].([]any); ok {
				for _, g := range gs {
					if s, ok := g.(string); ok {
						groups = append(groups, s)
					}
				}
			}
			g := Grant{Principal: canonicalARN(arn), Username: user, Groups: groups}
			if user == g.Principal {
				g.Role = roleOfGroups(groups)
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// edit reads aws-auth (an empty one if it does not exist), lets change modify it, and writes it
// back if change says so; a concurrent writer (the resourceVersion changed) makes it start over.
func (a *AWSAuth) edit(ctx context.Context, change func(*corev1.ConfigMap) (bool, error)) error {
	cms := a.Client.CoreV1().ConfigMaps(AWSAuthNamespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, AWSAuthName, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if create {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: AWSAuthName, Namespace: AWSAuthNamespace}}
		} else if err != nil {
			return err
		}
		changed, err := change(cm)
		if err != nil || !changed {
			return err
		}
		if create {
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: rbac.FieldManager})
			if apierrors.IsAlreadyExists(err) { // made meanwhile: read it again
				return apierrors.NewConflict(corev1.Resource("configmaps"), AWSAuthName, err)
			}
			return err
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: rbac.FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("edit ConfigMap %s/%s: %w", AWSAuthNamespace, AWSAuthName, err)
	}
	return nil
}

// parseMappings reads mapRoles or mapUsers (YAML lists) keeping every field of every entry.
func parseMappings(cm *corev1.ConfigMap, key string) ([]map[string]any, error) {
	var list []map[string]any
	if s := cm.Data[key]; s != "" {
		if err := yaml.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s: %s is not a YAML list of mappings: %w", AWSAuthNamespace, AWSAuthName, key, err)
		}
	}
	return list, nil
}

func setMappings(cm *corev1.ConfigMap, key string, list []map[string]any) error {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	if len(list) == 0 {
		delete(cm.Data, key)
		return nil
	}
	b, err := yaml.Marshal(list)
	if err != nil {
		return err
	}
	cm.Data[key] = string(b)
	return nil
}
