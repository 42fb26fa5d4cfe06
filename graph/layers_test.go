package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerGradients checks every layer's input and parameter gradients
// against central differences of the objective sum(r * Forward(x)).
func TestLayerGradients(t *testing.T) {
	type lcase struct {
		name       string
		make       func(rng *rand.Rand) Layer
		n, c, h, w int
		train      bool
		before     func(Layer) // reset state before each forward (dropout masks)
		eps, tol   float64
	}
	conv := func(in, out, k, pad, dil int, bias bool) func(*rand.Rand) Layer {
		return func(rng *rand.Rand) Layer {
			c := NewConv2d("c", in, out, k, pad, dil, bias)
			for _, p := range c.Params() {
				for i := range p.Data {
					p.Data[i] = float32(rng.NormFloat64())
				}
			}
			return c
		}
	}
	bn := func(c int) func(*rand.Rand) Layer {
		return func(rng *rand.Rand) Layer {
			b := NewBatchNorm2d("bn", c)
			for i := 0; i < c; i++ {
				b.Weight.Data[i] = float32(0.5 + rng.Float64())
				b.Bias.Data[i] = float32(rng.NormFloat64())
				b.RunningMean.Data[i] = float32(rng.NormFloat64())
				b.RunningVar.Data[i] = float32(0.5 + rng.Float64())
			}
			return b
		}
	}
	resetDrop := func(l Layer) { l.(*Dropout2d).rng = rand.New(rand.NewPCG(5, 5)) }
	cases := []lcase{
		{"conv1x1 bias", conv(4, 3, 1, 0, 1, true), 2, 4, 3, 5, true, nil, 1e-2, 2e-3},
		{"conv1x1 pad", conv(3, 2, 1, 1, 1, true), 1, 3, 3, 3, true, nil, 1e-2, 2e-3},
		{"conv3x3 pad1", conv(3, 4, 3, 1, 1, false), 2, 3, 5, 6, true, nil, 1e-2, 2e-3},
		{"conv3x3 dil2", conv(2, 3, 3, 2, 2, true), 1, 2, 6, 7, true, nil, 1e-2, 2e-3},
		{"conv3x3 nopad", conv(2, 2, 3, 0, 1, true), 2, 2, 5, 4, true, nil, 1e-2, 2e-3},
		{"conv1x1 wide", conv(3, smallOut+2, 1, 0, 1, true), 1, 3, 2, 3, true, nil, 1e-2, 2e-3},
		{"conv3x3 wide", conv(2, smallOut+1, 3, 1, 1, false), 1, 2, 3, 2, true, nil, 1e-2, 2e-3},
		{"batchnorm train", bn(3), 2, 3, 4, 3, true, nil, 1e-3, 1e-2},
		{"batchnorm eval", bn(3), 2, 3, 4, 3, false, nil, 1e-2, 2e-3},
		{"relu", func(*rand.Rand) Layer { return &ReLU{} }, 2, 3, 4, 4, true, nil, 1e-3, 2e-3},
		{"dropout train", func(*rand.Rand) Layer { return NewDropout2d(0.5, 1) }, 3, 4, 2, 3, true, resetDrop, 1e-2, 2e-3},
		{"dropout eval", func(*rand.Rand) Layer { return NewDropout2d(0.5, 1) }, 2, 2, 2, 2, false, nil, 1e-2, 2e-3},
		{"resize up", func(*rand.Rand) Layer { return &Resize{H: 12, W: 17} }, 2, 2, 3, 4, true, nil, 1e-2, 2e-3},
		{"resize down", func(*rand.Rand) Layer { return &Resize{H: 3, W: 2} }, 1, 2, 7, 5, true, nil, 1e-2, 2e-3},
		{"resize odd", func(*rand.Rand) Layer { return &Resize{H: 5, W: 9} }, 1, 1, 4, 6, true, nil, 1e-2, 2e-3},
	}
	for k, tc := range cases {
		for _, threads := range []int{1, 3} {
			SetThreads(threads)
			name := fmt.Sprintf("%s threads %d", tc.name, threads)
			rng := rand.New(rand.NewPCG(uint64(k), 9))
			l := tc.make(rng)
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w, 1)
			if tc.name == "relu" {
				// Keep inputs away from the kink.
				for i, v := range x.Data {
					if math.Abs(float64(v)) < 0.05 {
						x.Data[i] = 0.1
					}
				}
			}
			fwd := func() *Tensor {
				if tc.before != nil {
					tc.before(l)
				}
				return l.Forward(x, tc.train)
			}
			y := fwd()
			r := randTensor(rng, y.N, y.C, y.H, y.W, 1)
			f := func() float64 { return dot64(fwd().Data, r.Data) }
			fwd()
			dx := l.Backward(r)
			if dx == nil || !dx.SameShape(x) {
				t.Fatalf("%s: input gradient has the wrong shape", name)
			}
			checkGrad(t, name+" dx", rng, f, x.Data, dx.Data, tc.eps, tc.tol)
			for _, p := range l.Params() {
				clear(p.Grad)
				fwd()
				l.Backward(r)
				checkGrad(t, name+" "+p.Name, rng, f, p.Data, p.Grad, tc.eps, tc.tol)
			}
		}
	}
	SetThreads(0)
}

// TestConvReference compares Conv2d.Forward with a direct loop.
func TestConvReference(t *testing.T) {
	cases := []struct{ in, out, k, pad, dil, n, h, w int }{
		{3, 4, 1, 0, 1, 2, 5, 7},
		{3, 4, 3, 1, 1, 2, 5, 7},
		{2, 5, 3, 2, 2, 1, 9, 6},
		{1, 1, 3, 0, 1, 1, 3, 3},
		{4, 2, 1, 2, 1, 1, 2, 2},
		{5, 70, 1, 0, 1, 2, 3, 4}, // more than smallOut outputs: gonum's Gemm
		{3, 65, 3, 1, 1, 1, 4, 3},
	}
	for k, tc := range cases {
		for _, threads := range []int{1, 4} {
			SetThreads(threads)
			rng := rand.New(rand.NewPCG(uint64(k), 3))
			c := NewConv2d("c", tc.in, tc.out, tc.k, tc.pad, tc.dil, true)
			for _, p := range c.Params() {
				for i := range p.Data {
					p.Data[i] = float32(rng.NormFloat64())
				}
			}
			x := randTensor(rng, tc.n, tc.in, tc.h, tc.w, 1)
			y := c.Forward(x, false)
			ho, wo := c.OutSize(tc.h, tc.w)
			for n := 0; n < tc.n; n++ {
				for o := 0; o < tc.out; o++ {
					for oy := 0; oy < ho; oy++ {
						for ox := 0; ox < wo; ox++ {
							s := float64(c.Bias.Data[o])
							for i := 0; i < tc.in; i++ {
								for ky := 0; ky < tc.k; ky++ {
									for kx := 0; kx < tc.k; kx++ {
										iy, ix := oy-tc.pad+ky*tc.dil, ox-tc.pad+kx*tc.dil
										if iy < 0 || iy >= tc.h || ix < 0 || ix >= tc.w {
											continue
										}
										s += float64(c.Weight.Data[((o*tc.in+i)*tc.k+ky)*tc.k+kx]) * float64(x.Data[((n*tc.in+i)*tc.h+iy)*tc.w+ix])
									}
								}
							}
							got := y.Data[((n*tc.out+o)*ho+oy)*wo+ox]
							if math.Abs(float64(got)-s) > 1e-4 {
								t.Fatalf("case %d threads %d: y[%d,%d,%d,%d] = %v, want %v", k, threads, n, o, oy, ox, got, s)
							}
						}
					}
				}
			}
		}
	}
	SetThreads(0)
}

// TestResizeKnown checks ResizeBilinear on hand-computed values of PyTorch's
// interpolate(bilinear, align_corners=False).
func TestResizeKnown(t *testing.T) {
	src := &Tensor{N: 1, C: 1, H: 1, W: 2, Data: []float32{0, 1}}
	dst := NewTensor(1, 1, 1, 4)
	ResizeBilinear(dst, src)
	// src coords: -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper tap clamped).
	want := []float32{0, 0.25, 0.75, 1}
	for i, v := range want {
		if math.Abs(float64(dst.Data[i]-v)) > 1e-7 {
			t.Errorf("x=%d: %v, want %v", i, dst.Data[i], v)
		}
	}
	src = &Tensor{N: 1, C: 1, H: 2, W: 2, Data: []float32{1, 2, 3, 4}}
	dst = NewTensor(1, 1, 3, 3)
	ResizeBilinear(dst, src)
	// scale 2/3: coords -1/6 -> 0, 0.5, 7/6 -> 1.
	want = []float32{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}
	for i, v := range want {
		if math.Abs(float64(dst.Data[i]-v)) > 1e-6 {
			t.Errorf("3x3 [%d]: %v, want %v", i, dst.Data[i], v)
		}
	}
}
