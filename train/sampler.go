package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"

	"github.com/lmpseg/lmpseg/data"
)

// Sampler names, as --sampler takes them. The empty name is uniform.
const (
	SamplerUniform      = "uniform"
	SamplerClassUniform = "class-uniform"
	SamplerPerformance  = "performance"
)

// Constants of the performance sampler: the running accuracy of a class is an exponential moving
// average with this decay per batch that holds the class, and a class is drawn with probability
// proportional to max(1 − accuracy, PerformanceFloor).
const (
	PerformanceDecay = 0.9
	PerformanceFloor = 0.1
)

// samplerSalt separates the draws of the class samplers from the other generators of a seed.
const samplerSalt = 0x5851f42d4c957f2d

// A Sampler chooses the training image of each batch slot. Draw returns the index of the sample
// in slot k (0-based) of iteration it and the random source for its augmentation. A draw is a
// pure function of the sampler's seed, it, k and the sampler's state at it, so a resumed run sees
// the same data as an uninterrupted one. Draw may wait for that state (see ClassSampler); it then
// returns ctx's error if ctx ends first.
type Sampler interface {
	Draw(ctx context.Context, it, k int) (idx int, rng *rand.Rand, err error)
}

// CheckSampler reports whether name and mix describe a sampler: name is "", uniform,
// class-uniform or performance, and for the last two mix is a probability in (0, 1].
func CheckSampler(name string, mix float64) error {
	switch name {
	case "", SamplerUniform:
		return nil
	case SamplerClassUniform, SamplerPerformance:
		if !(mix > 0 && mix <= 1) {
			return fmt.Errorf("train: --sampler-mix %v: want the probability in (0, 1] that a slot draws a class first", mix)
		}
		return nil
	}
	return fmt.Errorf("train: --sampler %q: want %s, %s or %s", name, SamplerUniform, SamplerClassUniform, SamplerPerformance)
}

// UniformSampler draws every sample once per epoch: epoch e is the permutation of the samples
// seeded by (Seed, e), and slot k of iteration it takes entry (it*Batch + k) mod N of epoch
// (it*Batch + k) / N. The augmentation source is SampleRNG(Seed, epoch, idx).
type UniformSampler struct {
	order sampleOrder
}

// NewUniformSampler returns the uniform sampler of n samples in batches of batch under seed.
func NewUniformSampler(n, batch int, seed int64) *UniformSampler {
	return &UniformSampler{order: sampleOrder{n: n, batch: batch, seed: seed}}
}

// Draw implements Sampler; it never waits.
func (s *UniformSampler) Draw(_ context.Context, it, k int) (int, *rand.Rand, error) {
	epoch, idx := s.order.at(it, k)
	return idx, SampleRNG(s.order.seed, epoch, idx), nil
}

// ClassSampler mixes uniform image sampling with class-driven sampling. Each slot draws, from
// its own generator rand.NewPCG(Seed^salt, it<<20|k), a number u in [0, 1): when u < Mix it
// draws a class c with probability proportional to its weight, then an image uniformly among
// those containing c; otherwise an image uniformly among all. Classes in no training image have
// weight 0.
//
// Without Performance (class-uniform) every present class weighs 1. With Performance a class
// weighs max(1 − a_c, PerformanceFloor), where a_c is the exponential moving average of the
// class's pixel accuracy over the training batches that held it (weight 1 before the first),
// fed by Observe after each step. Because the training loop prepares a batch while the previous
// step runs, the batch of iteration it uses the averages after it-1 steps (none for it 0 and 1):
// one step of lag. Draw waits until Observe has recorded them. MarshalBinary and UnmarshalBinary
// carry the state a resumed run needs.
type ClassSampler struct {
	P           *ClassPresence
	Seed        int64
	Mix         float64
	Performance bool

	mu      sync.Mutex
	init    bool
	latest  int               // steps observed
	states  map[int][]float64 // accuracy averages after j steps (NaN: not seen yet)
	changed chan struct{}     // closed when a state is recorded
	weights map[int][]float64 // cumulative class weights by state, for draws
}

// stateKeep is how many recorded states a ClassSampler keeps: the loop draws at most two
// iterations ahead of the step it observes.
const stateKeep = 8

func (s *ClassSampler) setup() {
	if s.init {
		return
	}
	s.init = true
	s.states = map[int][]float64{}
	s.weights = map[int][]float64{}
	s.changed = make(chan struct{})
	a := make([]float64, s.P.K)
	for c := range a {
		a[c] = math.NaN()
	}
	s.states[0] = a
}

// StateIter returns the iteration whose draws use the state after the returned number of steps.
func stateFor(it int) int { return max(it-1, 0) }

// cumulative returns the cumulative class weights of state a.
func (s *ClassSampler) cumulative(a []float64) []float64 {
	cum := make([]float64, len(a))
	var t float64
	for c := range a {
		if len(s.P.Images(c)) > 0 {
			w := 1.0
			if s.Performance && !math.IsNaN(a[c]) {
				w = math.Max(1-a[c], PerformanceFloor)
			}
			t += w
		}
		cum[c] = t
	}
	return cum
}

// Weights returns the class weights (not normalised) that the draws of iteration it use; it waits
// for the state like Draw.
func (s *ClassSampler) Weights(ctx context.Context, it int) ([]float64, error) {
	cum, err := s.cum(ctx, it)
	if err != nil {
		return nil, err
	}
	w := make([]float64, len(cum))
	prev := 0.0
	for c, v := range cum {
		w[c], prev = v-prev, v
	}
	return w, nil
}

func (s *ClassSampler) cum(ctx context.Context, it int) ([]float64, error) {
	j := 0
	if s.Performance {
		j = stateFor(it)
	}
	for {
		s.mu.Lock()
		s.setup()
		if cum, ok := s.weights[j]; ok {
			s.mu.Unlock()
			return cum, nil
		}
		if a, ok := s.states[j]; ok {
			cum := s.cumulative(a)
			s.weights[j] = cum
			s.mu.Unlock()
			return cum, nil
		}
		if j < s.latest {
			s.mu.Unlock()
			return nil, fmt.Errorf("train: performance sampler: iteration %d needs the state after %d steps, which is no longer kept (at %d)", it, j, s.latest)
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Draw implements Sampler.
func (s *ClassSampler) Draw(ctx context.Context, it, k int) (int, *rand.Rand, error) {
	if k >= 1<<20 || k < 0 || it < 0 {
		panic(fmt.Sprintf("train: ClassSampler.Draw: iteration %d, slot %d", it, k))
	}
	if s.P.N == 0 {
		return 0, nil, errors.New("train: class sampler over an empty dataset")
	}
	rng := rand.New(rand.NewPCG(uint64(s.Seed)^samplerSalt, uint64(it)<<20|uint64(k)))
	var idx int
	if rng.Float64() < s.Mix {
		cum, err := s.cum(ctx, it)
		if err != nil {
			return 0, nil, err
		}
		c := pickClass(cum, rng.Float64())
		if c < 0 {
			return 0, nil, errors.New("train: class sampler: no class is present in any training image")
		}
		imgs := s.P.Images(c)
		idx = int(imgs[rng.IntN(len(imgs))])
	} else {
		idx = rng.IntN(s.P.N)
	}
	return idx, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), nil
}

// pickClass returns the class whose cumulative weight interval holds u*total, -1 when all weigh 0.
func pickClass(cum []float64, u float64) int {
	if len(cum) == 0 || cum[len(cum)-1] <= 0 {
		return -1
	}
	x := u * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Observe records the per-class pixel counts of training step it (0-based; correct[c] of
// total[c] labelled pixels of class c predicted right), giving the state after it+1 steps. Steps
// must be observed in order; the class-uniform sampler ignores them. It panics when it is not the
// next step or the counts do not have one entry per class.
func (s *ClassSampler) Observe(it int, correct, total []int64) {
	if !s.Performance {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setup()
	if it != s.latest {
		panic(fmt.Sprintf("train: ClassSampler.Observe: step %d, want %d", it, s.latest))
	}
	if len(correct) != s.P.K || len(total) != s.P.K {
		panic(fmt.Sprintf("train: ClassSampler.Observe: %d and %d counts for %d classes", len(correct), len(total), s.P.K))
	}
	a := append([]float64(nil), s.states[it]...)
	for c := range a {
		if total[c] <= 0 {
			continue
		}
		acc := float64(correct[c]) / float64(total[c])
		if math.IsNaN(a[c]) {
			a[c] = acc
		} else {
			a[c] = PerformanceDecay*a[c] + (1-PerformanceDecay)*acc
		}
	}
	s.latest = it + 1
	s.states[s.latest] = a
	delete(s.states, s.latest-stateKeep)
	delete(s.weights, s.latest-stateKeep)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Accuracy returns the running class accuracies after the last observed step (NaN: not seen).
func (s *ClassSampler) Accuracy() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setup()
	return append([]float64(nil), s.states[s.latest]...)
}

const samplerMagic = "LMPSAMP1"

// MarshalBinary encodes the state a resumed run needs: the number of observed steps j and the
// accuracy averages after j-1 and j steps (the batches of iterations j and j+1 use them).
func (s *ClassSampler) MarshalBinary() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setup()
	var b bytes.Buffer
	b.WriteString(samplerMagic)
	binary.Write(&b, binary.LittleEndian, int64(s.latest))
	binary.Write(&b, binary.LittleEndian, uint32(s.P.K))
	prev := s.states[max(s.latest-1, 0)]
	for _, a := range [][]float64{prev, s.states[s.latest]} {
		for _, v := range a {
			binary.Write(&b, binary.LittleEndian, math.Float64bits(v))
		}
	}
	return b.Bytes(), nil
}

// UnmarshalBinary restores a state written by MarshalBinary.
func (s *ClassSampler) UnmarshalBinary(p []byte) error {
	bad := func(what string) error { return fmt.Errorf("train: sampler state: %s", what) }
	if len(p) < len(samplerMagic)+12 || string(p[:len(samplerMagic)]) != samplerMagic {
		return bad("bad header")
	}
	p = p[len(samplerMagic):]
	j := int64(binary.LittleEndian.Uint64(p))
	k := int(binary.LittleEndian.Uint32(p[8:]))
	p = p[12:]
	if j < 0 || k != s.P.K {
		return bad(fmt.Sprintf("%d steps, %d classes (want %d)", j, k, s.P.K))
	}
	if len(p) != 16*k {
		return bad("truncated")
	}
	var st [2][]float64
	for i := range st {
		st[i] = make([]float64, k)
		for c := range st[i] {
			st[i][c] = math.Float64frombits(binary.LittleEndian.Uint64(p))
			p = p[8:]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setup()
	clear(s.states)
	clear(s.weights)
	s.latest = int(j)
	s.states[s.latest] = st[1]
	if j > 0 {
		s.states[s.latest-1] = st[0]
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// PresenceFile is the run folder file that caches the training set's class presence and label
// histogram for the class samplers (keyed by the dataset, see PresenceKey).
const PresenceFile = "presence.bin"

// runSampler builds the training sampler of cfg over ds: nil for uniform (the sources' default),
// else a ClassSampler over the presence cached in the run folder. The performance sampler is
// also returned as stateful.
func runSampler(run string, cfg *Config, ds data.Dataset) (Sampler, *ClassSampler, error) {
	if err := CheckSampler(cfg.Sampler, cfg.SamplerMix); err != nil {
		return nil, nil, err
	}
	if cfg.Sampler == "" || cfg.Sampler == SamplerUniform {
		return nil, nil, nil
	}
	p, err := LoadClassPresence(filepath.Join(run, PresenceFile), PresenceKey(cfg, ds), ds, len(cfg.Classes))
	if err != nil {
		return nil, nil, err
	}
	cs := &ClassSampler{P: p, Seed: cfg.Seed, Mix: cfg.SamplerMix, Performance: cfg.Sampler == SamplerPerformance}
	if cs.Performance {
		return cs, cs, nil
	}
	return cs, nil, nil
}

// restoreSampler loads the state of a performance sampler from a checkpoint of iteration iter.
func restoreSampler(s *ClassSampler, state []byte, iter int) error {
	if len(state) == 0 {
		return fmt.Errorf("the checkpoint holds no state of the %s sampler", SamplerPerformance)
	}
	if err := s.UnmarshalBinary(state); err != nil {
		return err
	}
	if s.latest != iter {
		return fmt.Errorf("train: sampler state after %d steps in a checkpoint of iteration %d", s.latest, iter)
	}
	return nil
}
