package synth

import "math"

// hash2 mixes two lattice coordinates and a seed into 32 random bits.
func hash2(x, y int32, seed uint32) uint32 {
	h := uint32(x)*0x8da6b343 ^ uint32(y)*0xd8163841 ^ seed*0xcb1ab31f
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	h *= 0x297a2d39
	h ^= h >> 15
	return h
}

// unit maps 32 random bits to [-1, 1).
func unit(h uint32) float64 {
	return float64(h>>8)/float64(1<<23) - 1
}

// white returns per-pixel noise in [-1, 1).
func white(x, y int, seed uint32) float64 {
	return unit(hash2(int32(x), int32(y), seed))
}

// floor returns the largest integer not above v (for |v| < 2^31).
func floor(v float64) int32 {
	i := int32(v)
	if v < float64(i) {
		i--
	}
	return i
}

// cell returns a value in [-1, 1) constant over the integer cell of (x, y).
func cell(x, y float64, seed uint32) float64 {
	return unit(hash2(floor(x), floor(y), seed))
}

// vnoise is smooth value noise in [-1, 1] with unit lattice spacing.
func vnoise(x, y float64, seed uint32) float64 {
	ix, iy := floor(x), floor(y)
	tx, ty := x-float64(ix), y-float64(iy)
	tx = tx * tx * (3 - 2*tx)
	ty = ty * ty * (3 - 2*ty)
	a := unit(hash2(ix, iy, seed))
	b := unit(hash2(ix+1, iy, seed))
	c := unit(hash2(ix, iy+1, seed))
	d := unit(hash2(ix+1, iy+1, seed))
	top := a + (b-a)*tx
	bot := c + (d-c)*tx
	return top + (bot-top)*ty
}

// fbm sums octaves of value noise, each at twice the frequency and half the
// amplitude of the previous, normalised to about [-1, 1].
func fbm(x, y float64, seed uint32, octaves int) float64 {
	var s, amp, norm float64 = 0, 1, 0
	for o := 0; o < octaves; o++ {
		s += amp * vnoise(x, y, seed+uint32(o)*0x9e37)
		norm += amp
		amp *= 0.5
		x, y = x*2.03, y*2.03
	}
	return s / norm
}

func frac(v float64) float64 { return v - math.Floor(v) }

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
