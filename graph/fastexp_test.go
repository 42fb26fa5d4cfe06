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
	for i := 0; i < 1_000_000; i++ {
		check(float32(rng.Float64()*176 - 87.3))
	}
	for i := 0; i < 100_000; i++ {
		check(float32(rng.NormFloat64()))
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
