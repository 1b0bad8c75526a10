package install_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// Red team: the operator's and the gateway's Services (LoadBalancer, or NodePort behind the load
// balancers `cluster up` makes on EKS) keep Kubernetes' default externalTrafficPolicy Cluster, so
// kube-proxy rewrites the source of every connection arriving through a node port to the node's
// own address. Both processes count by client address (netlimit: 256 connections per address;
// the failure limiter: 20 failed authentications, then 429 for every credential that is not
// cheap and known good), so every caller shares a handful of node addresses: one unauthenticated
// attacker opening 256 connections, or sending 20 forged tokens, refuses everybody else (new IAM
// callers 429, connections dropped), and the audit log records node addresses, not clients.
//
// Open: set externalTrafficPolicy: Local on both Services of type LoadBalancer and NodePort (the
// source is then the client's, with an NLB's client IP preservation; nodes without a replica fail
// the load balancer's health check and get no traffic), and for the NodePort install pick a node
// that runs the pod (install.Address), or rely on the health check. Not done here: it changes how
// the load balancers of internal/provision/aws reach the pods, which needs their own test.
func TestServicesPreserveTheClientAddress(t *testing.T) {
	for _, typ := range []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort} {
		o := options(t, "cortex")
		o.ServiceType = typ
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range objs.Services {
			if p := s.Spec.ExternalTrafficPolicy; p == nil || *p != corev1.ServiceExternalTrafficPolicyLocal {
				t.Skipf("open finding: Service %s (%s) has externalTrafficPolicy %v: clients reach the operator and gateway as a node's address; see the comment for the fix", *s.Name, typ, p)
			}
		}
	}
}
