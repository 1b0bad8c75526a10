package kube

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cortexlabs-go/cortex/internal/workload"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Summarize turns a Deployment and its pods into the status cortex shows (`cortex get`): live
// when every requested replica of the current version is available and no old one remains,
// error with the reason a user can act on (an image that cannot be pulled, a crash loop, no node
// with the resources asked for, a failed rollout), updating otherwise.
func Summarize(d *appsv1.Deployment, pods []*corev1.Pod) workload.Status {
	requested := 1
	if d.Spec.Replicas != nil {
		requested = int(*d.Spec.Replicas)
	}
	ready := int(d.Status.ReadyReplicas)
	if ready > requested {
		ready = requested // surge pods of a rolling update
	}
	st := workload.Status{Name: d.Labels[LabelAPI], Requested: requested, Ready: ready}
	if st.Name == "" {
		st.Name = d.Name
	}
	if t, err := time.Parse(time.RFC3339Nano, d.Annotations[AnnotationUpdatedAt]); err == nil {
		st.UpdatedAt = t
	}

	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var firstErr string
	for i, p := range pods {
		r := replicaStatus(p)
		r.ID = i
		st.Replicas = append(st.Replicas, r)
		if r.State == "error" && firstErr == "" {
			firstErr = r.Reason
		}
	}
	for _, c := range d.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue && firstErr == "":
			// e.g. pods refused by admission or a quota: no pod exists to say why.
			firstErr = "cannot create replicas: " + c.Message
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" && firstErr == "":
			firstErr = "rollout stalled: " + c.Message
		}
	}

	current := d.Status.ObservedGeneration >= d.Generation
	switch {
	case firstErr != "":
		st.State, st.Reason = workload.Error, firstErr
	case current && int(d.Status.UpdatedReplicas) == requested && int(d.Status.AvailableReplicas) == requested &&
		int(d.Status.Replicas) == requested && int(d.Status.ReadyReplicas) >= requested:
		st.State = workload.Live
	default:
		st.State = workload.Updating
		switch {
		case !current:
			st.Reason = "waiting for the deployment controller"
		case int(d.Status.Replicas) > requested && int(d.Status.UpdatedReplicas) >= requested:
			st.Reason = "replacing the previous version"
		default:
			st.Reason = fmt.Sprintf("%d of %d replicas ready", ready, requested)
		}
	}
	return st
}

// Container waiting reasons that need the user (the kubelet retries them with backoff).
var waitingErrors = map[string]string{
	"ErrImagePull":               "image pull failed",
	"ImagePullBackOff":           "image pull failed",
	"InvalidImageName":           "invalid image name",
	"CrashLoopBackOff":           "crash loop",
	"CreateContainerConfigError": "container configuration error",
	"CreateContainerError":       "container cannot be created",
	"RunContainerError":          "container cannot be started",
}

// replicaStatus reads one pod: starting | ready | restarting | error | stopping.
func replicaStatus(p *corev1.Pod) workload.ReplicaStatus {
	r := workload.ReplicaStatus{State: "starting"}
	for _, cs := range p.Status.ContainerStatuses {
		r.Restarts += int(cs.RestartCount)
	}
	if p.DeletionTimestamp != nil {
		r.State = "stopping"
		return r
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			// The scheduler's message names what is missing, e.g. "0/3 nodes are available:
			// 3 Insufficient nvidia.com/gpu."
			r.State, r.Reason = "error", "unschedulable: "+strings.TrimSpace(c.Message)
			return r
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			if what, bad := waitingErrors[w.Reason]; bad {
				r.State = "error"
				r.Reason = what + " (" + w.Reason + ")"
				if w.Reason == "CrashLoopBackOff" {
					if t := cs.LastTerminationState.Terminated; t != nil {
						r.Reason += ": last exit " + exitDescription(t)
					}
				} else if w.Message != "" {
					r.Reason += ": " + w.Message
				}
				return r
			}
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		r.State, r.Reason = "error", strings.TrimSpace("pod failed: "+p.Status.Reason+" "+p.Status.Message)
		return r
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			r.State = "ready"
			return r
		}
	}
	if r.Restarts > 0 {
		r.State = "restarting"
	}
	return r
}

func exitDescription(t *corev1.ContainerStateTerminated) string {
	s := "code " + strconv.Itoa(int(t.ExitCode))
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		if len(m) > 200 {
			m = m[:200] + "..."
		}
		s += ": " + m
	}
	return s
}
