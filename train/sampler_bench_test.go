package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/lmp"
)

// benchPresence has n images over k classes, class c in a random fifth to all of the images.
func benchPresence(n, k int) *ClassPresence {
	rng := rand.New(rand.NewPCG(1, 1))
	p := NewClassPresence(n, k)
	for c := 0; c < k; c++ {
		share := 0.2 + 0.8*rng.Float64()
		for i := 0; i < n; i++ {
			if rng.Float64() < share {
				p.Set(i, c)
			}
		}
	}
	return p
}

// BenchmarkSamplerDraw measures one draw of each sampler; uniform is the baseline.
func BenchmarkSamplerDraw(b *testing.B) {
	for _, size := range []struct {
		name string
		n, k int
	}{{"Small", 120, 12}, {"Large", 20000, 150}} {
		p := benchPresence(size.n, size.k)
		p.Images(0)
		for _, name := range []string{SamplerUniform, SamplerClassUniform, SamplerPerformance} {
			b.Run(size.name+"/"+name, func(b *testing.B) {
				var s Sampler = NewUniformSampler(size.n, 8, 1)
				if name != SamplerUniform {
					s = &ClassSampler{P: p, Seed: 1, Mix: 0.5, Performance: name == SamplerPerformance}
				}
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, _, err := s.Draw(ctx, i/8%2, i%8+8*(i/16)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStepClassStats measures a training step of a linear head with and without the
// per-class counts the performance sampler needs; without is the baseline.
func BenchmarkStepClassStats(b *testing.B) {
	for _, size := range []struct {
		name             string
		n, c, k, h, w, s int
	}{{"Small", 2, 16, 12, 64, 128, 8}, {"Large", 4, 64, 19, 256, 512, 8}} {
		rng := rand.New(rand.NewPCG(2, 2))
		batch := &Batch{Feat: graph.NewTensor(size.n, size.c, size.h/size.s, size.w/size.s), H: size.h, W: size.w}
		for i := range batch.Feat.Data {
			batch.Feat.Data[i] = float32(rng.NormFloat64())
		}
		batch.Labels = make([]int32, size.n*size.h*size.w)
		for i := range batch.Labels {
			batch.Labels[i] = int32(rng.IntN(size.k))
		}
		for _, stats := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/classstats=%v", size.name, stats), func(b *testing.B) {
				head, err := graph.NewHead(graph.HeadSpec{Kind: "linear", InChannels: size.c, Classes: size.k}, 1)
				if err != nil {
					b.Fatal(err)
				}
				head.SetThreads(1)
				loss, _ := lmp.New("ce", lmp.Options{})
				opt, _ := NewOptimizer(OptimConfig{Name: "sgd", Momentum: 0.9})
				s := &Stepper{Head: head, Opt: opt, Loss: loss, Ignore: 255, Threads: 1, ClassStats: stats, Sched: Schedule{Base: 0.01, Total: 1 << 30}}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := s.Step(batch, i); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
