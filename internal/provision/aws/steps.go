package aws

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// step is one unit of provisioning work. run must be idempotent.
type step struct {
	name string
	deps []string
	run  func(ctx context.Context) (detail string, err error)
}

// StepError is a step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// runSteps runs steps in dependency order, each as soon as its dependencies are done, independent
// ones in parallel. A failed step skips its dependants; independent steps still finish (so their
// work is recorded). recordDone, if set, is called after each successful step.
func (p *Provisioner) runSteps(ctx context.Context, steps []step, recordDone func(ctx context.Context, name string) error) error {
	done := map[string]chan struct{}{}
	ok := map[string]bool{}
	var mu sync.Mutex
	for _, s := range steps {
		done[s.name] = make(chan struct{})
	}
	for _, s := range steps {
		for _, d := range s.deps {
			if _, found := done[d]; !found {
				return fmt.Errorf("internal: step %s depends on unknown step %s", s.name, d)
			}
		}
	}
	var wg sync.WaitGroup
	var errs []error
	for _, s := range steps {
		wg.Add(1)
		go func(s step) {
			defer wg.Done()
			defer close(done[s.name])
			for _, d := range s.deps {
				select {
				case <-done[d]:
				case <-ctx.Done():
					return
				}
				mu.Lock()
				depOK := ok[d]
				mu.Unlock()
				if !depOK {
					p.emit(Event{Step: s.name, Phase: PhaseSkipped, Detail: "needs " + d})
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			start := p.opts.Now()
			p.emit(Event{Step: s.name, Phase: PhaseStart})
			detail, err := s.run(ctx)
			if err == nil && recordDone != nil {
				err = recordDone(ctx, s.name)
			}
			elapsed := p.opts.Now().Sub(start)
			if err != nil {
				p.emit(Event{Step: s.name, Phase: PhaseFailed, Err: err, Elapsed: elapsed})
				mu.Lock()
				errs = append(errs, &StepError{Step: s.name, Err: err})
				mu.Unlock()
				return
			}
			p.emit(Event{Step: s.name, Phase: PhaseDone, Detail: detail, Elapsed: elapsed})
			mu.Lock()
			ok[s.name] = true
			mu.Unlock()
		}(s)
	}
	wg.Wait()
	if ctx.Err() != nil && len(errs) == 0 {
		return ctx.Err()
	}
	return errors.Join(errs...)
}
