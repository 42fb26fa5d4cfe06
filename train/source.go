package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// Transform changes a training sample (augmentation); rng is derived from the seed, the epoch and
// the sample index, so the result does not depend on scheduling.
type Transform func(s *data.Sample, rng *rand.Rand) (*data.Sample, error)

// sampleOrder maps iteration and batch slot to a sample index: epochs are seeded permutations.
type sampleOrder struct {
	n, batch int
	seed     int64
	mu       sync.Mutex
	perms    map[int][]int
}

func (o *sampleOrder) at(it, k int) (epoch, idx int) {
	g := it*o.batch + k
	epoch = g / o.n
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.perms == nil {
		o.perms = map[int][]int{}
	}
	p, ok := o.perms[epoch]
	if !ok {
		p = rand.New(rand.NewPCG(uint64(o.seed), uint64(epoch))).Perm(o.n)
		o.perms[epoch] = p
		delete(o.perms, epoch-2)
	}
	return epoch, p[g%o.n]
}

// SampleRNG returns the random source for sample idx of epoch under seed.
func SampleRNG(seed int64, epoch, idx int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^0x9e3779b97f4a7c15, uint64(epoch)<<32|uint64(uint32(idx))))
}

// ImageSource runs the backbone on (augmented) images at every iteration.
type ImageSource struct {
	DS        data.Dataset
	Backbone  onnx.Features
	Pre       data.Preprocess
	Transform Transform // may be nil
	BatchSize int
	Seed      int64
	// Sampler chooses the images; nil is the uniform sampler of Seed (NewUniformSampler).
	Sampler Sampler
}

// draws returns the sample indices and augmentation sources of the slots of iteration it.
func draws(ctx context.Context, smp *Sampler, n, batch int, seed int64, it int) ([]int, []*rand.Rand, error) {
	if *smp == nil {
		*smp = NewUniformSampler(n, batch, seed)
	}
	idx, rngs := make([]int, batch), make([]*rand.Rand, batch)
	for k := range idx {
		var err error
		if idx[k], rngs[k], err = (*smp).Draw(ctx, it, k); err != nil {
			return nil, nil, err
		}
		if idx[k] < 0 || idx[k] >= n {
			return nil, nil, fmt.Errorf("train: sampler drew sample %d of %d at iteration %d", idx[k], n, it)
		}
	}
	return idx, rngs, nil
}

// Batch implements Source.
func (s *ImageSource) Batch(ctx context.Context, it int) (*Batch, error) {
	idxs, rngs, err := draws(ctx, &s.Sampler, s.DS.Len(), s.BatchSize, s.Seed, it)
	if err != nil {
		return nil, err
	}
	samples := make([]*data.Sample, s.BatchSize)
	errs := make([]error, s.BatchSize)
	var wg sync.WaitGroup
	for k := range samples {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			smp, err := s.DS.Load(idxs[k])
			if err == nil && s.Transform != nil {
				smp, err = s.Transform(smp, rngs[k])
			}
			samples[k], errs[k] = smp, err
		}(k)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return FeatureBatch(s.Backbone, s.Pre, samples)
}

// FeatureBatch stacks samples of one size, runs the backbone and returns the batch.
func FeatureBatch(f onnx.Features, pre data.Preprocess, samples []*data.Sample) (*Batch, error) {
	H, W := samples[0].H, samples[0].W
	n := len(samples)
	x := make([]float32, n*3*H*W)
	b := &Batch{H: H, W: W, Labels: make([]int32, 0, n*H*W)}
	for k, smp := range samples {
		if smp.H != H || smp.W != W {
			return nil, fmt.Errorf("train: images %s (%dx%d) and %s (%dx%d) differ in size; use --crop HxW or --batch 1",
				samples[0].Name, H, W, smp.Name, smp.H, smp.W)
		}
		pre.Apply(x[k*3*H*W:(k+1)*3*H*W], smp)
		b.Labels = append(b.Labels, smp.Label...)
		b.Names = append(b.Names, smp.Name)
	}
	feat, shape, err := f.Run(x, n, H, W)
	if err != nil {
		return nil, fmt.Errorf("train: backbone on %s: %w", samples[0].Name, err)
	}
	t, err := graph.TensorFrom(feat, shape)
	if err != nil {
		return nil, fmt.Errorf("train: feature tensor: %w (pick another with --feature; 'lmpseg inspect --probe HxW' lists them)", err)
	}
	b.Feat = t
	return b, nil
}

// CachedSource reads features from a FeatureCache, computing and storing them on a miss. It does
// no augmentation: the features of a sample are the same at every epoch.
type CachedSource struct {
	DS        data.Dataset
	Backbone  onnx.Features
	Pre       data.Preprocess
	Cache     *FeatureCache
	Split     string
	BatchSize int
	Seed      int64
	// Sampler chooses the samples; nil is the uniform sampler of Seed (NewUniformSampler).
	Sampler Sampler
}

// Sample returns the cached features and label of sample idx. The entry must match the sample's
// content key (its files' bytes, see sampleKey), so that an image or label edited since the entry
// was written is a miss, and a hit decodes nothing; on a miss the features
// are rounded to float16 as the cache stores them, so a cold and a warm cache give the same numbers.
func (s *CachedSource) Sample(idx int) (*graph.Tensor, []int32, int, int, string, error) {
	name := s.DS.Name(idx)
	sum, smp, err := sampleKey(s.DS, idx, nil)
	if err != nil {
		return nil, nil, 0, 0, name, err
	}
	f, lab, H, W, ok, err := s.Cache.Get(s.Split, idx, sum)
	if err != nil || ok {
		return f, lab, H, W, name, err
	}
	if smp == nil {
		if smp, err = s.DS.Load(idx); err != nil {
			return nil, nil, 0, 0, name, err
		}
	}
	b, err := FeatureBatch(s.Backbone, s.Pre, []*data.Sample{smp})
	if err != nil {
		return nil, nil, 0, 0, name, err
	}
	for i, v := range b.Feat.Data {
		b.Feat.Data[i] = f16to32(f32to16(v))
	}
	if err := s.Cache.Put(s.Split, idx, sum, b.Feat, b.Labels, b.H, b.W); err != nil {
		return nil, nil, 0, 0, name, err
	}
	return b.Feat, b.Labels, b.H, b.W, name, nil
}

// Batch implements Source.
func (s *CachedSource) Batch(ctx context.Context, it int) (*Batch, error) {
	idxs, _, err := draws(ctx, &s.Sampler, s.DS.Len(), s.BatchSize, s.Seed, it)
	if err != nil {
		return nil, err
	}
	var b *Batch
	for k, idx := range idxs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, lab, H, W, name, err := s.Sample(idx)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = &Batch{H: H, W: W, Feat: graph.NewTensor(s.BatchSize, f.C, f.H, f.W)}
		}
		if H != b.H || W != b.W || f.H != b.Feat.H || f.W != b.Feat.W {
			return nil, fmt.Errorf("train: sample %s is %dx%d, others %dx%d; with --cache-features images must share one size, or use --batch 1", name, H, W, b.H, b.W)
		}
		copy(b.Feat.Data[k*len(f.Data):], f.Data)
		b.Labels = append(b.Labels, lab...)
		b.Names = append(b.Names, name)
	}
	return b, nil
}
