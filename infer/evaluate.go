package infer

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/metrics"
)

// EvalOptions controls Evaluate.
type EvalOptions struct {
	Shard, Shards int  // evaluate images Shard, Shard+Shards, ... (Shards 0 or 1: all)
	Workers       int  // decoding goroutines (0: GOMAXPROCS)
	Strict        bool // stop at an image that fails to decode instead of skipping it
	Ignore        int32
	// Progress, when set, is called after each image with the count done and the total.
	Progress func(done, total int)
	// Warn, when set, receives a line for each skipped image.
	Warn func(msg string)
	// ClassMap, when set, maps each prediction from the model's classes to the dataset's (and
	// its IgnoreLabels in the labels to Ignore) before the confusion matrix.
	ClassMap *ClassMap
	// Image, when set, is called after each image with the sample and its prediction as
	// counted (class-mapped); it may keep both, which Evaluate does not use again.
	Image func(s *data.Sample, pred []int32)
}

// EvalStats describes an evaluation run.
type EvalStats struct {
	Images  int
	Skipped []string
	Seconds float64
}

// ImagesPerSecond is the throughput of the run.
func (s EvalStats) ImagesPerSecond() float64 {
	if s.Seconds == 0 {
		return 0
	}
	return float64(s.Images) / s.Seconds
}

// Evaluate predicts every image of ds in the shard and accumulates a confusion matrix over
// numClasses classes (the dataset's; see EvalOptions.ClassMap for a model with other classes). Images are decoded in parallel with inference, at most a few ahead.
func Evaluate(ctx context.Context, p *Predictor, ds data.Dataset, numClasses int, o EvalOptions) (*metrics.Confusion, EvalStats, error) {
	if o.Shards <= 1 {
		o.Shard, o.Shards = 0, 1
	}
	var idx []int
	for i := o.Shard; i < ds.Len(); i += o.Shards {
		idx = append(idx, i)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type item struct {
		s   *data.Sample
		err error
		i   int
	}
	// Per-index result slots keep the output order fixed whatever the decode timing.
	slots := make([]chan item, len(idx))
	for k := range slots {
		slots[k] = make(chan item, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, workers+2) // bounded prefetch
	go func() {
		for k, i := range idx {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func(k, i int) {
				s, err := ds.Load(i)
				slots[k] <- item{s, err, i}
			}(k, i)
		}
	}()
	conf := metrics.NewConfusion(numClasses)
	st := EvalStats{}
	t0 := time.Now()
	for k := range idx {
		var it item
		select {
		case it = <-slots[k]:
		case <-ctx.Done():
			return nil, st, ctx.Err()
		}
		<-sem
		if it.err != nil {
			if o.Strict {
				return nil, st, it.err
			}
			st.Skipped = append(st.Skipped, ds.Name(it.i))
			if o.Warn != nil {
				o.Warn(fmt.Sprintf("skipping %s: %v (use --strict to stop instead)", ds.Name(it.i), it.err))
			}
			continue
		}
		pred, err := p.Predict(it.s)
		if err != nil {
			return nil, st, err
		}
		if o.ClassMap != nil {
			o.ClassMap.ApplyLabels(it.s.Label, o.Ignore)
			o.ClassMap.Apply(pred)
		}
		conf.Add(it.s.Label, pred, o.Ignore)
		if o.Image != nil {
			o.Image(it.s, pred)
		}
		st.Images++
		if o.Progress != nil {
			o.Progress(k+1, len(idx))
		}
	}
	st.Seconds = time.Since(t0).Seconds()
	return conf, st, nil
}
