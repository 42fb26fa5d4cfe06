package graph

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randTensor(rng *rand.Rand, n, c, h, w int, scale float64) *Tensor {
	t := NewTensor(n, c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * scale)
	}
	return t
}

func randLabels(rng *rand.Rand, n, c int, ignoreFrac float64, ignore int32) []int32 {
	l := make([]int32, n)
	for i := range l {
		if rng.Float64() < ignoreFrac {
			l[i] = ignore
		} else {
			l[i] = int32(rng.IntN(c))
		}
	}
	return l
}

func dot64(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}

// sample returns up to k distinct indices of [0, n).
func sample(rng *rand.Rand, n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return rng.Perm(n)[:k]
}

// checkGrad compares analytic[i] with the central difference of f with
// respect to x[i] for a sample of indices.
func checkGrad(t *testing.T, what string, rng *rand.Rand, f func() float64, x, analytic []float32, eps, tol float64) {
	t.Helper()
	if len(analytic) != len(x) {
		t.Fatalf("%s: analytic gradient has %d values, want %d", what, len(analytic), len(x))
	}
	for _, i := range sample(rng, len(x), 40) {
		old := x[i]
		x[i] = old + float32(eps)
		fp := f()
		x[i] = old - float32(eps)
		fm := f()
		x[i] = old
		num := (fp - fm) / (float64(float32(old+float32(eps))) - float64(float32(old-float32(eps))))
		ana := float64(analytic[i])
		if d := math.Abs(num - ana); d > tol*math.Max(1, math.Abs(num)) {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g (diff %.3g)", what, i, ana, num, d)
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > m || d != d {
			m = d
		}
	}
	return m
}

func logf64(s float32) float64 { return math.Log(float64(s)) }

// layerOf returns the first layer of h of type T, or nil.
func layerOf[T Layer](h *Head) T {
	var zero T
	for _, l := range h.layers {
		if v, ok := l.(T); ok {
			return v
		}
	}
	return zero
}

// randomConv2d returns a Conv2d (with bias) of normally distributed weights drawn from rng that
// runs on threads goroutines.
func randomConv2d(rng *rand.Rand, in, out, k, pad, dil, threads int) *Conv2d {
	c := NewConv2d("c", in, out, k, pad, dil, true)
	c.Threads = threads
	for _, p := range c.Params() {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64())
		}
	}
	return c
}
