// Package workload is the interface between the operator and whatever runs API replicas: local
// processes (package local) today, Kubernetes deployments later. The operator owns the desired
// state (which specs are deployed); a Backend makes it so and reports what it sees.
package workload

import (
	"context"
	"io"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/bundle"
)

// State is an API's summarized status (a wire type, see apitypes).
type State = apitypes.State

// The states of an API.
const (
	// Live: every requested replica is ready and no older version is still being replaced.
	Live = apitypes.Live
	// Updating: replicas are starting, restarting or replacing an older version.
	Updating = apitypes.Updating
	// Error: a replica cannot start or exits before becoming ready; Reason says why. The backend
	// keeps retrying with backoff, so a fixed cause (a file, a package) heals without a redeploy.
	Error = apitypes.Error
)

// Deployment is what the operator asks a backend to run.
type Deployment struct {
	Spec apispec.Spec
	// SecretEnv is added to each replica's environment (e.g. AWS credentials). Backends must never
	// log it, put it in argv or write it to a file readable by others.
	SecretEnv map[string]string
	UpdatedAt time.Time
	// Code is the content hash of the API's project directory (package bundle) and CodeDir the
	// private snapshot replicas run from (their working directory; a python handler's path is
	// relative to it). Empty CodeDir: the spec's ProjectDir (no snapshot).
	Code    string
	CodeDir string
	// Compute is what each replica reserves and where it may run (ComputeOf the spec). The local
	// backend ignores it; the Kubernetes backend turns it into requests, limits and a node
	// selector.
	Compute Compute
	// Files is the project's code when it came with the deploy request (the operator is not on
	// the user's machine); nil otherwise, and on a restore, when the backend must already hold
	// the code named by Code.
	Files []bundle.File
}

// ComputeOf is the spec's compute as a backend takes it: node_group selects the nodes labelled
// apispec.NodeGroupLabel.
func ComputeOf(s apispec.Spec) Compute {
	c := Compute{CPU: s.Compute.CPU, Memory: s.Compute.Mem, GPU: s.Compute.GPU}
	if s.Compute.NodeGroup != "" {
		c.NodeSelector = map[string]string{apispec.NodeGroupLabel: s.Compute.NodeGroup}
	}
	return c
}

// SpecChecker is implemented by a backend that cannot run every valid spec (the local backend
// runs no container images). Manager.Apply asks it before anything changes, so a deploy it
// refuses is a ValidationError (HTTP 400) and changes nothing.
type SpecChecker interface {
	CheckSpec(s apispec.Spec) error
}

// Compute is the resources of one replica and the nodes it may run on. Zero values mean "no
// request" (and, for NodeSelector, any node).
type Compute struct {
	// CPU and Memory are Kubernetes quantities ("500m", "2Gi"); empty: none requested.
	CPU, Memory string
	// GPU is the number of nvidia.com/gpu devices.
	GPU int
	// NodeSelector restricts the nodes (e.g. a node group's label).
	NodeSelector map[string]string
}

// ReplicaStatus is one replica as the backend sees it.
type ReplicaStatus = apitypes.ReplicaStatus

// Status is an API as the backend sees it.
type Status struct {
	Name      string          `json:"name"`
	State     State           `json:"status"`
	Reason    string          `json:"reason,omitempty"`
	Requested int             `json:"requested"`
	Ready     int             `json:"ready"`
	Replicas  []ReplicaStatus `json:"replica_details,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Backend runs APIs. Implementations are safe for concurrent use.
type Backend interface {
	// Apply creates the API or brings it to d (scaling when only the replica count changed,
	// replacing replicas otherwise, without dropping the old ones before the new ones are ready).
	Apply(ctx context.Context, d Deployment) error
	// Restart replaces every replica of the API with a fresh process, old ones serving until the
	// new ones are ready (like `kubectl rollout restart`).
	Restart(ctx context.Context, name string) error
	// Delete stops and forgets the API; deleting an unknown API is not an error.
	Delete(ctx context.Context, name string) error
	// Status reports the API; ok is false for an unknown API.
	Status(name string) (st Status, ok bool)
	// Targets returns the addresses (host:port) of the API's ready replicas. The slice is shared
	// and must not be modified. It is on the gateway's hot path: implementations keep it cheap.
	Targets(name string) []string
	// Logs writes the API's recent log lines to w and, with follow, keeps writing new lines until
	// ctx ends or the API is deleted.
	Logs(ctx context.Context, name string, follow bool, w io.Writer) error
	// Close stops every replica and waits for them (bounded by ctx).
	Close(ctx context.Context) error
}
