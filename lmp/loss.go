package lmp

import (
	"fmt"
	"math"
	"slices"
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
//   - wce: ClassWeights, one non-negative weight per class.
type Options struct {
	P, Ratio     float64
	PerBatch     bool
	Gamma        float64
	Thresh       float64
	MinKept      int
	TopK         float64
	ClassWeights []float32
}

// Defaults of New for zero Options fields.
const (
	DefaultThresh  = 0.7
	DefaultMinKept = 100000
	DefaultTopK    = 0.25
)

// New returns the loss called name: ce, wce, ohem, topk, focal or lmp (see Options).
// It returns an error wrapping ErrInput for an unknown name or invalid options.
func New(name string, o Options) (Loss, error) {
	bad := func(format string, a ...any) (Loss, error) {
		return nil, fmt.Errorf("lmp: loss %s: "+format+": %w", append(append([]any{name}, a...), ErrInput)...)
	}
	switch name {
	case "ce":
		return ceLoss{}, nil
	case "wce":
		if len(o.ClassWeights) == 0 {
			return bad("no class weights")
		}
		for c, w := range o.ClassWeights {
			if !(w >= 0) || math.IsInf(float64(w), 1) {
				return bad("class weight %d is %v", c, w)
			}
		}
		return wceLoss{slices.Clone(o.ClassWeights)}, nil
	case "ohem":
		t, k := o.Thresh, o.MinKept
		if t == 0 {
			t = DefaultThresh
		}
		if k == 0 {
			k = DefaultMinKept
		}
		if !(t > 0 && t <= 1) {
			return bad("threshold %v outside (0, 1]", o.Thresh)
		}
		if k < 0 {
			return bad("min kept %d < 0", k)
		}
		return ohemLoss{t, k}, nil
	case "topk":
		k := o.TopK
		if k == 0 {
			k = DefaultTopK
		}
		if !(k > 0 && k <= 1) {
			return bad("top-k fraction %v outside (0, 1]", o.TopK)
		}
		return topkLoss{k}, nil
	case "focal":
		if !(o.Gamma >= 0) || math.IsInf(o.Gamma, 1) {
			return bad("gamma %v, want a finite value >= 0", o.Gamma)
		}
		return focalLoss{o.Gamma}, nil
	case "lmp":
		if math.IsNaN(o.P) || o.P < 1 {
			return bad("p = %v, want p >= 1", o.P)
		}
		if !(o.Ratio >= 0 && o.Ratio <= 1) {
			return bad("ratio = %v outside [0, 1]", o.Ratio)
		}
		return lmpLoss{o.P, o.Ratio, o.PerBatch}, nil
	}
	return nil, fmt.Errorf("lmp: unknown loss %q (want ce, wce, ohem, topk, focal or lmp): %w", name, ErrInput)
}

// ceLoss is the mean cross-entropy over the valid pixels.
type ceLoss struct{}

func (ceLoss) Name() string { return "ce" }

func (ceLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	nv := 0
	var s float64
	for i, x := range b.CE {
		if b.valid(i) {
			nv++
			s += float64(x)
		}
	}
	c := float32(0)
	if nv > 0 {
		c = float32(1 / float64(nv))
	}
	for i := range dst {
		dst[i] = 0
		if b.valid(i) {
			dst[i] = c
		}
	}
	if nv == 0 {
		return 0, nil
	}
	return s / float64(nv), nil
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
			return 0, fmt.Errorf("lmp: wce: pixel %d has label %d but there are %d class weights: %w", i, y, len(l.w), ErrInput)
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

// focalLoss is the mean over valid pixels of -(1-p)^gamma log p.
type focalLoss struct{ gamma float64 }

func (focalLoss) Name() string { return "focal" }

func (l focalLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	nv := 0
	for i := range b.CE {
		if b.valid(i) {
			nv++
		}
	}
	clear(dst)
	if nv == 0 {
		return 0, nil
	}
	g := l.gamma
	var s float64
	for i, x := range b.CE {
		if !b.valid(i) {
			continue
		}
		ce := float64(x)
		p := math.Exp(-ce)
		om := -math.Expm1(-ce) // 1-p, accurate near p = 1
		// loss = (1-p)^g * ce; dloss/dz = [(1-p)^g - g*p*(1-p)^(g-1)*log p] (softmax - onehot),
		// and -log p = ce; the second term vanishes at p = 1 for g > 0.
		f := math.Pow(om, g)
		s += f * ce
		c := f
		if g != 0 && om > 0 {
			c += g * p * math.Pow(om, g-1) * ce
		}
		dst[i] = float32(c / float64(nv))
	}
	return s / float64(nv), nil
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
