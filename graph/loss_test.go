package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refPixelCE materialises the upsampled logits and computes CE and
// probabilities in float64: the plain path the fused kernel must match.
func refPixelCE(logits *Tensor, labels []int32, H, W int, ignore int32) (ce, prob []float32) {
	up := NewTensor(logits.N, logits.C, H, W)
	ResizeBilinear(up, logits)
	hw := H * W
	ce = make([]float32, logits.N*hw)
	prob = make([]float32, logits.N*hw)
	for n := 0; n < logits.N; n++ {
		for p := 0; p < hw; p++ {
			i := n*hw + p
			if labels[i] == ignore {
				prob[i] = 1
				continue
			}
			m, s := refSoftmaxSum(up, n, p)
			zl := float64(up.Data[(n*logits.C+int(labels[i]))*hw+p]) - m
			ce[i] = float32(math.Log(s) - zl)
			prob[i] = float32(math.Exp(zl) / s)
		}
	}
	return ce, prob
}

// refPixelCEBackward materialises the full-resolution gradient and pulls it
// back through ResizeBilinearBackward.
func refPixelCEBackward(logits *Tensor, labels []int32, coef []float32, H, W int, ignore int32) *Tensor {
	up := NewTensor(logits.N, logits.C, H, W)
	ResizeBilinear(up, logits)
	hw := H * W
	g := NewTensor(logits.N, logits.C, H, W)
	for n := 0; n < logits.N; n++ {
		for p := 0; p < hw; p++ {
			i := n*hw + p
			if labels[i] == ignore {
				continue
			}
			m, s := refSoftmaxSum(up, n, p)
			for c := 0; c < logits.C; c++ {
				v := math.Exp(float64(up.Data[(n*logits.C+c)*hw+p])-m) / s
				if c == int(labels[i]) {
					v--
				}
				g.Data[(n*logits.C+c)*hw+p] = float32(float64(coef[i]) * v)
			}
		}
	}
	d := NewTensor(logits.N, logits.C, logits.H, logits.W)
	ResizeBilinearBackward(d, g)
	return d
}

// refSoftmaxSum returns the largest logit m of pixel p of image n of up and
// the sum over classes of exp(logit - m), in float64.
func refSoftmaxSum(up *Tensor, n, p int) (m, s float64) {
	hw := up.H * up.W
	m = math.Inf(-1)
	for c := 0; c < up.C; c++ {
		m = math.Max(m, float64(up.Data[(n*up.C+c)*hw+p]))
	}
	for c := 0; c < up.C; c++ {
		s += math.Exp(float64(up.Data[(n*up.C+c)*hw+p]) - m)
	}
	return m, s
}

var lossCases = []struct {
	n, c, h, w, H, W int
	scale            float64
	ignoreFrac       float64
}{
	{1, 1, 1, 1, 1, 1, 1, 0},
	{1, 3, 1, 1, 5, 7, 1, 0.2},
	{2, 4, 3, 5, 24, 40, 2, 0.1},
	{1, 19, 4, 6, 32, 48, 3, 0.2},
	{2, 5, 8, 8, 8, 8, 1, 0},   // same size
	{1, 5, 9, 7, 4, 3, 2, 0},   // downsampling
	{1, 6, 5, 6, 17, 23, 5, 0}, // non-integer factor, large logits
	{3, 2, 2, 3, 16, 24, 10, 0.5},
	{1, 7, 3, 3, 20, 20, 40, 0},      // very large logit differences
	{1, 19, 4, 4, 64, 64, 3, 0.1},    // factor 16: long recurrences
	{1, 19, 8, 16, 64, 128, 6, 0.05}, // factor 8, cells near the range limit
}

func TestPixelCE(t *testing.T) {
	const ignore = 255
	for k, tc := range lossCases {
		for _, threads := range []int{1, 3} {
			ex := Exec{Threads: threads}
			name := fmt.Sprintf("case %d %+v threads %d", k, tc, threads)
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			logits := randTensor(rng, tc.n, tc.c, tc.h, tc.w, tc.scale)
			labels := randLabels(rng, tc.n*tc.H*tc.W, tc.c, tc.ignoreFrac, ignore)
			ce := make([]float32, len(labels))
			prob := make([]float32, len(labels))
			ex.PixelCE(ce, prob, logits, labels, tc.H, tc.W, ignore)
			wce, wprob := refPixelCE(logits, labels, tc.H, tc.W, ignore)
			var worstCE, worstP float64
			for i := range ce {
				worstCE = math.Max(worstCE, math.Abs(float64(ce[i]-wce[i]))/math.Max(1, float64(wce[i])))
				worstP = math.Max(worstP, math.Abs(float64(prob[i]-wprob[i])))
				if d := math.Abs(float64(ce[i] - wce[i])); d > 2e-5*math.Max(1, float64(wce[i])) {
					t.Fatalf("%s: CE[%d] = %v, want %v", name, i, ce[i], wce[i])
				}
				if d := math.Abs(float64(prob[i] - wprob[i])); d > 2e-6+2e-5*float64(wprob[i]) {
					t.Fatalf("%s: Prob[%d] = %v, want %v", name, i, prob[i], wprob[i])
				}
			}
			t.Logf("%s: max CE rel err %.3g, max prob abs err %.3g", name, worstCE, worstP)
			// nil dstProb gives the same CE.
			ce2 := make([]float32, len(labels))
			ex.PixelCE(ce2, nil, logits, labels, tc.H, tc.W, ignore)
			if d := maxAbsDiff(ce, ce2); d != 0 {
				t.Fatalf("%s: CE differs without dstProb by %g", name, d)
			}

			coef := make([]float32, len(labels))
			for i := range coef {
				coef[i] = float32(rng.Float64())
			}
			got := NewTensor(tc.n, tc.c, tc.h, tc.w)
			for i := range got.Data {
				got.Data[i] = 0.5 // accumulates
			}
			ex.PixelCEBackward(got, logits, labels, coef, tc.H, tc.W, ignore)
			want := refPixelCEBackward(logits, labels, coef, tc.H, tc.W, ignore)
			for i := range want.Data {
				want.Data[i] += 0.5
			}
			var scale float64
			for _, v := range want.Data {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			if d := maxAbsDiff(got.Data, want.Data); d > 1e-5*math.Max(1, scale) {
				t.Fatalf("%s: backward differs by %g (scale %g)", name, d, scale)
			}
		}
	}
}

// TestPixelCEGradient checks PixelCEBackward against finite differences of
// sum coef*CE computed by PixelCE.
func TestPixelCEGradient(t *testing.T) {
	const ignore = -1
	rng := rand.New(rand.NewPCG(3, 4))
	for k, tc := range lossCases[:8] {
		logits := randTensor(rng, tc.n, tc.c, tc.h, tc.w, math.Min(tc.scale, 3))
		labels := randLabels(rng, tc.n*tc.H*tc.W, tc.c, tc.ignoreFrac, ignore)
		coef := make([]float32, len(labels))
		for i := range coef {
			coef[i] = float32(rng.Float64())
		}
		ce := make([]float32, len(labels))
		f := func() float64 {
			PixelCE(ce, nil, logits, labels, tc.H, tc.W, ignore)
			return dot64(ce, coef)
		}
		g := NewTensor(tc.n, tc.c, tc.h, tc.w)
		PixelCEBackward(g, logits, labels, coef, tc.H, tc.W, ignore)
		checkGrad(t, fmt.Sprintf("case %d dlogits", k), rng, f, logits.Data, g.Data, 1e-2, 2e-2)
	}
}

func TestPixelCEDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	logits := randTensor(rng, 2, 19, 16, 32, 2)
	labels := randLabels(rng, 2*128*256, 19, 0.1, 255)
	coef := make([]float32, len(labels))
	for i := range coef {
		coef[i] = float32(rng.Float64())
	}
	for _, threads := range []int{1, 2, 5} {
		ex := Exec{Threads: threads}
		var first []float32
		for run := 0; run < 3; run++ {
			g := NewTensor(2, 19, 16, 32)
			ex.PixelCEBackward(g, logits, labels, coef, 128, 256, 255)
			if first == nil {
				first = g.Data
			} else if d := maxAbsDiff(first, g.Data); d != 0 {
				t.Fatalf("threads %d run %d: differs by %g", threads, run, d)
			}
		}
	}
}

func TestPixelCEPanics(t *testing.T) {
	// Panics inside worker goroutines cannot be recovered; use one thread.
	one := Exec{Threads: 1}
	logits := NewTensor(1, 3, 2, 2)
	cases := []struct {
		name string
		f    func()
	}{
		{"short labels", func() { one.PixelCE(make([]float32, 4), nil, logits, make([]int32, 3), 2, 2, 255) }},
		{"short dst", func() { one.PixelCE(make([]float32, 3), nil, logits, make([]int32, 4), 2, 2, 255) }},
		{"bad label", func() { one.PixelCE(make([]float32, 4), nil, logits, []int32{0, 1, 3, 2}, 2, 2, 255) }},
		{"bad dst shape", func() {
			one.PixelCEBackward(NewTensor(1, 3, 2, 3), logits, make([]int32, 4), make([]float32, 4), 2, 2, 255)
		}},
	}
	for _, tc := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}
