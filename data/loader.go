package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Transform changes a freshly loaded sample in place, for example
// Augment.Apply. rng is private to the sample (see Loader).
type Transform func(s *Sample, rng *rand.Rand) error

// Loader decodes samples of a dataset in parallel and hands them out in a
// fixed order.
//
// Workers goroutines load and transform samples; at most Prefetch finished
// samples wait to be consumed, so memory stays bounded by about
// Prefetch + Workers + 1 samples whatever the dataset size. The output order
// is the order asked for, independent of worker timing, and every sample's
// random source is seeded from (Seed, epoch, dataset index) alone, so the
// output is the same for any number of workers.
type Loader struct {
	Data      Dataset
	Workers   int       // decoding goroutines; 0 means GOMAXPROCS
	Prefetch  int       // finished samples held ahead of the consumer; 0 means 2*Workers
	Seed      uint64    // seeds shuffling and the per-sample random sources
	Shuffle   bool      // Order returns a seeded permutation per epoch
	Transform Transform // optional, run by the workers after Load
}

// SampleError is the error of one sample; the Stream goes on after it.
type SampleError struct {
	Index int    // dataset index
	Name  string // sample name
	Err   error
}

func (e *SampleError) Error() string { return e.Err.Error() }
func (e *SampleError) Unwrap() error { return e.Err }

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// SampleRand returns the random source of dataset index i in the given epoch:
// a PCG generator seeded from (seed, epoch, i) only.
func SampleRand(seed uint64, epoch, i int) *rand.Rand {
	a := mix64(seed ^ mix64(uint64(epoch)+0x9e3779b97f4a7c15))
	b := mix64(a ^ mix64(uint64(i)+0x632be59bd9b4e019))
	return rand.New(rand.NewPCG(a, b))
}

// Order returns the sample order of an epoch: 0..Len-1, or when Shuffle is
// set a permutation drawn from (Seed, epoch) only.
func (l *Loader) Order(epoch int) []int {
	n := l.Data.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if l.Shuffle {
		r := rand.New(rand.NewPCG(mix64(l.Seed), mix64(uint64(epoch)^0x5851f42d4c957f2d)))
		r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// Epoch streams the samples of an epoch in l.Order(epoch).
func (l *Loader) Epoch(ctx context.Context, epoch int) *Stream {
	return l.Stream(ctx, l.Order(epoch), epoch)
}

type result struct {
	s   *Sample
	err error
}

type job struct {
	idx int
	out chan result
}

// Stream is one pass over a list of dataset indices; see Loader.Stream.
type Stream struct {
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	pending chan chan result
	wg      sync.WaitGroup
	done    bool
	err     error
}

// Stream starts loading the dataset indices in order (they may repeat) and
// returns the stream that yields them in that order. The caller must Close it.
func (l *Loader) Stream(ctx context.Context, order []int, epoch int) *Stream {
	workers := l.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	prefetch := l.Prefetch
	if prefetch <= 0 {
		prefetch = 2 * workers
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	st := &Stream{parent: parent, ctx: ctx, cancel: cancel, pending: make(chan chan result, prefetch)}
	jobs := make(chan job)
	order = append([]int(nil), order...)
	n := l.Data.Len()
	st.wg.Add(1 + workers)
	go func() { // dispatcher
		defer st.wg.Done()
		defer close(jobs)
		defer close(st.pending)
		for _, idx := range order {
			out := make(chan result, 1)
			if idx < 0 || idx >= n {
				out <- result{err: fmt.Errorf("data: sample index %d out of range [0, %d)", idx, n)}
			}
			select {
			case st.pending <- out:
			case <-ctx.Done():
				return
			}
			if idx < 0 || idx >= n {
				continue
			}
			select {
			case jobs <- job{idx, out}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < workers; w++ {
		go func() {
			defer st.wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					j.out <- result{err: ctx.Err()}
					continue
				}
				j.out <- l.load(j.idx, epoch)
			}
		}()
	}
	return st
}

func (l *Loader) load(idx, epoch int) (r result) {
	defer func() {
		if r.err != nil {
			r.err = &SampleError{Index: idx, Name: l.Data.Name(idx), Err: r.err}
		}
	}()
	s, err := l.Data.Load(idx)
	if err != nil {
		return result{err: err}
	}
	if l.Transform != nil {
		if err := l.Transform(s, SampleRand(l.Seed, epoch, idx)); err != nil {
			return result{err: fmt.Errorf("data: transform %s: %w", s.Name, err)}
		}
	}
	return result{s: s}
}

// Next returns the next sample. A failing sample yields a *SampleError and
// the stream goes on with the next one; at the end Next returns io.EOF, and
// after cancellation the context's error.
func (st *Stream) Next() (*Sample, error) {
	if st.done {
		return nil, st.err
	}
	if err := st.ctx.Err(); err != nil {
		st.done, st.err = true, err
		return nil, err
	}
	var out chan result
	var ok bool
	select {
	case out, ok = <-st.pending:
	case <-st.ctx.Done():
	}
	if !ok {
		st.done = true
		st.err = io.EOF
		if err := st.ctx.Err(); err != nil {
			st.err = err
		}
		return nil, st.err
	}
	select {
	case r := <-out:
		if r.err != nil && st.ctx.Err() != nil {
			st.done, st.err = true, st.ctx.Err()
			return nil, st.err
		}
		return r.s, r.err
	case <-st.ctx.Done():
		st.done, st.err = true, st.ctx.Err()
		return nil, st.err
	}
}

// Close stops the workers and waits for them to exit. It is safe to call
// more than once.
func (st *Stream) Close() error {
	st.cancel()
	st.wg.Wait()
	if !st.done {
		st.done, st.err = true, errors.New("data: stream closed")
		if err := st.parent.Err(); err != nil {
			st.err = err
		}
	}
	return nil
}
