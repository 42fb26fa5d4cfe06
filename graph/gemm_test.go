package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// randMat returns a rows x cols view (transposed storage when t) with
// row stride pad values wider than needed, filled with normal values.
func randMat(rng *rand.Rand, rows, cols, pad int, t bool) mat {
	if t {
		rows, cols = cols, rows
	}
	m := mat{Data: make([]float32, rows*(cols+pad)), Stride: cols + pad, T: t}
	for i := range m.Data {
		m.Data[i] = float32(rng.NormFloat64())
	}
	return m
}

// TestGemm compares gemm with gemmRef over shapes that leave partial
// panels and blocks on every axis, both transpositions of each operand,
// strided rows and both accumulation modes, with each kernel the
// processor can run (AVX-512, AVX2 with FMA, plain Go).
func TestGemm(t *testing.T) {
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {6, 16, 1}, {5, 15, 3}, {7, 17, 9}, {13, 40, 257}, {gemmMC + 7, 33, 20},
		{21, gemmNC + 19, 5}, {64, 100, 2*gemmKC + 3},
	}
	fma, avx512 := useFMA, useAVX512
	defer func() { useFMA, useAVX512 = fma, avx512 }()
	for _, kern := range []struct {
		name        string
		fma, avx512 bool
	}{{"avx512", true, true}, {"fma", true, false}, {"go", false, false}} {
		if kern.fma && !fma || kern.avx512 && !avx512 {
			continue
		}
		useFMA, useAVX512 = kern.fma, kern.avx512
		for _, s := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, acc := range []bool{false, true} {
						name := fmt.Sprintf("kernel %s %dx%dx%d ta=%v tb=%v acc=%v", kern.name, s.m, s.n, s.k, ta, tb, acc)
						rng := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n*s.k)))
						a := randMat(rng, s.m, s.k, 3, ta)
						b := randMat(rng, s.k, s.n, 2, tb)
						ldc := s.n + 5
						c := make([]float32, s.m*ldc)
						for i := range c {
							c[i] = float32(rng.NormFloat64())
						}
						want := append([]float32(nil), c...)
						gemm(s.m, s.n, s.k, a, b, c, ldc, acc)
						gemmRef(s.m, s.n, s.k, a, b, want, ldc, acc)
						for i := range c {
							col := i % ldc
							if col >= s.n {
								if c[i] != want[i] {
									t.Fatalf("%s: value %d beyond the columns changed", name, i)
								}
								continue
							}
							if d := math.Abs(float64(c[i] - want[i])); d > 1e-4*math.Sqrt(float64(s.k))+1e-5 || d != d {
								t.Fatalf("%s: c[%d,%d] = %g, want %g", name, i/ldc, col, c[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkGemm compares gemm with gonum's blas32.Gemm on the products of
// a 3x3 convolution 256->256 over a band of 1792 pixels (Large) and of a
// 1x1 convolution 64->21 over 4096 pixels (Small), in the three forms the
// convolutions use: forward (NN), weight gradient (NT) and input
// gradient (TN).
func BenchmarkGemm(b *testing.B) {
	for _, sz := range []struct {
		name    string
		m, k, p int
	}{{"Small", 21, 64, 4096}, {"Large", 256, 2304, 1792}} {
		rng := rand.New(rand.NewPCG(1, 2))
		w := randMat(rng, sz.m, sz.k, 0, false)
		x := randMat(rng, sz.k, sz.p, 0, false)
		dy := randMat(rng, sz.m, sz.p, 0, false)
		y := make([]float32, sz.m*sz.p)
		g := make([]float32, sz.m*sz.k)
		dx := make([]float32, sz.k*sz.p)
		flop := 2 * float64(sz.m*sz.k*sz.p)
		g32 := func(d []float32, r, c int) blas32.General {
			return blas32.General{Rows: r, Cols: c, Stride: c, Data: d}
		}
		for _, f := range []struct {
			name string
			fn   func()
		}{
			{"NN/gemm", func() { gemm(sz.m, sz.p, sz.k, w, x, y, sz.p, false) }},
			{"NN/blas32", func() {
				blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, g32(w.Data, sz.m, sz.k), g32(x.Data, sz.k, sz.p), 0, g32(y, sz.m, sz.p))
			}},
			{"NT/gemm", func() { gemm(sz.m, sz.k, sz.p, dy, mat{Data: x.Data, Stride: sz.p, T: true}, g, sz.k, true) }},
			{"NT/blas32", func() {
				blas32.Gemm(blas.NoTrans, blas.Trans, 1, g32(dy.Data, sz.m, sz.p), g32(x.Data, sz.k, sz.p), 1, g32(g, sz.m, sz.k))
			}},
			{"TN/gemm", func() { gemm(sz.k, sz.p, sz.m, mat{Data: w.Data, Stride: sz.k, T: true}, dy, dx, sz.p, false) }},
			{"TN/blas32", func() {
				blas32.Gemm(blas.Trans, blas.NoTrans, 1, g32(w.Data, sz.m, sz.k), g32(dy.Data, sz.m, sz.p), 0, g32(dx, sz.k, sz.p))
			}},
		} {
			b.Run(sz.name+"/"+f.name, func(b *testing.B) {
				c0 := processCPU()
				for b.Loop() {
					f.fn()
				}
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
				if cpu := processCPU() - c0; cpu > 0 {
					b.ReportMetric(flop*float64(b.N)/cpu.Seconds()/1e9, "cpu-GFLOPS")
				}
			})
		}
	}
}

// TestConvGemmMatchesBlas32 runs forward and backward of convolutions
// whose products go through gemm (more than smallOut outputs) and
// compares output, weight, bias and input gradients with the blas32
// baseline (convBlas32), at 1 and 2 threads.
func TestConvGemmMatchesBlas32(t *testing.T) {
	specs := []ConvSpec{
		{InC: 9, OutC: 70, Groups: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 2, DilW: 2, Bias: true},
		{InC: 20, OutC: 67, Groups: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1},
		{InC: 8, OutC: 130, Groups: 2, KH: 2, KW: 3, StrideH: 2, StrideW: 1, PadT: 0, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Bias: true},
	}
	defer func() { convBlas32 = false }()
	for k, s := range specs {
		for _, threads := range []int{1, 2} {
			type result struct{ y, dx, dw, db []float32 }
			run := func(blas bool) result {
				convBlas32 = blas
				rng := rand.New(rand.NewPCG(uint64(k), 9))
				c := randGConv(rng, s)
				c.Threads = threads
				x := randTensor(rng, 2, s.InC, 11, 13, 1)
				y := c.Forward(x, true)
				dy := randTensor(rng, y.N, y.C, y.H, y.W, 1)
				dx := c.Backward(dy)
				r := result{y: y.Data, dx: dx.Data, dw: c.Weight.Grad}
				if c.Bias != nil {
					r.db = c.Bias.Grad
				}
				return r
			}
			want, got := run(true), run(false)
			for _, f := range []struct {
				name      string
				got, want []float32
			}{{"output", got.y, want.y}, {"input gradient", got.dx, want.dx}, {"weight gradient", got.dw, want.dw}, {"bias gradient", got.db, want.db}} {
				if len(f.got) != len(f.want) {
					t.Fatalf("spec %d threads %d: %s has %d values, want %d", k, threads, f.name, len(f.got), len(f.want))
				}
				for i := range f.got {
					if d := math.Abs(float64(f.got[i] - f.want[i])); d > 1e-3*(1+math.Abs(float64(f.want[i]))) || d != d {
						t.Fatalf("spec %d threads %d: %s[%d] = %g, blas32 %g", k, threads, f.name, i, f.got[i], f.want[i])
					}
				}
			}
		}
	}
}

// refConvGrads returns the weight, bias and input gradients of Conv2d c
// at input x for output gradient dy, by direct sums in float64.
func refConvGrads(c *Conv2d, x, dy *Tensor) (dw, db, dx []float64) {
	k := c.K
	dw, db, dx = make([]float64, len(c.Weight.Data)), make([]float64, c.OutC), make([]float64, len(x.Data))
	for n := 0; n < x.N; n++ {
		for o := 0; o < c.OutC; o++ {
			for oy := 0; oy < dy.H; oy++ {
				for ox := 0; ox < dy.W; ox++ {
					g := float64(dy.Data[((n*c.OutC+o)*dy.H+oy)*dy.W+ox])
					db[o] += g
					for ci := 0; ci < c.InC; ci++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy-c.Pad+ky*c.Dil, ox-c.Pad+kx*c.Dil
								if iy < 0 || iy >= x.H || ix < 0 || ix >= x.W {
									continue
								}
								wi, xi := ((o*c.InC+ci)*k+ky)*k+kx, ((n*c.InC+ci)*x.H+iy)*x.W+ix
								dw[wi] += g * float64(x.Data[xi])
								dx[xi] += g * float64(c.Weight.Data[wi])
							}
						}
					}
				}
			}
		}
	}
	return dw, db, dx
}

// TestConvSkippedRows checks convolutions whose dilation or padding is
// large enough that bands of output rows leave kernel rows out (some
// bands all of them): forward against refGConv and the gradients against
// direct sums, through gemm and through the small-output kernels, at 1
// and 3 threads.
func TestConvSkippedRows(t *testing.T) {
	cases := []struct{ in, out, k, pad, dil, h, w int }{
		{3, 70, 3, 5, 5, 4, 9},    // only the middle kernel row reads the input
		{4, 66, 3, 6, 4, 7, 5},    // top and bottom rows of the kernel drop in turn
		{2, 65, 1, 2, 1, 3, 4},    // the first and last two output rows read padding only
		{5, 8, 3, 12, 12, 20, 30}, // small-output kernels
	}
	for k, tc := range cases {
		for _, threads := range []int{1, 3} {
			name := fmt.Sprintf("case %d threads %d", k, threads)
			rng := rand.New(rand.NewPCG(uint64(k), 11))
			c := randomConv2d(rng, tc.in, tc.out, tc.k, tc.pad, tc.dil, threads)
			list := c.bandList(threads, 2, tc.h, tc.h+2*tc.pad-tc.dil*(tc.k-1), tc.w+2*tc.pad-tc.dil*(tc.k-1))
			partial := false
			for _, bd := range list {
				partial = partial || bd.ky1-bd.ky0 < tc.k
			}
			if !partial {
				t.Fatalf("%s: no band leaves kernel rows out: %v", name, list)
			}
			g := NewGConv2d("ref", ConvSpec{InC: tc.in, OutC: tc.out, Groups: 1, KH: tc.k, KW: tc.k, StrideH: 1, StrideW: 1,
				PadT: tc.pad, PadL: tc.pad, PadB: tc.pad, PadR: tc.pad, DilH: tc.dil, DilW: tc.dil, Bias: true})
			copy(g.Weight.Data, c.Weight.Data)
			copy(g.Bias.Data, c.Bias.Data)
			x := randTensor(rng, 2, tc.in, tc.h, tc.w, 1)
			want := refGConv(g, x)
			y := c.Forward(x, true)
			dy := randTensor(rng, y.N, y.C, y.H, y.W, 1)
			dx := c.Backward(dy)
			wdw, wdb, wdx := refConvGrads(c, x, dy)
			for _, f := range []struct {
				what string
				got  []float32
				want []float64
			}{{"output", y.Data, f64(want.Data)}, {"weight gradient", c.Weight.Grad, wdw}, {"bias gradient", c.Bias.Grad, wdb}, {"input gradient", dx.Data, wdx}} {
				for i, v := range f.got {
					if d := math.Abs(float64(v) - f.want[i]); d > 1e-3*(1+math.Abs(f.want[i])) || d != d {
						t.Fatalf("%s: %s[%d] = %g, want %g", name, f.what, i, v, f.want[i])
					}
				}
			}
		}
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// BenchmarkConvBaseline measures forward and backward of two dilated 3x3
// convolutions at one thread (GOMAXPROCS 1, since gonum's Gemm starts its
// own goroutines): Small, 960->256 channels with dilation 36 on 64x128
// (the widest ASPP rate of DeepLabV3 at 1/16 of 1024x2048, input
// gradient not needed), and Large, 256->256 with dilation 12 on 128x256
// (with the input gradient). blas32 is the implementation before gemm
// (gonum's Gemm on every kernel row), allrows gemm on every kernel row,
// gemm the current one, which leaves out kernel rows that read padding
// only.
func BenchmarkConvBaseline(b *testing.B) {
	for _, sz := range []struct {
		name               string
		in, out, dil, h, w int
		skip               bool
	}{{"Small", 960, 256, 36, 64, 128, true}, {"Large", 256, 256, 12, 128, 256, false}} {
		rng := rand.New(rand.NewPCG(3, 3))
		c := NewConv2d("c", sz.in, sz.out, 3, sz.dil, sz.dil, true)
		for i := range c.Weight.Data {
			c.Weight.Data[i] = float32(rng.NormFloat64() * 0.03)
		}
		c.SkipInputGrad = sz.skip
		c.Threads = 1
		x := randTensor(rng, 1, sz.in, sz.h, sz.w, 1)
		dy := randTensor(rng, 1, sz.out, sz.h, sz.w, 1)
		for _, v := range []struct {
			name          string
			blas, allRows bool
		}{{"blas32", true, true}, {"allrows", false, true}, {"gemm", false, false}} {
			b.Run(sz.name+"/"+v.name, func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				convBlas32, convAllRows = v.blas, v.allRows
				defer func() { convBlas32, convAllRows = false, false }()
				c0 := processCPU()
				for b.Loop() {
					c.Forward(x, true)
					c.Backward(dy)
				}
				if cpu := processCPU() - c0; cpu > 0 {
					b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
				}
			})
		}
	}
}
