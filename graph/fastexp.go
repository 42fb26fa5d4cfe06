package graph

import "math"

const (
	expMagic  = float32(12582912) // 1.5 * 2^23: adding it rounds to an integer
	expLog2e  = float32(1.44269504088896341)
	expLn2Hi  = float32(0.693359375)
	expLn2Lo  = float32(-2.12194440e-4)
	expMinArg = float32(-87.33654)
	expMaxArg = float32(88.72283)
)

// exp32 returns e**x in float32 with a relative error below 1e-6 for
// x in [-87.3, 88.7]; smaller arguments give 0, larger ones +Inf and NaN
// stays NaN. It reduces x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite, two
// constants) and evaluates the degree-7 Taylor polynomial of e**r.
func exp32(x float32) float32 {
	if !(x >= expMinArg) {
		if x != x {
			return x
		}
		return 0
	}
	if x > expMaxArg {
		return float32(math.Inf(1))
	}
	k := x*expLog2e + expMagic
	n := int32(math.Float32bits(k)) - int32(math.Float32bits(expMagic))
	fn := k - expMagic
	r := x - fn*expLn2Hi
	r = r - fn*expLn2Lo
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	// n lies in [-126, 128]: 2^n is built from its exponent bits, with n = 128
	// split in two to stay representable.
	if n > 127 {
		return p * math.Float32frombits(uint32(n-1+127)<<23) * 2
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// logTab[j] = log(c_j) and logInv[j] = 1/c_j for the interval centres
// c_j = 1 + (j+0.5)/128 of the mantissa range [1, 2).
var logTab, logInv [128]float64

func init() {
	for j := range logTab {
		c := 1 + (float64(j)+0.5)/128
		logTab[j] = math.Log(c)
		logInv[j] = 1 / c
	}
}

// log32 returns the natural logarithm of x with an absolute error below
// 2e-7 for positive normal float32 x; other inputs go through math.Log. It
// splits x = 2^k * f with f in [1, 2), picks the nearest of 128 interval
// centres c (a table lookup on the top mantissa bits) and adds
// log(c) + log1p(f/c - 1), the latter from its cubic Taylor polynomial
// (|f/c - 1| < 1/256); all in float64 and without a division.
func log32(x float32) float32 {
	b := math.Float32bits(x)
	if b-0x00800000 >= 0x7f800000-0x00800000 { // zero, subnormal, negative, Inf, NaN
		return float32(math.Log(float64(x)))
	}
	k := int32(b>>23) - 127
	j := (b >> 16) & 127
	f := float64(math.Float32frombits(b&0x007fffff | 0x3f800000))
	c := 1 + (float64(j)+0.5)/128
	r := (f - c) * logInv[j]
	p := r - r*r*(0.5-r*(1.0/3))
	return float32(float64(k)*math.Ln2 + logTab[j] + p)
}

// exp2Tab[i] = 2^(i/32) rounded to float32.
var exp2Tab [32]float32

func init() {
	for i := range exp2Tab {
		exp2Tab[i] = float32(math.Exp2(float64(i) / 32))
	}
}

const (
	expTabScale = float32(32 / math.Ln2)
	expTabLnHi  = float32(1420.0 / 65536) // ln2/32 to 11 bits: k*expTabLnHi is exact
	expTabLnLo  = float32(math.Ln2/32 - 1420.0/65536)
)

// expInPlace replaces every x of xs by e**x with the accuracy of exp32
// (relative error below 1e-6; arguments below -87.3 give 0, above 88.7
// +Inf). It reduces x = (32n + i)*ln2/32 + r with |r| <= ln2/64, takes
// 2^(i/32) from a table and e**r from its cubic Taylor polynomial: fewer
// operations than exp32, for the per-cell exponentials of the fused loss.
func expInPlace(xs []float32) {
	for j, x := range xs {
		if !(x >= expMinArg) || x > expMaxArg {
			xs[j] = exp32(x)
			continue
		}
		t := x*expTabScale + expMagic
		k := int32(math.Float32bits(t)) - int32(math.Float32bits(expMagic))
		fk := t - expMagic
		r := x - fk*expTabLnHi
		r = r - fk*expTabLnLo
		p := ((r*(1.0/6)+0.5)*r+1)*r + 1
		n := k >> 5
		v := exp2Tab[k&31] * p
		if n > 127 {
			xs[j] = v * math.Float32frombits(uint32(n-1+127)<<23) * 2
			continue
		}
		if n < -126 {
			xs[j] = v * math.Float32frombits(uint32(n+1+127)<<23) * 0.5
			continue
		}
		xs[j] = v * math.Float32frombits(uint32(n+127)<<23)
	}
}
