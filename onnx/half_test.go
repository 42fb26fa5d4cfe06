package onnx

import (
	"math"
	"testing"
)

// f16ToF32 is the exact widening of a float16 bit pattern (reference).
func f16ToF32(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * float32(m*math.Pow(2, -24))
	case 31:
		if m != 0 {
			return float32(math.NaN())
		}
		return sign * float32(math.Inf(1))
	}
	return sign * float32((1+m/1024)*math.Pow(2, float64(e-15)))
}

func TestFloat16(t *testing.T) {
	// Every float16 value converts back to itself.
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			if g := f32ToF16(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 {
				t.Errorf("NaN %#04x -> %#04x", h, g)
			}
			continue
		}
		if g := f32ToF16(f); g != uint16(h) {
			t.Errorf("%#04x (%g) -> %#04x", h, f, g)
		}
	}
	cases := []struct {
		f float32
		h uint16
	}{
		{65504, 0x7bff}, {65520, 0x7c00}, {1e6, 0x7c00}, {-1e6, 0xfc00},
		{1 + 1.0/2048, 0x3c00}, // halfway: to even
		{1 + 3.0/2048, 0x3c02}, // halfway: to even, upwards
		{1 + 1.0/2048 + 1e-7, 0x3c01},
		{5.96e-8, 0x0001}, {2.9e-8, 0x0000}, {3.0e-8, 0x0001}, // smallest subnormal and its halfway
		{float32(math.Pow(2, -14)) * (1 - 1.0/2048), 0x0400}, // rounds up to the smallest normal
	}
	for _, c := range cases {
		if g := f32ToF16(c.f); g != c.h {
			t.Errorf("%g -> %#04x, want %#04x", c.f, g, c.h)
		}
	}
}
