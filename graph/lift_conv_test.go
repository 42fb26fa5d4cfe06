package graph

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refGConv is the plain direct loop of GConv2d's forward pass.
func refGConv(c *GConv2d, x *Tensor) *Tensor {
	s := c.Spec
	ho, wo := c.OutSize(x.H, x.W)
	y := NewTensor(x.N, s.OutC, ho, wo)
	cg, og := s.InC/s.Groups, s.OutC/s.Groups
	for n := 0; n < x.N; n++ {
		for o := 0; o < s.OutC; o++ {
			g := o / og
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					var sum float64
					if c.Bias != nil {
						sum = float64(c.Bias.Data[o])
					}
					for ci := 0; ci < cg; ci++ {
						for ky := 0; ky < s.KH; ky++ {
							iy := oy*s.StrideH - s.PadT + ky*s.DilH
							if iy < 0 || iy >= x.H {
								continue
							}
							for kx := 0; kx < s.KW; kx++ {
								ix := ox*s.StrideW - s.PadL + kx*s.DilW
								if ix < 0 || ix >= x.W {
									continue
								}
								w := c.Weight.Data[((o*cg+ci)*s.KH+ky)*s.KW+kx]
								sum += float64(w) * float64(x.Data[((n*s.InC+g*cg+ci)*x.H+iy)*x.W+ix])
							}
						}
					}
					y.Data[((n*s.OutC+o)*ho+oy)*wo+ox] = float32(sum)
				}
			}
		}
	}
	return y
}

func randGConv(rng *rand.Rand, s ConvSpec) *GConv2d {
	c := NewGConv2d("g", s)
	for _, p := range c.Params() {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64())
		}
	}
	return c
}

// TestGConvReference compares GConv2d's forward pass with the direct loop
// and checks that the gradients are the same from run to run for a given
// thread count (and close across thread counts).
func TestGConvReference(t *testing.T) {
	cases := []struct {
		s       ConvSpec
		n, h, w int
	}{
		{ConvSpec{InC: 3, OutC: 4, Groups: 1, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Bias: true}, 2, 9, 8},
		{ConvSpec{InC: 6, OutC: 6, Groups: 6, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 1, DilW: 1}, 1, 7, 6},
		{ConvSpec{InC: 4, OutC: 8, Groups: 2, KH: 2, KW: 3, StrideH: 1, StrideW: 3, PadT: 0, PadL: 2, PadB: 1, PadR: 0, DilH: 2, DilW: 1, Bias: true}, 2, 6, 10},
		{ConvSpec{InC: 4, OutC: 8, Groups: 4, KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadT: 2, PadL: 0, PadB: 1, PadR: 2, DilH: 2, DilW: 1, Bias: true}, 2, 9, 11},
		{ConvSpec{InC: 3, OutC: 3, Groups: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 0, PadL: 0, PadB: 0, PadR: 0, DilH: 1, DilW: 1}, 1, 3, 3},
		{ConvSpec{InC: 3, OutC: 70, Groups: 1, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1}, 1, 5, 5},
		{ConvSpec{InC: 2, OutC: 3, Groups: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 2, DilW: 2, Bias: true}, 2, 5, 4},
	}
	for k, tc := range cases {
		rng := rand.New(rand.NewPCG(uint64(k), 21))
		c := randGConv(rng, tc.s)
		x := randTensor(rng, tc.n, tc.s.InC, tc.h, tc.w, 1)
		want := refGConv(c, x)
		dwIm2col = true
		viaCols := c.Forward(x, false)
		dwIm2col = false
		if d := maxAbsDiff(viaCols.Data, want.Data); d > 1e-4 {
			t.Errorf("case %d: the im2col path differs from the direct loop by %g", k, d)
		}
		var first, prev []float32
		for _, threads := range []int{1, 3, 3} {
			c.Threads = threads
			y := c.Forward(x, false)
			if d := maxAbsDiff(y.Data, want.Data); !y.SameShape(want) || d > 1e-4 {
				t.Errorf("case %d threads %d: differs from the direct loop by %g", k, threads, d)
			}
			dy := randTensor(rand.New(rand.NewPCG(1, 1)), y.N, y.C, y.H, y.W, 1)
			clear(c.Weight.Grad)
			dx := c.Backward(dy)
			got := append(append([]float32(nil), dx.Data...), c.Weight.Grad...)
			switch {
			case first == nil:
				first = got
			case threads == 3 && prev != nil && !slices.Equal(prev, got):
				t.Errorf("case %d: two runs with 3 threads differ", k)
			case maxAbsDiff(first, got) > 1e-3:
				t.Errorf("case %d: gradients with %d threads differ from 1 thread by %g", k, threads, maxAbsDiff(first, got))
			}
			if threads == 3 {
				prev = got
			}
		}
	}
}

// BenchmarkGConv2d measures a depthwise 3x3 stride-2 convolution (the
// MobileNetV3 blocks) and a strided dense one against the direct loop,
// the baseline for the ratios.
func BenchmarkGConv2d(b *testing.B) {
	for _, sz := range []struct {
		name    string
		c, h, w int
	}{{"Small", 16, 32, 32}, {"Large", 96, 64, 64}} {
		for _, kind := range []string{"depthwise", "dense"} {
			rng := rand.New(rand.NewPCG(1, 1))
			s := ConvSpec{InC: sz.c, OutC: sz.c, Groups: sz.c, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Bias: true}
			if kind == "dense" {
				s.Groups = 1
			}
			c := randGConv(rng, s)
			c.Threads = 1
			x := randTensor(rng, 2, sz.c, sz.h, sz.w, 1)
			b.Run(sz.name+"/"+kind, func(b *testing.B) {
				for b.Loop() {
					c.Forward(x, true)
				}
			})
			if kind == "depthwise" {
				b.Run(sz.name+"/"+kind+"/im2col", func(b *testing.B) {
					dwIm2col = true
					defer func() { dwIm2col = false }()
					for b.Loop() {
						c.Forward(x, true)
					}
				})
			}
			b.Run(sz.name+"/"+kind+"/reference", func(b *testing.B) {
				for b.Loop() {
					refGConv(c, x)
				}
			})
		}
	}
}
