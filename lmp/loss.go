package lmp

import (
	"fmt"
)

// Batch is the per-pixel view of one batch that a Loss reduces. Pixels of image k are
// [k*HW, (k+1)*HW). CE[i] = -log softmax(z_i)[label_i] (0 where ignored); Prob[i] =
// softmax(z_i)[label_i]. A pixel is ignored when its label equals Ignore or is negative.
type Batch struct {
	N, HW  int
	CE     []float32
	Prob   []float32
	Labels []int32
	Ignore int32
}

// valid reports whether pixel i counts.
func (b *Batch) valid(i int) bool {
	y := b.Labels[i]
	return y != b.Ignore && y >= 0
}

// check returns an error when the slices do not match N*HW (Prob may be nil for losses that
// do not need it).
func (b *Batch) check(dst []float32, needProb bool) error {
	n := b.N * b.HW
	if b.N < 0 || b.HW < 0 || len(dst) != n || len(b.CE) != n || len(b.Labels) != n || (needProb && len(b.Prob) != n) {
		return fmt.Errorf("lmp: batch N=%d HW=%d with len(dst)=%d, len(CE)=%d, len(Prob)=%d, len(Labels)=%d: %w",
			b.N, b.HW, len(dst), len(b.CE), len(b.Prob), len(b.Labels), ErrInput)
	}
	return nil
}

// A Loss turns a Batch into a scalar loss and writes into dst[i] the coefficient c_i with
// dLoss/dz_i = c_i * (softmax(z_i) - onehot(label_i)); c_i = 0 for ignored pixels.
// dst therefore also serves as "the per-pixel weights it used" for logging.
//
// Reduce returns an error wrapping ErrInput, and never panics, when the lengths of dst and
// the Batch slices do not match; it may also reject invalid data (lmp and topk reject
// non-finite cross-entropies). It does not modify the Batch, and the loss does not depend on
// the order of the images in the batch. A batch without valid pixels has loss 0 and all
// coefficients 0.
type Loss interface {
	Name() string
	Reduce(dst []float32, b Batch) (float64, error)
}

// Options parametrises the losses made by New. Fields a loss does not use are ignored.
//
//   - lmp: P in [1, +Inf] and Ratio in [0, 1] (m = Ratio*n, at least 1), pooled per image
//     (the paper; the batch loss is the mean over images with valid pixels) or over all
//     valid pixels of the batch when PerBatch.
//   - focal: Gamma >= 0 (0 is plain cross-entropy).
//   - ohem: Thresh in (0, 1] (0 means 0.7) and MinKept >= 0 (0 means 100000).
//   - topk: TopK in (0, 1] (0 means 0.25).
//   - wce: ClassWeights, one non-negative weight per class, not all zero.
//
// Run folders store Options as JSON with the field names as keys.
type Options struct {
	P, Ratio     float64
	PerBatch     bool
	Gamma        float64
	Thresh       float64
	MinKept      int
	TopK         float64
	ClassWeights []float32
}
