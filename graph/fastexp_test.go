package graph

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExp32(t *testing.T) {
	check := func(x float32) {
		t.Helper()
		got := float64(exp32(x))
		want := math.Exp(float64(x))
		if want < 1e-37 || math.IsInf(want, 0) || want > math.MaxFloat32 {
			return
		}
		if rel := math.Abs(got-want) / want; rel > 1e-6 {
			t.Fatalf("exp32(%v) = %v, want %v (rel err %.3g)", x, got, want, rel)
		}
	}
	for _, x := range []float32{0, -0, 1, -1, 0.34657359, -0.34657359, 0.3466, -0.3466, 10, -10, -87, 88, -85.5, 88.7, 1e-8, -1e-8} {
		check(x)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200_000; i++ {
		check(float32(rng.Float64()*176 - 87.3))
	}
	for i := 0; i < 100_000; i++ {
		check(float32(rng.NormFloat64()))
	}
	xs := make([]float32, 200_000)
	for i := range xs {
		xs[i] = float32(rng.Float64()*200 - 100)
	}
	xs[0], xs[1], xs[2] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
	ys := append([]float32(nil), xs...)
	expInPlace(ys)
	for i, x := range xs {
		want := math.Exp(float64(x))
		got := float64(ys[i])
		switch {
		case x != x:
			if got == got {
				t.Fatalf("expInPlace(NaN) = %v", got)
			}
		case want < 1.18e-38 || want > math.MaxFloat32:
			if w := exp32(x); math.Float32bits(ys[i]) != math.Float32bits(w) {
				t.Fatalf("expInPlace(%v) = %v, exp32 gives %v", x, ys[i], w)
			}
		case math.Abs(got-want) > 1e-6*want:
			t.Fatalf("expInPlace(%v) = %v, want %v (rel err %.3g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	specials := []struct {
		x    float32
		want float64
	}{
		{-100, 0}, {float32(math.Inf(-1)), 0}, {100, math.Inf(1)}, {float32(math.Inf(1)), math.Inf(1)},
	}
	for _, s := range specials {
		if got := float64(exp32(s.x)); got != s.want {
			t.Errorf("exp32(%v) = %v, want %v", s.x, got, s.want)
		}
	}
	if got := exp32(float32(math.NaN())); got == got {
		t.Errorf("exp32(NaN) = %v, want NaN", got)
	}
}

func BenchmarkExpInPlace(b *testing.B) {
	xs := make([]float32, 4096)
	ys := make([]float32, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range xs {
		xs[i] = -float32(rng.Float64() * 20)
	}
	for b.Loop() {
		copy(ys, xs)
		expInPlace(ys)
	}
}

func BenchmarkExp32(b *testing.B) {
	xs := make([]float32, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range xs {
		xs[i] = -float32(rng.Float64() * 20)
	}
	var s float32
	for b.Loop() {
		for _, x := range xs {
			s += exp32(x)
		}
	}
	_ = s
}

func TestLog32(t *testing.T) {
	check := func(x float32) {
		t.Helper()
		got := float64(log32(x))
		want := math.Log(float64(x))
		if math.IsNaN(want) != math.IsNaN(got) || (!math.IsNaN(want) && math.Abs(got-want) > 2e-7*math.Max(1, math.Abs(want))) {
			t.Fatalf("log32(%v) = %v, want %v", x, got, want)
		}
	}
	for _, x := range []float32{1, 2, 0.5, 1.4142135, 1.4142137, 0.70710677, 19, 1e-30, 1e30, 3e38, 1.2e-38, 1e-40, 0, -1, float32(math.Inf(1))} {
		check(x)
	}
	if v := log32(float32(math.NaN())); v == v {
		t.Errorf("log32(NaN) = %v", v)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200_000; i++ {
		check(float32(math.Exp(rng.Float64()*170 - 85)))
		check(float32(1 + rng.Float64()*30))
	}
}
