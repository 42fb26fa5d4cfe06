package lmp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// suiteEntries holds, per registered loss, the Options that TestSuite runs it with. The test
// file of each loss adds its entry with addSuite from init, beside its own tests;
// TestSuiteCoverage fails for a registered loss without an entry. The suite's batches have
// suiteClasses classes (wce needs that many class weights).
var suiteEntries = map[string][]Options{}

const suiteClasses = 4

// addSuite adds the suite entry of the loss called name; it panics for a second entry or
// none at all.
func addSuite(name string, opts ...Options) {
	if _, dup := suiteEntries[name]; dup || len(opts) == 0 {
		panic(fmt.Sprintf("lmp test: addSuite(%q) with %d options, twice or none", name, len(opts)))
	}
	suiteEntries[name] = opts
}

// suiteCoverage returns the registered names without a suite entry and the entries without
// a registered name, both sorted.
func suiteCoverage(names []string, entries map[string][]Options) (missing, stale []string) {
	for _, name := range names {
		if len(entries[name]) == 0 {
			missing = append(missing, name)
		}
	}
	for name := range entries {
		if !slices.Contains(names, name) {
			stale = append(stale, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	return missing, stale
}

func TestSuiteCoverage(t *testing.T) {
	missing, stale := suiteCoverage(Names(), suiteEntries)
	for _, name := range missing {
		t.Errorf("loss %s is registered but has no suite entry: call addSuite(%q, Options{...}) from init in its test file", name, name)
	}
	for _, name := range stale {
		t.Errorf("suite entry %s names no registered loss (registered: %v)", name, Names())
	}
	// The check itself: a loss registered without an entry is reported, and so is an entry
	// whose loss is gone.
	m, s := suiteCoverage([]string{"a", "b", "c"}, map[string][]Options{"c": {{}}, "a": {{}}, "d": {{}}, "b": nil})
	if !slices.Equal(m, []string{"b"}) || !slices.Equal(s, []string{"d"}) {
		t.Errorf("suiteCoverage: missing %v, stale %v, want [b] and [d]", m, s)
	}
}

// TestSuite runs every registered loss, with each of the Options of its suite entry, through
// the checks that every Loss must pass.
func TestSuite(t *testing.T) {
	for _, name := range Names() {
		for k, o := range suiteEntries[name] {
			t.Run(fmt.Sprintf("%s/%d", name, k), func(t *testing.T) {
				t.Logf("options %+v", o)
				runSuite(t, name, o)
			})
		}
	}
}

func runSuite(t *testing.T, name string, o Options) {
	l, err := New(name, o)
	if err != nil {
		t.Fatalf("New(%q, %+v): %v", name, o, err)
	}
	if l.Name() != name {
		t.Errorf("Name() = %q, want %q", l.Name(), name)
	}
	if d := Doc(name); d == "" || strings.Contains(d, "\n") {
		t.Errorf("Doc(%q) = %q, want one line", name, d)
	}
	for _, p := range suiteProblems() {
		checkGradient(t, l, p)
		checkCoefficients(t, l, p)
		checkPermutation(t, l, p)
	}
	for _, p := range extremeProblems() {
		checkCoefficients(t, l, p)
	}
	checkNoValid(t, l)
	checkMismatch(t, l)
}

// suiteProblem is a small batch of NCHW logits z (suiteClasses classes) and labels.
type suiteProblem struct {
	name  string
	n, hw int
	z     []float32
	lab   []int32
}

// batch returns the Batch of p at the logits z, with CE and Prob from SoftmaxCE.
func (p suiteProblem) batch(z []float32) Batch {
	ce := make([]float32, p.n*p.hw)
	pr := make([]float32, p.n*p.hw)
	SoftmaxCE(ce, pr, z, p.lab, p.n, suiteClasses, p.hw, testIgnore)
	return Batch{N: p.n, HW: p.hw, CE: ce, Prob: pr, Labels: p.lab, Ignore: testIgnore}
}

// suiteProblems returns random batches of three images of 12 pixels, about one pixel in six
// ignored (label testIgnore or -1); in the second, image 1 is ignored entirely.
func suiteProblems() []suiteProblem {
	const n, hw = 3, 12
	var ps []suiteProblem
	for k, name := range []string{"random", "ignored image"} {
		g := rand.New(rand.NewPCG(2017, uint64(k)))
		z := make([]float32, n*suiteClasses*hw)
		for i := range z {
			z[i] = float32(2 * g.NormFloat64())
		}
		lab := make([]int32, n*hw)
		for i := range lab {
			lab[i] = int32(g.IntN(suiteClasses))
			switch g.IntN(12) {
			case 0:
				lab[i] = testIgnore
			case 1:
				lab[i] = -1
			}
			if k == 1 && i/hw == 1 {
				lab[i] = testIgnore
			}
		}
		ps = append(ps, suiteProblem{name, n, hw, z, lab})
	}
	return ps
}

// extremeProblems returns batches at which the losses must stay finite: huge logits, equal
// logits (all cross-entropies tied) and confident predictions (cross-entropies 0 or nearly).
func extremeProblems() []suiteProblem {
	ps := suiteProblems()[:1]
	huge := ps[0]
	huge.name, huge.z = "huge logits", slices.Clone(huge.z)
	for i := range huge.z {
		huge.z[i] *= 150
	}
	ties := ps[0]
	ties.name, ties.z = "equal logits", make([]float32, len(ties.z))
	confident := ps[0]
	confident.name, confident.z = "confident", make([]float32, len(confident.z))
	for k := 0; k < confident.n; k++ {
		for j := 0; j < confident.hw; j++ {
			if y := confident.lab[k*confident.hw+j]; y >= 0 && y < suiteClasses {
				confident.z[(k*suiteClasses+int(y))*confident.hw+j] = float32(50 + 50*(j%3))
			}
		}
	}
	return []suiteProblem{huge, ties, confident}
}

// reduce calls l.Reduce, reporting a panic as a fatal test failure.
func reduce(t *testing.T, l Loss, dst []float32, b Batch) (L float64, err error) {
	t.Helper()
	defer func() {
		if e := recover(); e != nil {
			t.Fatalf("Reduce panicked: %v", e)
		}
	}()
	return l.Reduce(dst, b)
}

// checkGradient compares the gradient c_i*(softmax(z_i) - onehot(label_i)) given by the
// coefficients with central differences of the loss in every logit. Logits where the
// forward and backward differences disagree lie within a step of a kink of the loss (a pixel
// changing rank or crossing a threshold) and are skipped, at most a tenth of them.
func checkGradient(t *testing.T, l Loss, p suiteProblem) {
	t.Helper()
	loss := func(z, dst []float32) float64 {
		L, err := reduce(t, l, dst, p.batch(z))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		return L
	}
	coef := make([]float32, p.n*p.hw)
	L0 := loss(p.z, coef)
	grad := make([]float32, len(p.z))
	SoftmaxCEGrad(grad, p.z, p.lab, coef, p.n, suiteClasses, p.hw, testIgnore)
	const h = 2e-3
	z := slices.Clone(p.z)
	scratch := make([]float32, len(coef))
	skipped, bad := 0, 0
	for i, x := range p.z {
		z[i] = x + h
		zp, Lp := float64(z[i]), loss(z, scratch)
		z[i] = x - h
		zm, Lm := float64(z[i]), loss(z, scratch)
		z[i] = x
		fwd := (Lp - L0) / (zp - float64(x))
		bwd := (L0 - Lm) / (float64(x) - zm)
		num := (Lp - Lm) / (zp - zm)
		tol := 2e-4 + 1e-2*math.Abs(num)
		if math.Abs(fwd-bwd) > tol {
			skipped++
			continue
		}
		if math.Abs(num-float64(grad[i])) > tol {
			if bad++; bad <= 4 {
				t.Errorf("%s: logit %d (image %d, class %d, pixel %d): gradient %v, finite difference %v",
					p.name, i, i/(suiteClasses*p.hw), i/p.hw%suiteClasses, i%p.hw, grad[i], num)
			}
		}
	}
	if bad > 4 {
		t.Errorf("%s: %d logits with wrong gradients in all", p.name, bad)
	}
	if skipped > len(p.z)/10 {
		t.Errorf("%s: %d of %d logits near kinks of the loss, want at most a tenth", p.name, skipped, len(p.z))
	}
}

// checkCoefficients checks that the loss and the coefficients are finite, that ignored
// pixels get 0 (dst is filled with garbage first), that Reduce leaves the Batch unchanged
// and that a second call gives the same bits.
func checkCoefficients(t *testing.T, l Loss, p suiteProblem) {
	t.Helper()
	b := p.batch(p.z)
	ce, pr, lab := slices.Clone(b.CE), slices.Clone(b.Prob), slices.Clone(b.Labels)
	dst := make([]float32, len(ce))
	for i := range dst {
		dst[i] = 7
	}
	L, err := reduce(t, l, dst, b)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	if math.IsNaN(L) || math.IsInf(L, 0) {
		t.Errorf("%s: loss %v", p.name, L)
	}
	for i, c := range dst {
		if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
			t.Errorf("%s: pixel %d: coefficient %v", p.name, i, c)
		}
		if !b.valid(i) && c != 0 {
			t.Errorf("%s: ignored pixel %d (label %d): coefficient %v, want 0", p.name, i, b.Labels[i], c)
		}
	}
	if !slices.Equal(f32bits(ce), f32bits(b.CE)) || !slices.Equal(f32bits(pr), f32bits(b.Prob)) || !slices.Equal(lab, b.Labels) {
		t.Errorf("%s: Reduce modified the batch", p.name)
	}
	dst2 := make([]float32, len(dst))
	for i := range dst2 {
		dst2[i] = -3
	}
	L2, err := reduce(t, l, dst2, b)
	if err != nil || math.Float64bits(L2) != math.Float64bits(L) || !slices.Equal(f32bits(dst2), f32bits(dst)) {
		t.Errorf("%s: second Reduce gave loss %v (error %v), first %v, or other coefficients", p.name, L2, err, L)
	}
}

func f32bits(x []float32) []uint32 {
	u := make([]uint32, len(x))
	for i, v := range x {
		u[i] = math.Float32bits(v)
	}
	return u
}

// checkPermutation reorders the images of the batch in every way and checks that the loss
// stays the same and the coefficients move with their pixels.
func checkPermutation(t *testing.T, l Loss, p suiteProblem) {
	t.Helper()
	b := p.batch(p.z)
	dst := make([]float32, len(b.CE))
	L, err := reduce(t, l, dst, b)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	for _, perm := range [][]int{{0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		pb := Batch{N: b.N, HW: b.HW, Ignore: b.Ignore}
		for _, k := range perm { // image k of b is image j of pb
			pb.CE = append(pb.CE, b.CE[k*b.HW:(k+1)*b.HW]...)
			pb.Prob = append(pb.Prob, b.Prob[k*b.HW:(k+1)*b.HW]...)
			pb.Labels = append(pb.Labels, b.Labels[k*b.HW:(k+1)*b.HW]...)
		}
		pdst := make([]float32, len(dst))
		pL, err := reduce(t, l, pdst, pb)
		if err != nil {
			t.Fatalf("%s: images %v: %v", p.name, perm, err)
		}
		if math.Abs(pL-L) > 1e-9*math.Abs(L)+1e-300 {
			t.Errorf("%s: images in order %v: loss %v, %v in order", p.name, perm, pL, L)
		}
		for j, k := range perm {
			for i := 0; i < b.HW; i++ {
				c, pc := dst[k*b.HW+i], pdst[j*b.HW+i]
				if math.Abs(float64(pc-c)) > 1e-6*math.Abs(float64(c))+1e-12 {
					t.Errorf("%s: images in order %v: pixel %d of image %d: coefficient %v, %v in order", p.name, perm, i, k, pc, c)
				}
			}
		}
	}
}

// checkNoValid checks batches without valid pixels: all ignored, no images, empty images.
func checkNoValid(t *testing.T, l Loss) {
	t.Helper()
	for _, b := range []Batch{
		{N: 2, HW: 2, CE: []float32{1, 2, 3, 4}, Prob: []float32{0.3, 0.1, 0.05, 0.02}, Labels: []int32{255, -1, 255, 255}, Ignore: 255},
		{N: 1, HW: 3, CE: []float32{1, 2, 3}, Prob: []float32{0.3, 0.1, 0.05}, Labels: []int32{7, 7, 7}, Ignore: 7},
		{N: 0, HW: 5, CE: []float32{}, Prob: []float32{}, Labels: []int32{}, Ignore: 255},
		{N: 3, HW: 0, CE: nil, Prob: nil, Labels: nil, Ignore: 255},
	} {
		dst := make([]float32, len(b.CE))
		for i := range dst {
			dst[i] = 7
		}
		L, err := reduce(t, l, dst, b)
		if err != nil || L != 0 || slices.ContainsFunc(dst, func(c float32) bool { return c != 0 }) {
			t.Errorf("no valid pixels (N=%d HW=%d labels %v): loss %v, coefficients %v, error %v; want 0, 0, nil", b.N, b.HW, b.Labels, L, dst, err)
		}
	}
}

// checkMismatch checks that slices of the wrong length give an error wrapping ErrInput.
func checkMismatch(t *testing.T, l Loss) {
	t.Helper()
	good := func() (dst []float32, b Batch) {
		return make([]float32, 4), Batch{N: 2, HW: 2, CE: []float32{1, 2, 3, 4}, Prob: []float32{0.3, 0.1, 0.05, 0.02}, Labels: []int32{0, 1, 0, 1}, Ignore: 255}
	}
	for _, tc := range []struct {
		name string
		edit func(dst *[]float32, b *Batch)
	}{
		{"short dst", func(dst *[]float32, b *Batch) { *dst = (*dst)[:3] }},
		{"long CE", func(dst *[]float32, b *Batch) { b.CE = append(b.CE, 1) }},
		{"short labels", func(dst *[]float32, b *Batch) { b.Labels = b.Labels[:2] }},
		{"HW too large", func(dst *[]float32, b *Batch) { b.HW = 3 }},
		{"negative N", func(dst *[]float32, b *Batch) { b.N, b.HW = -2, -2 }},
	} {
		dst, b := good()
		tc.edit(&dst, &b)
		if _, err := reduce(t, l, dst, b); !errors.Is(err, ErrInput) {
			t.Errorf("%s: error %v, want one wrapping ErrInput", tc.name, err)
		}
	}
}

// handBatch is two images of three pixels with the cross-entropies 1, 2, 3 and 4, -, 0.5
// (pixel 4 ignored) and labels 0, 1, 1 and 2, -, 0.
func handBatch() Batch {
	ce := []float32{1, 2, 3, 4, 0, 0.5}
	pr := make([]float32, len(ce))
	for i, x := range ce {
		pr[i] = float32(math.Exp(-float64(x)))
	}
	return Batch{N: 2, HW: 3, CE: ce, Prob: pr, Labels: []int32{0, 1, 1, 2, 255, 0}, Ignore: 255}
}

// handCase is a loss value and coefficients worked out by hand on handBatch.
type handCase struct {
	o    Options
	want float64
	coef []float64
}

// checkHand runs the loss called name on handBatch for each case.
func checkHand(t *testing.T, name string, cases []handCase) {
	t.Helper()
	for _, tc := range cases {
		l, err := New(name, tc.o)
		if err != nil {
			t.Fatalf("%s %+v: %v", name, tc.o, err)
		}
		dst := make([]float32, 6)
		L, err := l.Reduce(dst, handBatch())
		if err != nil {
			t.Fatalf("%s %+v: %v", name, tc.o, err)
		}
		if math.Abs(L-tc.want) > 1e-6 {
			t.Errorf("%s %+v: loss %v, want %v", name, tc.o, L, tc.want)
		}
		for i, c := range tc.coef {
			if math.Abs(float64(dst[i])-c) > 1e-6 {
				t.Errorf("%s %+v: coefficients %v, want %v", name, tc.o, dst, tc.coef)
				break
			}
		}
	}
}

// badCase is invalid Options and a piece of the error that New must return.
type badCase struct {
	o      Options
	substr string
}

// checkBad checks that New rejects each case with an error prefixed "lmp: loss NAME: ",
// containing the case's substring and wrapping ErrInput.
func checkBad(t *testing.T, name string, cases []badCase) {
	t.Helper()
	for _, tc := range cases {
		l, err := New(name, tc.o)
		if !isInputErr(err, "lmp: loss "+name+": ", tc.substr) {
			t.Errorf("New(%q, %+v) = %v, %v; want an error containing %q wrapping ErrInput", name, tc.o, l, err, tc.substr)
		}
	}
}

// isInputErr reports whether err is an error wrapping ErrInput whose message starts with
// prefix and contains substr: the form every rejected input of package lmp takes.
func isInputErr(err error, prefix, substr string) bool {
	return err != nil && errors.Is(err, ErrInput) && strings.HasPrefix(err.Error(), prefix) && strings.Contains(err.Error(), substr)
}
