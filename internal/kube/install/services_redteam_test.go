package install_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// Red team (closed): with Kubernetes' default externalTrafficPolicy Cluster, kube-proxy rewrites
// the source of every connection arriving through a node port (a LoadBalancer's, or the NodePort
// behind the load balancers `cluster up` makes on EKS) to the node's own address. Both processes
// count by client address (netlimit: 256 connections per address; the failure limiter: 20 failed
// authentications, then 429), so every caller would share a handful of node addresses: one
// unauthenticated attacker opening 256 connections, or sending 20 forged tokens, would refuse
// everybody else, and the audit log would record node addresses, not clients. Both Services of
// type LoadBalancer and NodePort therefore have externalTrafficPolicy Local; a ClusterIP Service
// cannot have one (the API server refuses it).
func TestServicesPreserveTheClientAddress(t *testing.T) {
	for _, typ := range []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP} {
		o := options(t, "cortex")
		o.ServiceType = typ
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs.Services) != 2 {
			t.Fatalf("%s: %d Services, want the operator's and the gateway's", typ, len(objs.Services))
		}
		for _, s := range objs.Services {
			p := s.Spec.ExternalTrafficPolicy
			if typ == corev1.ServiceTypeClusterIP {
				if p != nil {
					t.Errorf("Service %s (ClusterIP) has externalTrafficPolicy %s: the API server refuses it", *s.Name, *p)
				}
				continue
			}
			if p == nil || *p != corev1.ServiceExternalTrafficPolicyLocal {
				t.Errorf("Service %s (%s) has externalTrafficPolicy %v, want Local: clients would reach the operator and gateway as a node's address", *s.Name, typ, p)
			}
		}
	}
}
