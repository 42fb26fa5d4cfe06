package lmp

import (
	"errors"
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
			lab[i] = DefaultIgnore
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
		SoftmaxCE(ce, pr, z, lab, tc.n, tc.c, tc.hw, DefaultIgnore)
		wce, wpr := softmaxCERef(z, lab, tc.n, tc.c, tc.hw, DefaultIgnore)
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
	SoftmaxCEGrad(d, z, lab, coef, n, c, hw, DefaultIgnore)
	f := func(z []float32) float64 {
		ce, _ := softmaxCERef(z, lab, n, c, hw, DefaultIgnore)
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

// lossFD checks that the coefficients of loss l give its gradient: for each logit, the
// central difference of the scalar loss equals c_i*(softmax - onehot).
func lossFD(t *testing.T, name string, l Loss, z []float32, lab []int32, n, c, hw int) {
	t.Helper()
	scalar := func(z []float32, dst []float32) float64 {
		ce := make([]float32, n*hw)
		pr := make([]float32, n*hw)
		SoftmaxCE(ce, pr, z, lab, n, c, hw, DefaultIgnore)
		if dst == nil {
			dst = make([]float32, n*hw)
		}
		L, err := l.Reduce(dst, Batch{N: n, HW: hw, CE: ce, Prob: pr, Labels: lab, Ignore: DefaultIgnore})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return L
	}
	coef := make([]float32, n*hw)
	scalar(z, coef)
	d := make([]float32, len(z))
	SoftmaxCEGrad(d, z, lab, coef, n, c, hw, DefaultIgnore)
	const h = 2e-3
	bad := 0
	for i := range z {
		zp := append([]float32(nil), z...)
		zp[i] += h
		zm := append([]float32(nil), z...)
		zm[i] -= h
		num := (scalar(zp, nil) - scalar(zm, nil)) / (float64(zp[i]) - float64(zm[i]))
		if math.Abs(num-float64(d[i])) > 2e-4+1e-2*math.Abs(num) {
			if bad++; bad < 5 {
				t.Errorf("%s: logit %d: gradient %v, finite difference %v", name, i, d[i], num)
			}
		}
	}
}

func TestLossGradients(t *testing.T) {
	n, c, hw := 2, 3, 40
	z, lab := randomProblem(4, n, c, hw, 2)
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"ce", Options{}},
		{"wce", Options{ClassWeights: []float32{0.5, 2, 1}}},
		{"ohem", Options{Thresh: 0.6, MinKept: 20}},
		{"ohem", Options{Thresh: 0.1, MinKept: 50}},
		{"topk", Options{TopK: 0.3}},
		{"focal", Options{Gamma: 2}},
		{"focal", Options{Gamma: 0.5}},
		{"lmp", Options{P: 1.7, Ratio: 0.25}},
		{"lmp", Options{P: 3, Ratio: 0.1, PerBatch: true}},
		{"lmp", Options{P: 1, Ratio: 0.33}},
		{"lmp", Options{P: math.Inf(1), Ratio: 0.5}},
	} {
		l, err := New(tc.name, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		lossFD(t, tc.name, l, z, lab, n, c, hw)
	}
}

func TestLossHand(t *testing.T) {
	// Two images of 3 pixels; pixel 4 ignored.
	ce := []float32{1, 2, 3, 4, 0, 0.5}
	pr := make([]float32, 6)
	for i, x := range ce {
		pr[i] = float32(math.Exp(-float64(x)))
	}
	lab := []int32{0, 1, 1, 2, 255, 0}
	b := Batch{N: 2, HW: 3, CE: ce, Prob: pr, Labels: lab, Ignore: 255}
	tests := []struct {
		name string
		o    Options
		want float64
		coef []float64
	}{
		{"ce", Options{}, 10.5 / 5, []float64{0.2, 0.2, 0.2, 0.2, 0, 0.2}},
		{"wce", Options{ClassWeights: []float32{1, 2, 0.5}},
			(1 + 4 + 6 + 2 + 0.5) / (1 + 2 + 2 + 0.5 + 1), []float64{1 / 6.5, 2 / 6.5, 2 / 6.5, 0.5 / 6.5, 0, 1 / 6.5}},
		// probs e^-CE: 0.37, 0.14, 0.05, 0.018, -, 0.61: below 0.2 are CE 2,3,4; min kept 4 adds CE 1.
		{"ohem", Options{Thresh: 0.2, MinKept: 2}, 3, []float64{0, 1. / 3, 1. / 3, 1. / 3, 0, 0}},
		{"ohem", Options{Thresh: 0.2, MinKept: 4}, 2.5, []float64{0.25, 0.25, 0.25, 0.25, 0, 0}},
		{"ohem", Options{Thresh: 0.7, MinKept: 1}, 10.5 / 5, []float64{0.2, 0.2, 0.2, 0.2, 0, 0.2}},
		// top 40% of 5 = 2 pixels: CE 4 and 3.
		{"topk", Options{TopK: 0.4}, 3.5, []float64{0, 0, 0.5, 0.5, 0, 0}},
		// top 30%: m = 1.5: (4 + 0.5*3)/1.5.
		{"topk", Options{TopK: 0.3}, 5.5 / 1.5, []float64{0, 0, 1 / 3., 2 / 3., 0, 0}},
		{"focal", Options{Gamma: 0}, 10.5 / 5, []float64{0.2, 0.2, 0.2, 0.2, 0, 0.2}},
		// per image p=Inf: mean of means (2 and 2.25).
		{"lmp", Options{P: math.Inf(1), Ratio: 0.5}, (2 + 2.25) / 2, []float64{1 / 6., 1 / 6., 1 / 6., 0.25, 0, 0.25}},
		// per image p=1, m=1: max of each image (3 and 4), averaged.
		{"lmp", Options{P: 1, Ratio: 0}, 3.5, []float64{0, 0, 0.5, 0.5, 0, 0}},
		{"lmp", Options{P: 1, Ratio: 0, PerBatch: true}, 4, []float64{0, 0, 0, 1, 0, 0}},
	}
	for _, tc := range tests {
		l, err := New(tc.name, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if l.Name() != tc.name {
			t.Errorf("Name() = %q, want %q", l.Name(), tc.name)
		}
		dst := make([]float32, 6)
		L, err := l.Reduce(dst, b)
		if err != nil {
			t.Fatalf("%s %+v: %v", tc.name, tc.o, err)
		}
		if math.Abs(L-tc.want) > 1e-6 {
			t.Errorf("%s %+v: loss %v, want %v", tc.name, tc.o, L, tc.want)
		}
		for i, c := range tc.coef {
			if math.Abs(float64(dst[i])-c) > 1e-6 {
				t.Errorf("%s %+v: coef %v, want %v", tc.name, tc.o, dst, tc.coef)
				break
			}
		}
	}
	// Focal with gamma 2 at p = 1/2: loss (1/2)^2 ln 2, coefficient 1/4 + 2*(1/2)*(1/2)*ln 2.
	l, _ := New("focal", Options{Gamma: 2})
	dst := make([]float32, 1)
	L, err := l.Reduce(dst, Batch{N: 1, HW: 1, CE: []float32{float32(math.Ln2)}, Prob: []float32{0.5}, Labels: []int32{0}, Ignore: 255})
	if err != nil || math.Abs(L-0.25*math.Ln2) > 1e-7 || math.Abs(float64(dst[0])-(0.25+0.5*math.Ln2)) > 1e-7 {
		t.Errorf("focal hand: %v %v %v", L, dst[0], err)
	}
}

func TestLossErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"nope", Options{}},
		{"wce", Options{}},
		{"wce", Options{ClassWeights: []float32{1, -1}}},
		{"ohem", Options{Thresh: 1.5}},
		{"ohem", Options{MinKept: -1}},
		{"topk", Options{TopK: 2}},
		{"focal", Options{Gamma: -1}},
		{"lmp", Options{P: 0.5, Ratio: 0.1}},
		{"lmp", Options{P: 2, Ratio: 1.1}},
		{"lmp", Options{P: math.NaN(), Ratio: 0.1}},
	} {
		if _, err := New(tc.name, tc.o); !errors.Is(err, ErrInput) {
			t.Errorf("New(%q, %+v): error %v, want ErrInput", tc.name, tc.o, err)
		}
	}
	l, _ := New("ce", Options{})
	if _, err := l.Reduce(make([]float32, 3), Batch{N: 1, HW: 2, CE: make([]float32, 2), Labels: make([]int32, 2)}); !errors.Is(err, ErrInput) {
		t.Errorf("length mismatch: %v", err)
	}
	w, _ := New("wce", Options{ClassWeights: []float32{1}})
	if _, err := w.Reduce(make([]float32, 1), Batch{N: 1, HW: 1, CE: []float32{1}, Labels: []int32{3}, Ignore: 255}); !errors.Is(err, ErrInput) {
		t.Errorf("label beyond class weights: %v", err)
	}
	lm, _ := New("lmp", Options{P: 2, Ratio: 0.5})
	if _, err := lm.Reduce(make([]float32, 2), Batch{N: 1, HW: 2, CE: []float32{1, float32(math.NaN())}, Labels: []int32{0, 0}, Ignore: 255}); !errors.Is(err, ErrInput) {
		t.Errorf("NaN loss: %v", err)
	}
	// All ignored: zero loss and coefficients, no error.
	for _, name := range []string{"ce", "ohem", "topk", "focal", "lmp"} {
		l, err := New(name, Options{P: 2, Ratio: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		dst := []float32{7, 7}
		L, err := l.Reduce(dst, Batch{N: 1, HW: 2, CE: []float32{1, 2}, Prob: []float32{0.3, 0.1}, Labels: []int32{255, 255}, Ignore: 255})
		if err != nil || L != 0 || dst[0] != 0 || dst[1] != 0 {
			t.Errorf("%s all ignored: %v %v %v", name, L, dst, err)
		}
	}
}

func TestClassWeights(t *testing.T) {
	hist := []int64{10, 0, 30, 60}
	for _, tc := range []struct {
		method string
		want   []float64
	}{
		{"inverse", []float64{100.0 / 30, 0, 100.0 / 90, 100.0 / 180}},
		{"median", []float64{3, 0, 1, 0.5}},
	} {
		w, err := ClassWeights(hist, tc.method)
		if err != nil {
			t.Fatal(err)
		}
		for c := range w {
			if math.Abs(float64(w[c])-tc.want[c]) > 1e-6 {
				t.Errorf("%s: %v, want %v", tc.method, w, tc.want)
				break
			}
		}
	}
	// Even number of present classes: median of the two middle counts.
	w, err := ClassWeights([]int64{10, 20, 40, 80}, "median")
	if err != nil || math.Abs(float64(w[0])-3) > 1e-6 || math.Abs(float64(w[3])-30.0/80) > 1e-6 {
		t.Errorf("median even: %v %v", w, err)
	}
	for _, tc := range []struct {
		hist   []int64
		method string
	}{
		{nil, "median"}, {[]int64{0, 0}, "inverse"}, {[]int64{1, -1}, "median"}, {[]int64{1}, "log"},
	} {
		if _, err := ClassWeights(tc.hist, tc.method); !errors.Is(err, ErrInput) {
			t.Errorf("ClassWeights(%v, %q): %v", tc.hist, tc.method, err)
		}
	}
}
