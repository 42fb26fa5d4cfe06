package graph

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestConvBandsLimit checks a 3x3 convolution large enough that its column
// buffer is split into bands by colLimit (2 bands of at most 75 rows here):
// the forward pass against the direct loop, the weight and bias gradients
// against direct sums, and that repeated Backward calls with the kept
// partial sums give the same bits for a given thread count.
func TestConvBandsLimit(t *testing.T) {
	const inC, outC, h, w = 64, 4, 96, 96
	rng := rand.New(rand.NewPCG(5, 5))
	c := NewConv2d("big", inC, outC, 3, 1, 1, true)
	for _, p := range c.Params() {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64() * 0.1)
		}
	}
	c.SkipInputGrad = true
	if nb := c.convBands(1, 1, h, w); nb < 2 {
		t.Fatalf("convBands = %d: the test needs a convolution split by colLimit", nb)
	}
	g := NewGConv2d("ref", ConvSpec{InC: inC, OutC: outC, Groups: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1,
		PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Bias: true})
	copy(g.Weight.Data, c.Weight.Data)
	copy(g.Bias.Data, c.Bias.Data)
	x := randTensor(rng, 1, inC, h, w, 1)
	want := refGConv(g, x)
	dy := randTensor(rng, 1, outC, h, w, 1)
	// Direct sums of the parameter gradients.
	wantW := make([]float64, len(c.Weight.Data))
	wantB := make([]float64, outC)
	for o := range outC {
		for oy := range h {
			for ox := range w {
				d := float64(dy.Data[(o*h+oy)*w+ox])
				wantB[o] += d
				for ci := range inC {
					for ky := range 3 {
						iy := oy - 1 + ky
						if iy < 0 || iy >= h {
							continue
						}
						for kx := range 3 {
							ix := ox - 1 + kx
							if ix < 0 || ix >= w {
								continue
							}
							wantW[((o*inC+ci)*3+ky)*3+kx] += d * float64(x.Data[(ci*h+iy)*w+ix])
						}
					}
				}
			}
		}
	}
	for _, threads := range []int{1, 2} {
		c.Threads = threads
		y := c.Forward(x, true)
		if d := maxAbsDiff(y.Data, want.Data); d > 1e-3 {
			t.Errorf("threads=%d: forward differs from the direct loop by %g", threads, d)
		}
		var first []float32
		for rep := range 2 {
			for _, p := range c.Params() {
				clear(p.Grad)
			}
			c.Backward(dy)
			for i, v := range wantW {
				if math.Abs(float64(c.Weight.Grad[i])-v) > 1e-3*(1+math.Abs(v)) {
					t.Fatalf("threads=%d rep %d: weight gradient %d = %g, want %g", threads, rep, i, c.Weight.Grad[i], v)
				}
			}
			for i, v := range wantB {
				if math.Abs(float64(c.Bias.Grad[i])-v) > 1e-3*(1+math.Abs(v)) {
					t.Fatalf("threads=%d rep %d: bias gradient %d = %g, want %g", threads, rep, i, c.Bias.Grad[i], v)
				}
			}
			if rep == 0 {
				first = slices.Clone(c.Weight.Grad)
			} else if !slices.Equal(first, c.Weight.Grad) {
				t.Errorf("threads=%d: a second Backward gives other bits", threads)
			}
		}
	}
}
