package graph

import (
	"math"
	"math/rand/v2"
	"testing"
)

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
			rng := rand.New(rand.NewPCG(uint64(k), 3))
			c := randomConv2d(rng, tc.in, tc.out, tc.k, tc.pad, tc.dil, threads)
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
