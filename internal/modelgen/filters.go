package modelgen

import (
	"math"
	"math/rand/v2"
)

// Luma holds the weights that turn the three normalised RGB channels into a
// luminance channel (Rec. 601 coefficients).
var Luma = [3]float32{0.299, 0.587, 0.114}

// Opponent colour axes on normalised RGB: red-green and blue-yellow, each
// scaled to unit gain on a unit-variance, uncorrelated input.
var (
	OppRG = [3]float32{1 / math.Sqrt2, -1 / math.Sqrt2, 0}
	OppBY = [3]float32{0.5 / 1.2247449, 0.5 / 1.2247449, -1 / 1.2247449}
)

// 3x3 kernels, row-major. SobelX responds with 1 to a unit step that rises to
// the right; SobelY to a step that rises downwards; Laplace is a 4-neighbour
// Laplacian scaled by 1/4.
var (
	SobelX  = [9]float32{-0.25, 0, 0.25, -0.5, 0, 0.5, -0.25, 0, 0.25}
	SobelY  = [9]float32{-0.25, -0.5, -0.25, 0, 0, 0, 0.25, 0.5, 0.25}
	Laplace = [9]float32{0, 0.25, 0, 0.25, -1, 0.25, 0, 0.25, 0}
	Box3    = [9]float32{1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9}
	Center3 = [9]float32{0, 0, 0, 0, 1, 0, 0, 0, 0}
)

// Gabor returns a k x k Gabor kernel (row-major) with orientation theta
// (radians, 0 = vertical stripes, i.e. variation along x), wavelength lambda
// and envelope width sigma in pixels. odd selects the sine phase. The kernel
// has zero mean and answers a matched sinusoid of unit amplitude with about 1.
func Gabor(k int, theta, lambda, sigma float64, odd bool) []float32 {
	g := make([]float64, k*k)
	carrier := make([]float64, k*k)
	c := float64(k-1) / 2
	ct, st := math.Cos(theta), math.Sin(theta)
	var mean float64
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			y, x := float64(i)-c, float64(j)-c
			u := x*ct + y*st
			env := math.Exp(-(x*x + y*y) / (2 * sigma * sigma))
			ph := 2 * math.Pi * u / lambda
			cr := math.Cos(ph)
			if odd {
				cr = math.Sin(ph)
			}
			carrier[i*k+j] = cr
			g[i*k+j] = env * cr
			mean += env * cr
		}
	}
	mean /= float64(k * k)
	var gain float64
	for i := range g {
		g[i] -= mean
		gain += g[i] * carrier[i]
	}
	out := make([]float32, k*k)
	for i := range g {
		out[i] = float32(g[i] / gain)
	}
	return out
}

// kernel3 writes a 3x3 kernel into the (o, i) slot of an Out x In x 3 x 3
// weight tensor, scaled by s and added to what is there.
func kernel3(w []float32, in, o, i int, k [9]float32, s float32) {
	base := (o*in + i) * 9
	for t := range 9 {
		w[base+t] += s * k[t]
	}
}

// jitter adds Gaussian noise of standard deviation sd to every weight.
func jitter(w []float32, rng *rand.Rand, sd float64) {
	for i := range w {
		w[i] += float32(rng.NormFloat64() * sd)
	}
}

// randomConv returns He-initialised weights for an Out x In x K x K kernel,
// scaled by gain.
func randomConv(rng *rand.Rand, out, in, k int, gain float64) []float32 {
	w := make([]float32, out*in*k*k)
	sd := gain * math.Sqrt(2/float64(in*k*k))
	for i := range w {
		w[i] = float32(rng.NormFloat64() * sd)
	}
	return w
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6c6d7073656721)) // "lmpseg!"
}
