package lmp

import "fmt"

// DefaultTopK is the fraction of the topk loss for a zero Options.TopK.
const DefaultTopK = 0.25

func init() {
	Register("topk", Maker{
		Doc: "mean cross-entropy of the hardest fraction TopK of the valid pixels of the batch",
		New: newTopK,
	})
}

// newTopK checks TopK in (0, 1], zero meaning the default.
func newTopK(o Options) (Loss, error) {
	k := o.TopK
	if k == 0 {
		k = DefaultTopK
	}
	if !(k > 0 && k <= 1) {
		return nil, fmt.Errorf("fraction %v: want a number in (0, 1] (0 means %v)", o.TopK, DefaultTopK)
	}
	return topkLoss{k}, nil
}

// topkLoss is the mean of the largest fraction k of the valid cross-entropies of the batch
// (DeepLab's bootstrapped cross-entropy), with a fractional share for the pixel at the
// boundary: Loss Max-Pooling with p = 1 and ratio k.
type topkLoss struct{ k float64 }

func (topkLoss) Name() string { return "topk" }

func (l topkLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	return pooled(dst, b, 1, l.k, true)
}
