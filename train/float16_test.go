package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFloat16RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in, want float32
	}{
		{0, 0}, {1, 1}, {-2.5, -2.5}, {65504, 65504}, {1e6, float32(math.Inf(1))},
		{5.960464477539063e-08, 5.960464477539063e-08}, {1e-9, 0}, {0.1, 0.0999755859375},
		{1.0009765625, 1.0009765625}, {1.00048828125, 1}, // tie rounds to even
	} {
		if got := f16to32(f32to16(tc.in)); got != tc.want {
			t.Errorf("f16(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(float64(f16to32(f32to16(float32(math.NaN()))))) {
		t.Error("NaN not preserved")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		v := float32(rng.NormFloat64() * 100)
		got := f16to32(f32to16(v))
		if math.Abs(float64(got-v)) > math.Abs(float64(v))/1024 {
			t.Fatalf("f16(%g) = %g: relative error above 2^-10", v, got)
		}
	}
	// Every half value must survive a round trip exactly.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads
		}
		if back := f32to16(f16to32(uint16(h))); back != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f16to32(uint16(h)), back)
		}
	}
}
