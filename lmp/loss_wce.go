package lmp

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

func init() {
	Register("wce", Maker{
		Doc: "class-weighted mean cross-entropy with one weight per class (ClassWeights)",
		New: newWCE,
	})
}

// newWCE checks that there is a finite non-negative weight per class, not all of them zero.
func newWCE(o Options) (Loss, error) {
	if len(o.ClassWeights) == 0 {
		return nil, errors.New("no class weights: want one finite weight >= 0 per class")
	}
	pos := false
	for c, w := range o.ClassWeights {
		if !(w >= 0) || math.IsInf(float64(w), 1) {
			return nil, fmt.Errorf("class weight %d = %v: want a finite number >= 0", c, w)
		}
		pos = pos || w > 0
	}
	if !pos {
		return nil, fmt.Errorf("all %d class weights are 0: want at least one > 0", len(o.ClassWeights))
	}
	return wceLoss{slices.Clone(o.ClassWeights)}, nil
}

// wceLoss is the class-weighted mean cross-entropy sum_i w_{y_i} CE_i / sum_i w_{y_i} over the
// valid pixels, as PyTorch's CrossEntropyLoss with weight and reduction "mean".
type wceLoss struct{ w []float32 }

func (wceLoss) Name() string { return "wce" }

func (l wceLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	var s, den float64
	for i, x := range b.CE {
		dst[i] = 0
		if !b.valid(i) {
			continue
		}
		y := int(b.Labels[i])
		if y >= len(l.w) {
			return 0, fmt.Errorf("lmp: loss wce: pixel %d has label %d but there are %d class weights: %w", i, y, len(l.w), ErrInput)
		}
		den += float64(l.w[y])
		s += float64(l.w[y]) * float64(x)
	}
	if den == 0 {
		return 0, nil
	}
	for i := range dst {
		if b.valid(i) {
			dst[i] = float32(float64(l.w[b.Labels[i]]) / den)
		}
	}
	return s / den, nil
}

// ClassWeights returns per-class loss weights from a label histogram (pixel counts per class):
//
//   - "inverse": w_c = total/(K*hist_c), with K the number of classes present, so that the
//     average weight per pixel is 1;
//   - "median": median frequency balancing (Eigen and Fergus, ICCV 2015), w_c =
//     median_freq/freq_c with freq_c = hist_c/total and the median over the classes present.
//
// Classes absent from the histogram get weight 0. It returns an error for an empty
// histogram, negative counts, no pixels at all or an unknown method.
func ClassWeights(hist []int64, method string) ([]float32, error) {
	if method != "inverse" && method != "median" {
		return nil, fmt.Errorf("lmp: class weighting %q, want inverse or median: %w", method, ErrInput)
	}
	var total float64
	var present []float64
	for c, h := range hist {
		if h < 0 {
			return nil, fmt.Errorf("lmp: class %d has count %d: %w", c, h, ErrInput)
		}
		if h > 0 {
			total += float64(h)
			present = append(present, float64(h))
		}
	}
	if len(present) == 0 {
		return nil, fmt.Errorf("lmp: label histogram of %d classes has no pixels: %w", len(hist), ErrInput)
	}
	w := make([]float32, len(hist))
	var num float64 // w_c = num/hist_c
	switch method {
	case "inverse":
		num = total / float64(len(present))
	case "median":
		slices.Sort(present)
		k := len(present)
		med := present[k/2]
		if k%2 == 0 {
			med = 0.5 * (present[k/2-1] + present[k/2])
		}
		num = med // median_freq/freq_c = median_count/count_c
	}
	for c, h := range hist {
		if h > 0 {
			w[c] = float32(num / float64(h))
		}
	}
	return w, nil
}
