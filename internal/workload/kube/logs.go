package kube

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// tailLines is how many recent lines of each replica Logs shows before following.
const tailLines = 200

// Logs implements workload.Backend: the API container's log of each pod (through the API
// server's pods/log subresource), each line prefixed with the replica's pod name; with follow,
// it keeps streaming until ctx ends or the pods go away. Pods that start after the call are not
// picked up (run it again).
func (b *Backend) Logs(ctx context.Context, name string, follow bool, w io.Writer) error {
	objs, err := b.pods.ByIndex(byAPI, name)
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		if _, err := b.deployments.Get(name); err != nil {
			return fmt.Errorf("api %q not found", name)
		}
		return nil
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var (
		mu   sync.Mutex // one line at a time to w
		wg   sync.WaitGroup
		errs = make([]error, len(pods))
	)
	tail := int64(tailLines)
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := b.client.CoreV1().Pods(b.opts.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
				Container: containerName, Follow: follow, TailLines: &tail,
			})
			rc, err := req.Stream(ctx)
			if err != nil {
				errs[i] = fmt.Errorf("replica %s: %w", p.Name, err)
				return
			}
			defer rc.Close()
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			prefix := "[" + p.Name + "] "
			for sc.Scan() {
				mu.Lock()
				_, err := io.WriteString(w, prefix+sc.Text()+"\n")
				mu.Unlock()
				if err != nil {
					errs[i] = err
					return
				}
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				errs[i] = fmt.Errorf("replica %s: %w", p.Name, err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}
