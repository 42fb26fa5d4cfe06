package resample

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkBilinear measures 8x upsampling of 19 planes (logits to label
// size) with both forms and with the plain per-pixel reference, which is
// the baseline for the ratio.
func BenchmarkBilinear(b *testing.B) {
	for _, sz := range []struct {
		name   string
		sh, sw int
	}{{"Small", 16, 32}, {"Large", 64, 128}} {
		const c, f = 19, 8
		rng := rand.New(rand.NewPCG(1, 1))
		src := randPlanes(rng, c*sz.sh*sz.sw, 1)
		dh, dw := sz.sh*f, sz.sw*f
		dst := make([]float32, c*dh*dw)
		b.Run(sz.name+"/weighted", func(b *testing.B) {
			for b.Loop() {
				BilinearForm(dst, dh, dw, src, sz.sh, sz.sw, c, Weighted)
			}
		})
		b.Run(sz.name+"/lerp", func(b *testing.B) {
			for b.Loop() {
				BilinearForm(dst, dh, dw, src, sz.sh, sz.sw, c, Lerp)
			}
		})
		b.Run(sz.name+"/reference", func(b *testing.B) {
			for b.Loop() {
				refBilinear(dst, dh, dw, src, sz.sh, sz.sw, c, Weighted)
			}
		})
	}
}
