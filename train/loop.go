package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
)

// A Source yields the training batch of each iteration. Batch(it) must depend only on it, the
// source's seed and state the run records in its checkpoints (the accuracies a performance
// sampler observes, see ClassSampler), never on earlier calls, so that a resumed run sees the
// same data as an uninterrupted one.
type Source interface {
	Batch(ctx context.Context, it int) (*Batch, error)
}

// Hooks are called by Run at named points of the loop; nil hooks are skipped.
type Hooks struct {
	// Step is called after every successful step.
	Step func(it int, st StepStats)
	// Eval is called every Loop.ValEvery iterations and at the end; it returns the validation
	// mIoU (in [0,1]) used to select the best checkpoint, or a negative value for none.
	Eval func(ctx context.Context, it int) (float64, error)
	// Checkpoint is called after a checkpoint file was written.
	Checkpoint func(it int, path string)
}

// Loop runs training iterations from Start to Iters with checkpoints in Run (a folder).
type Loop struct {
	Stepper   *Stepper
	Source    Source
	Run       string
	Start     int // iterations already done (from a checkpoint)
	Iters     int
	ValEvery  int
	CkptEvery int
	BestMIoU  float64
	BestIter  int
	Hooks     Hooks
	// EvalFirst runs the Eval hook at Start before any step: a resumed run whose validation at
	// Start was interrupted repeats it, so its metrics read as if it had never stopped.
	EvalFirst bool
	// SamplerState, when set, returns the training sampler's state to store in each last.ckpt
	// (Checkpoint.Sampler); it is called after the Step hook of the last step written.
	SamplerState func() ([]byte, error)
}

// ErrInterrupted is returned by Loop.Do when its context was cancelled; the current step was
// finished and a checkpoint written first.
var ErrInterrupted = errors.New("train: interrupted")

// Do runs the loop. It prefetches the next batch while the current step runs. On a NaN or Inf it
// stops with a *NumericError, keeping the last good checkpoint on disk.
func (l *Loop) Do(ctx context.Context) error {
	if l.CkptEvery <= 0 {
		l.CkptEvery = 50
	}
	type result struct {
		b   *Batch
		err error
	}
	// The producer runs under its own context so that an interrupt lets the current step finish.
	pctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := make(chan result, 1)
	go func() {
		defer close(next)
		for it := l.Start; it < l.Iters; it++ {
			b, err := l.Source.Batch(pctx, it)
			select {
			case next <- result{b, err}:
			case <-pctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	save := func(it int) error {
		p := filepath.Join(l.Run, LastCkpt)
		var smp []byte
		if l.SamplerState != nil {
			var err error
			if smp, err = l.SamplerState(); err != nil {
				return err
			}
		}
		if err := SaveCheckpointSampler(p, it, l.BestMIoU, l.BestIter, l.Stepper.Head, l.Stepper.Opt, smp); err != nil {
			return err
		}
		if l.Hooks.Checkpoint != nil {
			l.Hooks.Checkpoint(it, p)
		}
		return nil
	}
	eval := func(done int) error {
		if l.Hooks.Eval == nil {
			return nil
		}
		m, err := l.Hooks.Eval(ctx, done)
		if err != nil {
			if ctx.Err() != nil {
				// Interrupted while validating: keep the finished steps.
				if err := save(done); err != nil {
					return err
				}
				return ErrInterrupted
			}
			return err
		}
		if m >= 0 && (m > l.BestMIoU || math.IsNaN(l.BestMIoU)) {
			l.BestMIoU, l.BestIter = m, done
			p := filepath.Join(l.Run, BestCkpt)
			if err := SaveCheckpoint(p, done, l.BestMIoU, l.BestIter, l.Stepper.Head, nil); err != nil {
				return err
			}
			if l.Hooks.Checkpoint != nil {
				l.Hooks.Checkpoint(done, p)
			}
		}
		return nil
	}
	if l.EvalFirst {
		if err := eval(l.Start); err != nil {
			return err
		}
		if l.Start == l.Iters {
			return save(l.Start)
		}
	}
	if l.Start == 0 && l.Iters == 0 {
		// Nothing to train (a lifted decoder kept as the model has it): the initial state is the
		// run's checkpoint.
		if err := eval(0); err != nil {
			return err
		}
		return save(0)
	}
	for it := l.Start; it < l.Iters; it++ {
		if ctx.Err() != nil {
			if err := save(it); err != nil {
				return err
			}
			return ErrInterrupted
		}
		r, ok := <-next
		if !ok {
			return errors.New("train: batch producer stopped")
		}
		if r.err != nil {
			return r.err
		}
		st, err := l.Stepper.Step(r.b, it)
		if err != nil {
			return err
		}
		if l.Hooks.Step != nil {
			l.Hooks.Step(it, st)
		}
		done := it + 1
		if l.ValEvery > 0 && done%l.ValEvery == 0 && done < l.Iters {
			if err := eval(done); err != nil {
				return err
			}
		}
		if done%l.CkptEvery == 0 || done == l.Iters {
			// The finished steps are saved before the final validation, so that an error there
			// (data, disk) loses no training; the result is saved again with the best mIoU.
			if err := save(done); err != nil {
				return err
			}
			if done == l.Iters && l.Hooks.Eval != nil {
				if err := eval(done); err != nil {
					return err
				}
				if err := save(done); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// String describes where a run stands.
func (l *Loop) String() string {
	return fmt.Sprintf("iteration %d of %d, best mIoU %.4f at %d", l.Start, l.Iters, l.BestMIoU, l.BestIter)
}
