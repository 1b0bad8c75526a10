package awscluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	"github.com/cortexlabs-go/cortex/internal/identity"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
)

// OperatorRulesFunc reaches the operator of the cluster in st as the session's identity, for
// cluster.yaml's access (the operator's side of each rule).
type OperatorRulesFunc func(ctx context.Context, s *session, st *provaws.State) (provaws.AccessRules, func(), error)

// environmentFor is the CLI environment of the cluster in st: its operator's load balancer, the CA
// `up` installed, AWS identity tokens.
func environmentFor(name string, st *provaws.State, sts identity.STSEndpoint) cliconfig.Environment {
	e := cliconfig.Environment{
		Name: name, Provider: "aws", OperatorEndpoint: "https://" + st.OperatorLoadBalancer.DNSName, ClusterID: st.ClusterID,
		CACert:  st.Kubernetes.CACert,
		STSHost: sts.Host, STSRegion: sts.Region, Auth: cliconfig.AuthAWS,
		ClusterName: st.ClusterName, Region: st.Region,
	}
	if sts.Scheme != "https" {
		e.STSScheme = sts.Scheme // an STS emulator (--sts-test-endpoint, tests only)
	}
	return e
}

// operatorRules is the default OperatorRulesFunc: the operator at its load balancer, its CA pinned,
// each request carrying an identity token signed with the session's credentials (the creator's,
// or another cortex admin's; the operator checks that the caller is an admin).
func operatorRules(_ context.Context, s *session, st *provaws.State) (provaws.AccessRules, func(), error) {
	if st.Kubernetes == nil || st.OperatorLoadBalancer == nil {
		return nil, nil, errors.New("cortex is not installed in the EKS cluster: run cortex cluster up with --image first")
	}
	// The STS endpoint the operator verifies against: the region's, or with up's tests-only
	// --sts-test-endpoint the emulator's.
	sts, err := s.testOnly.validate(st.Region)
	if err != nil {
		return nil, nil, err
	}
	env := environmentFor(st.ClusterName, st, sts)
	cl, err := client.New(client.Options{Endpoint: env.OperatorEndpoint, CAPEM: []byte(env.CACert),
		Tokens: &client.AWSTokens{Env: &env, Audience: env.OperatorEndpoint, Provider: s.cfg.Credentials}})
	if err != nil {
		return nil, nil, err
	}
	return client.AccessRules{Client: cl}, cl.Close, nil
}

// applyAccess makes the cluster's access follow cluster.yaml's (provaws.ApplyAccess: each rule's
// operator rule and EKS access entry together). Nothing to do, and the operator is not even
// called, when cluster.yaml has no access and never applied any.
func applyAccess(ctx context.Context, d *Deps, s *session, p *provaws.Provisioner, cfg *clusterconfig.Config, st *provaws.State) error {
	if len(cfg.Access) == 0 && len(st.AccessApplied) == 0 {
		return nil
	}
	rulesFor := d.OperatorRules
	if rulesFor == nil {
		rulesFor = operatorRules
	}
	rules, done, err := rulesFor(ctx, s, st)
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	defer done()
	changed, err := p.ApplyAccess(ctx, cfg, rules)
	for _, c := range changed {
		fmt.Fprintf(d.IO.Out, "access: %s\n", c)
	}
	return err
}
