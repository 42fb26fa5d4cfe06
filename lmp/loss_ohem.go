package lmp

import (
	"fmt"
	"math"
)

// Defaults of the ohem loss for zero Options fields.
const (
	DefaultThresh  = 0.7
	DefaultMinKept = 100000
)

func init() {
	Register("ohem", Maker{
		Doc: "online hard example mining: mean cross-entropy of the pixels with probability below Thresh, at least MinKept of them",
		New: newOHEM,
	})
}

// newOHEM checks Thresh in (0, 1] and MinKept >= 0, zero meaning the defaults.
func newOHEM(o Options) (Loss, error) {
	t, k := o.Thresh, o.MinKept
	if t == 0 {
		t = DefaultThresh
	}
	if k == 0 {
		k = DefaultMinKept
	}
	if !(t > 0 && t <= 1) {
		return nil, fmt.Errorf("threshold %v: want a number in (0, 1] (0 means %v)", o.Thresh, DefaultThresh)
	}
	if k < 0 {
		return nil, fmt.Errorf("min kept %d: want an integer >= 0 (0 means %d)", o.MinKept, DefaultMinKept)
	}
	return ohemLoss{t, k}, nil
}

// ohemLoss is online hard example mining over the whole batch: the mean cross-entropy over
// the valid pixels whose ground-truth probability is below the threshold, or, when fewer
// than minKept pixels are, over the minKept valid pixels of lowest probability (ties with
// the last of them included).
type ohemLoss struct {
	thresh  float64
	minKept int
}

func (ohemLoss) Name() string { return "ohem" }

func (l ohemLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, true); err != nil {
		return 0, err
	}
	probs := make([]float32, 0, len(b.Prob))
	for i, p := range b.Prob {
		if b.valid(i) {
			probs = append(probs, p)
		}
	}
	clear(dst)
	if len(probs) == 0 {
		return 0, nil
	}
	k := min(l.minKept, len(probs))
	// Keep prob < thresh, and prob <= the k-th smallest probability.
	kth := float32(math.Inf(-1))
	if k > 0 {
		kth = nthSmallest(probs, k-1)
	}
	th := float32(l.thresh)
	keep := func(p float32) bool { return p < th || p <= kth }
	nk := 0
	var s float64
	for i, p := range b.Prob {
		if b.valid(i) && keep(p) {
			nk++
			s += float64(b.CE[i])
		}
	}
	if nk == 0 {
		return 0, nil
	}
	c := float32(1 / float64(nk))
	for i, p := range b.Prob {
		if b.valid(i) && keep(p) {
			dst[i] = c
		}
	}
	return s / float64(nk), nil
}
