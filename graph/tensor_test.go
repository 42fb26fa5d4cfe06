package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestTensorFrom(t *testing.T) {
	cases := []struct {
		n     int
		shape []int64
		ok    bool
	}{
		{24, []int64{1, 2, 3, 4}, true},
		{1, []int64{1, 1, 1, 1}, true},
		{24, []int64{2, 3, 4}, false},
		{24, []int64{1, 2, 3, 4, 1}, false},
		{0, []int64{0, 2, 3, 4}, false},
		{24, []int64{-1, -2, 3, 4}, false},
		{23, []int64{1, 2, 3, 4}, false},
		{25, []int64{1, 2, 3, 4}, false},
		{8, []int64{1 << 40, 1 << 40, 1 << 40, 8}, false},
		{0, nil, false},
	}
	for _, tc := range cases {
		data := make([]float32, tc.n)
		x, err := TensorFrom(data, tc.shape)
		if tc.ok {
			if err != nil {
				t.Errorf("TensorFrom(%d values, %v): %v", tc.n, tc.shape, err)
				continue
			}
			if x.N != int(tc.shape[0]) || x.C != int(tc.shape[1]) || x.H != int(tc.shape[2]) || x.W != int(tc.shape[3]) || &x.Data[0] != &data[0] {
				t.Errorf("TensorFrom(%d values, %v) = %dx%dx%dx%d, not over data", tc.n, tc.shape, x.N, x.C, x.H, x.W)
			}
			continue
		}
		if !errors.Is(err, ErrShape) {
			t.Errorf("TensorFrom(%d values, %v): error %v, want ErrShape", tc.n, tc.shape, err)
		}
	}
}

// TestExecThreads checks the Exec kernels against the package-level ones
// under the deprecated default set to the same count (bit for bit), and
// the argmax and resize, whose pixels are independent, across counts.
func TestExecThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const H, W = 40, 56
	logits := randTensor(rng, 2, 7, 5, 7, 2)
	labels := randLabels(rng, 2*H*W, 7, 0.1, 255)
	coef := make([]float32, len(labels))
	for i := range coef {
		coef[i] = float32(rng.Float64())
	}
	var arg1 []int32
	var up1 *Tensor
	for _, threads := range []int{1, 2, 5} {
		name := fmt.Sprintf("threads %d", threads)
		// kernels runs every kernel once with a fresh Exec and fresh outputs.
		kernels := func() (ce, pr []float32, g *Tensor, arg []int32, up *Tensor) {
			ex := Exec{Threads: threads}
			ce, pr = make([]float32, len(labels)), make([]float32, len(labels))
			g = NewTensor(2, 7, 5, 7)
			arg = make([]int32, 2*H*W)
			up = NewTensor(2, 7, H, W)
			ex.PixelCE(ce, pr, logits, labels, H, W, 255)
			ex.PixelCEBackward(g, logits, labels, coef, H, W, 255)
			ex.ArgmaxUpsampled(arg, logits, H, W)
			ex.ResizeBilinear(up, logits)
			return ce, pr, g, arg, up
		}
		ce, pr, g, arg, up := kernels()
		ce2, pr2, g2, arg2, up2 := kernels()

		if maxAbsDiff(ce, ce2) != 0 || maxAbsDiff(pr, pr2) != 0 || maxAbsDiff(g.Data, g2.Data) != 0 || maxAbsDiff(up.Data, up2.Data) != 0 {
			t.Errorf("%s: two runs of one thread count differ", name)
		}
		for i := range arg {
			if arg[i] != arg2[i] {
				t.Fatalf("%s: argmax differs at %d", name, i)
			}
		}
		if arg1 == nil {
			arg1, up1 = arg, up
			continue
		}
		for i := range arg {
			if arg[i] != arg1[i] {
				t.Fatalf("%s: argmax differs from one thread at %d", name, i)
			}
		}
		if maxAbsDiff(up.Data, up1.Data) != 0 {
			t.Errorf("%s: resize differs from one thread", name)
		}
	}
}
