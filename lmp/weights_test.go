package lmp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// oracle solves the LMP problem independently of Weights: for p = 1 by a full sort, for
// 1 < p < Inf by bisection on ln(alpha) of g(alpha) = sum_i min(1, (l_i/alpha)^q) = m, in the
// log domain. It returns the pooled loss and alpha (0 when the threshold is not needed).
func oracle(losses []float32, p, ratio float64) (L, alpha float64) {
	n := len(losses)
	m := min(max(ratio*float64(n), 1), float64(n))
	if m == float64(n) || math.IsInf(p, 1) {
		var s float64
		for _, x := range losses {
			s += float64(x)
		}
		return s / float64(n), 0
	}
	a := make([]float64, n)
	for i, x := range losses {
		a[i] = float64(x)
	}
	slices.Sort(a)
	slices.Reverse(a)
	if p == 1 {
		var s float64
		left := m
		for _, x := range a {
			take := min(1, left)
			s += take * x
			left -= take
			if left <= 0 {
				break
			}
		}
		return s / m, 0
	}
	gamma := math.Pow(float64(n), 1/p-1)
	tau := gamma * math.Pow(m, -1/p)
	r := 1 / (p - 1)
	q := 1 + r
	k := 0
	for _, x := range a {
		if x > 0 {
			k++
		}
	}
	if float64(k) <= m {
		var s float64
		for _, x := range a {
			s += x
		}
		return tau * s, 0
	}
	ln := make([]float64, k)
	for i, x := range a[:k] {
		ln[i] = math.Log(x)
	}
	g := func(lnA float64) float64 {
		var s float64
		for _, x := range ln {
			s += math.Exp(min(0, q*(x-lnA)))
		}
		return s
	}
	lo := math.Log(a[k-1]) - 1
	hi := math.Log(a[0]) + math.Log(float64(k)/m)/q + 1
	for it := 0; it < 200; it++ {
		mid := 0.5 * (lo + hi)
		if mid == lo || mid == hi {
			break
		}
		if g(mid) >= m {
			lo = mid
		} else {
			hi = mid
		}
	}
	lnA := 0.5 * (lo + hi)
	var s float64
	for _, x := range a[:k] {
		s += x * math.Exp(min(0, r*(math.Log(x)-lnA)))
	}
	return tau * s, math.Exp(lnA)
}

// dual evaluates the dual bound tau*sum(l-alpha)_+ + gamma*(sum min(l,alpha)^q)^(1/q) >= L.
func dual(losses []float32, p, ratio, alpha float64) float64 {
	n := len(losses)
	m := min(max(ratio*float64(n), 1), float64(n))
	gamma := math.Pow(float64(n), 1/p-1)
	tau := gamma * math.Pow(m, -1/p)
	q := p / (p - 1)
	if p == 1 {
		var s float64
		for _, x := range losses {
			s += max(0, float64(x)-alpha)
		}
		return tau*s + alpha
	}
	// (sum min(l,alpha)^q)^(1/q) = alpha*exp(lse/q), lse = log sum exp(q*log(min(l,alpha)/alpha)).
	var s, top float64
	top = math.Inf(-1)
	for _, x := range losses {
		l := float64(x)
		s += max(0, l-alpha)
		top = max(top, q*math.Log(min(l, alpha)/alpha))
	}
	var u float64
	for _, x := range losses {
		u += math.Exp(q*math.Log(min(float64(x), alpha)/alpha) - top)
	}
	return tau*s + gamma*alpha*math.Exp((top+math.Log(u))/q)
}

// feasible reports whether w satisfies the constraints up to float32 rounding.
func feasible(w []float32, p, ratio float64) error {
	n := len(w)
	m := min(max(ratio*float64(n), 1), float64(n))
	gamma := math.Pow(float64(n), 1/p-1)
	tau := gamma * math.Pow(m, -1/p)
	if math.IsInf(p, 1) || m == float64(n) {
		tau = 1 / float64(n)
	}
	tol := 3e-7
	for i, x := range w {
		if !(x >= 0) || float64(x) > tau*(1+tol) {
			return fmt.Errorf("w[%d] = %v outside [0, tau = %v]", i, x, tau)
		}
	}
	if math.IsInf(p, 1) {
		return nil
	}
	// sum (w/tau)^p <= gamma^p/tau^p = m.
	var s float64
	for _, x := range w {
		s += math.Pow(float64(x)/tau, p)
	}
	if lim := m * (1 + 3e-7*p + 1e-12); s > lim {
		return fmt.Errorf("sum (w/tau)^p = %v > m = %v", s, m)
	}
	return nil
}

type lmpCase struct {
	name   string
	losses []float32
	p, r   float64
}

func expLosses(n int, seed uint64) []float32 {
	g := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(g.ExpFloat64())
	}
	return x
}

func cases() []lmpCase {
	var cs []lmpCase
	ps := []float64{1, 1.001, 1.01, 1.3, 1.7, 2, 3, 4, 50, math.Inf(1)}
	rs := []float64{0, 0.01, 0.1, 0.25, 0.5, 0.999, 1}
	add := func(name string, l []float32) {
		for _, p := range ps {
			for _, r := range rs {
				cs = append(cs, lmpCase{fmt.Sprintf("%s/p=%v/r=%v", name, p, r), l, p, r})
			}
		}
	}
	add("n1", []float32{2.5})
	add("n1zero", []float32{0})
	add("n2", []float32{1, 3})
	add("allzero", make([]float32, 10))
	add("ties", []float32{2, 2, 2, 2, 2, 2, 2})
	add("tiesmix", []float32{1, 3, 3, 3, 0, 0, 1, 3, 2, 2})
	add("onepos", append(make([]float32, 99), 4))
	add("fewpos", append(make([]float32, 95), 1, 2, 3, 4, 5))
	add("outlier", append(expLosses(200, 1), 1e30))
	add("outliers", append(expLosses(200, 2), 1e30, 3e38, 1e-30))
	add("tiny", []float32{1e-30, 2e-30, 3e-30, 1e-30, 5e-31, 0, 7e-30})
	add("range", []float32{1e-30, 1e-20, 1e-10, 1, 1e10, 1e20, 1e30, 0})
	add("subnormal", []float32{1e-40, 3e-45, 2e-39, 1e-38, 0})
	add("negzero", []float32{float32(math.Copysign(0, -1)), 1, 2})
	add("exp50", expLosses(50, 3))
	add("exp1000", expLosses(1000, 4))
	narrow := expLosses(3000, 5)
	for i := range narrow {
		narrow[i] = 1 + narrow[i]*1e-3
	}
	add("narrow", narrow)
	return cs
}

// checkCase runs weights with tuning tu on c and compares with the oracle, the dual and the
// constraints.
func checkCase(t *testing.T, c lmpCase, tu tuning) {
	t.Helper()
	w := make([]float32, len(c.losses))
	L, err := weights(w, c.losses, c.p, c.r, tu)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	want, alpha := oracle(c.losses, c.p, c.r)
	tol := 1e-9
	if c.p < 1+1.0/64 && c.p > 1 {
		tol = 1e-7 // bisection in the log domain is less precise for huge q
	}
	if d := math.Abs(L - want); d > tol*want || (want == 0 && L != 0) {
		t.Errorf("%s: L = %v, oracle %v (rel %v)", c.name, L, want, d/want)
	}
	var s float64
	for i, x := range c.losses {
		s += float64(w[i]) * float64(x)
	}
	if d := math.Abs(s - L); d > 4e-7*L {
		t.Errorf("%s: sum w*l = %v, returned %v", c.name, s, L)
	}
	if err := feasible(w, c.p, c.r); err != nil {
		t.Errorf("%s: infeasible: %v", c.name, err)
	}
	if alpha > 0 {
		D := dual(c.losses, c.p, c.r, alpha)
		if d := math.Abs(D - L); d > 1e-7*L {
			t.Errorf("%s: dual %v at alpha=%v, primal %v", c.name, D, alpha, L)
		}
		for _, f := range []float64{0.5, 0.9, 0.999, 1.001, 1.1, 2} {
			if D := dual(c.losses, c.p, c.r, alpha*f); D < L*(1-1e-9) {
				t.Errorf("%s: dual %v at %v*alpha below primal %v", c.name, D, f, L)
			}
		}
	}
}

func TestWeights(t *testing.T) {
	for _, c := range cases() {
		checkCase(t, c, defaultTuning())
	}
}

// TestWeightsFastPath forces the bucketed solver on every input size.
func TestWeightsFastPath(t *testing.T) {
	tu := defaultTuning()
	tu.fastMin, tu.sampleSize = 0, 4
	for _, c := range cases() {
		checkCase(t, c, tu)
	}
}

// TestWeightsRandom compares both solvers with the oracle on random inputs with zeros, ties
// and wide ranges.
func TestWeightsRandom(t *testing.T) {
	g := rand.New(rand.NewPCG(11, 12))
	for it := 0; it < 300; it++ {
		n := 1 + g.IntN(400)
		l := make([]float32, n)
		kind := g.IntN(4)
		for i := range l {
			switch kind {
			case 0:
				l[i] = float32(g.ExpFloat64())
			case 1: // zeros and ties
				l[i] = float32(g.IntN(4))
			case 2: // wide range
				l[i] = float32(math.Exp(min(80, 30*g.NormFloat64())))
			case 3:
				l[i] = float32(g.ExpFloat64()) * float32(g.IntN(2))
			}
		}
		p := []float64{1, 1 + 1e-3*g.Float64(), 1 + g.Float64(), 2, 1 + 10*g.Float64(), 50}[g.IntN(6)]
		r := g.Float64()
		tu := defaultTuning()
		tu.fastMin = []int{0, 1 << 30}[it%2]
		tu.sampleSize = []int{2048, 8}[it%3%2]
		checkCase(t, lmpCase{fmt.Sprintf("it%d/kind%d/n=%d/p=%v/r=%v/fast=%v", it, kind, n, p, r, it%2 == 0), l, p, r}, tu)
	}
}

// TestWeightsPermutation checks that permuting the losses permutes the weights.
func TestWeightsPermutation(t *testing.T) {
	g := rand.New(rand.NewPCG(3, 4))
	for _, c := range []lmpCase{
		{"exp/p=1.7", expLosses(5000, 9), 1.7, 0.25},
		{"exp/p=2", expLosses(5000, 9), 2, 0.1},
		{"exp/p=1", expLosses(5000, 9), 1, 0.1},
		{"ties/p=1.5", []float32{1, 2, 2, 0, 3, 3, 3, 0, 1}, 1.5, 0.3},
	} {
		w := make([]float32, len(c.losses))
		L, err := Weights(w, c.losses, c.p, c.r)
		if err != nil {
			t.Fatal(err)
		}
		perm := g.Perm(len(c.losses))
		l2 := make([]float32, len(perm))
		for i, j := range perm {
			l2[i] = c.losses[j]
		}
		w2 := make([]float32, len(perm))
		L2, err := Weights(w2, l2, c.p, c.r)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(L-L2) > 1e-12*L {
			t.Errorf("%s: L %v after permutation, %v before", c.name, L2, L)
		}
		for i, j := range perm {
			if math.Abs(float64(w2[i]-w[j])) > 1e-6*float64(w[j]) {
				t.Errorf("%s: w2[%d] = %v, w[%d] = %v", c.name, i, w2[i], j, w[j])
				break
			}
		}
	}
}

// TestWeightsLimits checks closed forms: the mean for p = Inf or m = n, the top-m mean for
// p = 1, tau on every positive loss when at most m are positive, and the max for m = 1, p = 1.
func TestWeightsLimits(t *testing.T) {
	l := []float32{5, 1, 4, 0, 2, 3, 0, 6, 1, 1}
	mean := 23.0 / 10
	for _, c := range []struct {
		name string
		p, r float64
		want float64
	}{
		{"pinf", math.Inf(1), 0.2, mean},
		{"m=n", 1.7, 1, mean},
		{"p=1/m=1", 1, 0, 6},
		{"p=1/m=2", 1, 0.2, 5.5},
		{"p=1/m=2.5", 1, 0.25, (6 + 5 + 0.5*4) / 2.5},
		{"p=1/m=8.5", 1, 0.85, 23 / 8.5},
	} {
		w := make([]float32, len(l))
		L, err := Weights(w, l, c.p, c.r)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(L-c.want) > 1e-12 {
			t.Errorf("%s: L = %v, want %v", c.name, L, c.want)
		}
	}
	// At most m positive losses: every positive loss at tau.
	for _, p := range []float64{1.01, 1.5, 2, 50} {
		w := make([]float32, len(l))
		L, err := Weights(w, l, p, 0.9) // m = 9 >= 8 positives
		if err != nil {
			t.Fatal(err)
		}
		n, m := 10.0, 9.0
		tau := math.Pow(n, 1/p-1) * math.Pow(m, -1/p)
		if math.Abs(L-tau*23) > 1e-12 {
			t.Errorf("p=%v few positives: L = %v, want %v", p, L, tau*23)
		}
		for i, x := range l {
			if (x > 0) != (w[i] > 0) {
				t.Errorf("p=%v: w[%d] = %v for loss %v", p, i, w[i], x)
			}
		}
	}
	// p = 2 closed form without saturation: w proportional to l, L = gamma*||l||_2 when
	// tau*... check with ratio such that no loss saturates: m*max^2 <= sum l^2.
	l2 := []float32{1, 1, 1, 1, 2}
	w := make([]float32, 5)
	L, err := Weights(w, l2, 2, 0.8) // m = 4, sum l^2 = 8, 4*4 = 16 > 8 -> 2 saturates
	if err != nil {
		t.Fatal(err)
	}
	// alpha^2 = 4/(4-1) for s = 1; alpha = 1.1547 < 2 and >= 1: consistent.
	gamma := math.Pow(5, -0.5)
	tau := gamma / 2
	alpha := math.Sqrt(4.0 / 3)
	want := tau * (2 + 4/alpha)
	if math.Abs(L-want) > 1e-12 {
		t.Errorf("p=2 hand case: L = %v, want %v", L, want)
	}
}

func TestWeightsErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		name   string
		w, l   []float32
		p, r   float64
		substr string
	}{
		{"len", make([]float32, 2), []float32{1, 2, 3}, 2, 0.5, "len"},
		{"empty", nil, nil, 2, 0.5, "no losses"},
		{"p<1", make([]float32, 1), []float32{1}, 0.5, 0.5, "p = 0.5"},
		{"pnan", make([]float32, 1), []float32{1}, math.NaN(), 0.5, "p = NaN"},
		{"rneg", make([]float32, 1), []float32{1}, 2, -0.1, "ratio"},
		{"rbig", make([]float32, 1), []float32{1}, 2, 1.5, "ratio"},
		{"rnan", make([]float32, 1), []float32{1}, 2, math.NaN(), "ratio"},
		{"neg", make([]float32, 4), []float32{1, 2, -1, -3}, 2, 0.5, "loss 2 "},
		{"nan", make([]float32, 4), []float32{1, nan, 2, -1}, 2, 0.5, "loss 1 "},
		{"inf", make([]float32, 3), []float32{1, 2, inf}, 2, 0.5, "loss 2 "},
		{"neg/p=1", make([]float32, 3), []float32{1, -2, 3}, 1, 0.5, "loss 1 "},
		{"neg/pinf", make([]float32, 3), []float32{1, 2, -3}, math.Inf(1), 0.5, "loss 2 "},
		{"neg/m=n", make([]float32, 3), []float32{-1, 2, 3}, 2, 1, "loss 0 "},
		{"neginf/fast", make([]float32, 3000), append(expLosses(2999, 1), float32(math.Inf(-1))), 2, 0.5, "loss 2999 "},
	} {
		_, err := Weights(c.w, c.l, c.p, c.r)
		if !isInputErr(err, "lmp: ", c.substr) {
			t.Errorf("%s: error %v, want one containing %q wrapping ErrInput", c.name, err, c.substr)
		}
	}
}

// TestPowTable compares the table power with math.Pow over all normal float32 values.
func TestPowTable(t *testing.T) {
	g := rand.New(rand.NewPCG(5, 6))
	for _, r := range []float64{1, 2, 3, 1.0 / 0.7, 0.5, 1.0 / 3, 2.5, 0.02, 1.0 / 49, 99, 128} {
		tb := tableFor(r)
		for it := 0; it < 20000; it++ {
			u := 0x00800000 + uint32(g.IntN(0x7f000000))
			mant := float64(math.Float32frombits(u&0x7fffff | 0x3f800000))
			want := math.Pow(mant, r)
			if got := tb.pow(u); math.Abs(got-want) > (5e-15+6e-16*r)*want {
				t.Fatalf("r=%v mantissa %v: table %v, math.Pow %v", r, mant, got, want)
			}
			x := float64(math.Float32frombits(u))
			edge := float64(math.Float32frombits(u &^ 0xfffff))
			want = math.Pow(x/edge, 1+r)
			if got := tb.relPow(u, tb.pow(u)); math.Abs(got-want) > (5e-15+6e-16*r)*want {
				t.Fatalf("r=%v x=%v: relative power %v, math.Pow %v", r, x, got, want)
			}
		}
	}
}

// TestWeightsLarge exercises the bucketed solver on inputs large enough for the sampled
// guess of the threshold: when the guess is right, when a hidden group of outliers makes it
// miss, and with the guess disabled.
func TestWeightsLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	n := 20000
	hidden := expLosses(n, 21)
	for i := range hidden {
		if i%97 == 1 { // never at the sampled offsets stride/2 + k*stride (stride 9)
			hidden[i] = 1e6 * (1 + hidden[i])
		}
	}
	zeros := expLosses(n, 22)
	for i := range zeros {
		if i%3 != 0 {
			zeros[i] = 0
		}
	}
	wide := make([]float32, n)
	g := rand.New(rand.NewPCG(23, 24))
	for i := range wide {
		wide[i] = float32(math.Exp(min(80, 20*g.NormFloat64())))
	}
	sub := expLosses(n, 25)
	for i := 0; i < n; i += 50 {
		sub[i] = 1e-41
	}
	ties := make([]float32, n)
	for i := range ties {
		ties[i] = float32(1 + g.IntN(3))
	}
	for _, d := range []struct {
		name string
		l    []float32
	}{{"exp", expLosses(n, 20)}, {"hidden", hidden}, {"zeros", zeros}, {"wide", wide}, {"ties", ties}, {"subnormal", sub}} {
		for _, p := range []float64{1.01, 1.7, 2, 50} {
			for _, r := range []float64{0.01, 0.25} {
				for _, spec := range []bool{true, false} {
					tu := defaultTuning()
					tu.speculate = spec
					checkCase(t, lmpCase{fmt.Sprintf("%s/p=%v/r=%v/speculate=%v", d.name, p, r, spec), d.l, p, r}, tu)
				}
			}
		}
	}
}
