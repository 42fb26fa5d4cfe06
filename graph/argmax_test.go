package graph

import (
	"math/rand/v2"
	"testing"
)

// argmaxReference materialises the upsampled logits with ResizeBilinear, then takes argmax.
func argmaxReference(logits *Tensor, H, W int) []int32 {
	up := NewTensor(logits.N, logits.C, H, W)
	ResizeBilinear(up, logits)
	out := make([]int32, logits.N*H*W)
	for n := 0; n < logits.N; n++ {
		for i := 0; i < H*W; i++ {
			best, arg := float32(0), int32(0)
			for k := 0; k < logits.C; k++ {
				v := up.Data[(n*logits.C+k)*H*W+i]
				if k == 0 || v > best {
					best, arg = v, int32(k)
				}
			}
			out[n*H*W+i] = arg
		}
	}
	return out
}

func TestArgmaxUpsampledMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, c, h, w, H, W int }{
		{1, 3, 4, 5, 16, 20}, {2, 7, 3, 3, 24, 17}, {1, 2, 8, 8, 8, 8}, {1, 5, 6, 4, 3, 2}, {1, 4, 1, 1, 5, 5},
	} {
		lg := NewTensor(tc.n, tc.c, tc.h, tc.w)
		for i := range lg.Data {
			lg.Data[i] = float32(rng.NormFloat64())
		}
		got := make([]int32, tc.n*tc.H*tc.W)
		ArgmaxUpsampled(got, lg, tc.H, tc.W)
		want := argmaxReference(lg, tc.H, tc.W)
		diff := 0
		for i := range got {
			if got[i] != want[i] {
				diff++
			}
		}
		// Float rounding may flip near-ties; anything more is a bug.
		if diff > len(got)/200 {
			t.Errorf("case %+v: %d of %d labels differ from the reference", tc, diff, len(got))
		}
	}
}
