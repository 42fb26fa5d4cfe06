package lmp

import "fmt"

func init() {
	Register("lmp", Maker{
		Doc: "Loss Max-Pooling of the cross-entropies with norm exponent P and ratio Ratio, per image or PerBatch",
		New: newLMP,
	})
}

// newLMP checks P in [1, +Inf] and Ratio in [0, 1], the ranges of Weights.
func newLMP(o Options) (Loss, error) {
	if !(o.P >= 1) {
		return nil, fmt.Errorf("p %v: want a number >= 1 or +Inf", o.P)
	}
	if !(o.Ratio >= 0 && o.Ratio <= 1) {
		return nil, fmt.Errorf("ratio %v: want a number in [0, 1] (m = ratio*n, at least 1)", o.Ratio)
	}
	return lmpLoss{o.P, o.Ratio, o.PerBatch}, nil
}

// lmpLoss is Loss Max-Pooling of the valid cross-entropies.
type lmpLoss struct {
	p, ratio float64
	perBatch bool
}

func (lmpLoss) Name() string { return "lmp" }

func (l lmpLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	return pooled(dst, b, l.p, l.ratio, l.perBatch)
}

// pooled applies Weights to the valid losses of the whole batch (perBatch) or of each image;
// per image, the batch loss is the mean of the pooled losses of the images with valid pixels.
// It serves lmp and topk.
func pooled(dst []float32, b Batch, p, ratio float64, perBatch bool) (float64, error) {
	clear(dst)
	groups, size := b.N, b.HW
	if perBatch {
		groups, size = 1, b.N*b.HW
	}
	ls := make([]float32, 0, size)
	ws := make([]float32, size)
	idx := make([]int, 0, size)
	var total float64
	used := 0
	for g := 0; g < groups; g++ {
		ls, idx = ls[:0], idx[:0]
		for i := g * size; i < (g+1)*size; i++ {
			if b.valid(i) {
				ls = append(ls, b.CE[i])
				idx = append(idx, i)
			}
		}
		if len(ls) == 0 {
			continue
		}
		L, err := Weights(ws[:len(ls)], ls, p, ratio)
		if err != nil {
			return 0, fmt.Errorf("lmp: pooling image %d: %w", g, err)
		}
		total += L
		used++
		for j, i := range idx {
			dst[i] = ws[j]
		}
	}
	if used == 0 {
		return 0, nil
	}
	if used > 1 {
		inv := float32(1 / float64(used))
		for i := range dst {
			dst[i] *= inv
		}
	}
	return total / float64(used), nil
}
