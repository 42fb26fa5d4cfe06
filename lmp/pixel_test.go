package lmp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// softmaxCERef is the plain per-pixel reference of SoftmaxCE in float64.
func softmaxCERef(logits []float32, labels []int32, n, c, hw int, ignore int32) (ce, prob []float64) {
	ce = make([]float64, n*hw)
	prob = make([]float64, n*hw)
	for k := 0; k < n; k++ {
		for j := 0; j < hw; j++ {
			i := k*hw + j
			y := labels[i]
			if y == ignore || y < 0 || int(y) >= c {
				prob[i] = 1
				continue
			}
			mx := math.Inf(-1)
			for ch := 0; ch < c; ch++ {
				mx = max(mx, float64(logits[(k*c+ch)*hw+j]))
			}
			var s float64
			for ch := 0; ch < c; ch++ {
				s += math.Exp(float64(logits[(k*c+ch)*hw+j]) - mx)
			}
			ce[i] = math.Log(s) - (float64(logits[(k*c+int(y))*hw+j]) - mx)
			prob[i] = math.Exp(-ce[i])
		}
	}
	return ce, prob
}

// randomProblem returns normal logits of the given scale and uniform labels, about one in
// seven of them testIgnore.
func randomProblem(seed uint64, n, c, hw int, scale float64) ([]float32, []int32) {
	g := rand.New(rand.NewPCG(seed, 99))
	z := make([]float32, n*c*hw)
	for i := range z {
		z[i] = float32(scale * g.NormFloat64())
	}
	lab := make([]int32, n*hw)
	for i := range lab {
		lab[i] = int32(g.IntN(c))
		if g.IntN(7) == 0 {
			lab[i] = testIgnore
		}
	}
	return z, lab
}

func TestSoftmaxCE(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n, c, hw int
		scale    float64
	}{
		{"small", 1, 3, 5, 1},
		{"batch", 3, 7, 11, 2},
		{"large", 2, 5, 9, 200}, // naive exp overflows float32
	} {
		z, lab := randomProblem(1, tc.n, tc.c, tc.hw, tc.scale)
		ce := make([]float32, tc.n*tc.hw)
		pr := make([]float32, tc.n*tc.hw)
		SoftmaxCE(ce, pr, z, lab, tc.n, tc.c, tc.hw, testIgnore)
		wce, wpr := softmaxCERef(z, lab, tc.n, tc.c, tc.hw, testIgnore)
		for i := range ce {
			if math.Abs(float64(ce[i])-wce[i]) > 1e-6*(1+wce[i]) || math.Abs(float64(pr[i])-wpr[i]) > 1e-6 {
				t.Errorf("%s: pixel %d: CE %v prob %v, want %v %v", tc.name, i, ce[i], pr[i], wce[i], wpr[i])
			}
		}
	}
	// Hand case: logits (0, ln 3) give p = 3/4 for class 1; (1000, 0) give CE 1000 for class 1.
	z := []float32{0, 1000, float32(math.Log(3)), 0}
	lab := []int32{1, 1}
	ce := make([]float32, 2)
	pr := make([]float32, 2)
	SoftmaxCE(ce, pr, z, lab, 1, 2, 2, 255)
	if math.Abs(float64(ce[0])-math.Log(4.0/3)) > 1e-7 || math.Abs(float64(pr[0])-0.75) > 1e-7 {
		t.Errorf("hand: CE %v prob %v, want %v 0.75", ce[0], pr[0], math.Log(4.0/3))
	}
	if ce[1] != 1000 || pr[1] != 0 {
		t.Errorf("large logits: CE %v prob %v, want 1000 and 0", ce[1], pr[1])
	}
}

// TestSoftmaxCEGrad checks the gradient of sum_i coef_i*CE_i against central differences
// of the float64 reference.
func TestSoftmaxCEGrad(t *testing.T) {
	n, c, hw := 2, 4, 5
	z, lab := randomProblem(2, n, c, hw, 1.5)
	g := rand.New(rand.NewPCG(3, 3))
	coef := make([]float32, n*hw)
	for i := range coef {
		coef[i] = float32(g.Float64())
	}
	d := make([]float32, len(z))
	SoftmaxCEGrad(d, z, lab, coef, n, c, hw, testIgnore)
	f := func(z []float32) float64 {
		ce, _ := softmaxCERef(z, lab, n, c, hw, testIgnore)
		var s float64
		for i, x := range ce {
			s += float64(coef[i]) * x
		}
		return s
	}
	const h = 1e-2
	for i := range z {
		zp := append([]float32(nil), z...)
		zp[i] += h
		zm := append([]float32(nil), z...)
		zm[i] -= h
		num := (f(zp) - f(zm)) / (float64(zp[i]) - float64(zm[i]))
		if math.Abs(num-float64(d[i])) > 1e-4 {
			t.Errorf("logit %d: gradient %v, finite difference %v", i, d[i], num)
		}
	}
}

// testIgnore is the ignore label of the tests (the datasets' default, data.DefaultIgnore).
const testIgnore int32 = 255
