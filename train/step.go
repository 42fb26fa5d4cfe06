package train

import (
	"fmt"
	"math"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/lmp"
)

// Batch is one training batch: backbone features and the label maps at label resolution.
type Batch struct {
	Feat   *graph.Tensor // N x C x h x w
	Labels []int32       // N x H x W
	H, W   int
	Names  []string // sample names, for error messages
}

// StepStats describes one training step.
type StepStats struct {
	Loss     float64
	LR       float64
	GradNorm float64
	Valid    int     // labelled pixels in the batch
	EffFrac  float64 // effective fraction of pixels the loss weighs: (Σc)²/(Σc²)/valid
	MaxW     float64 // largest per-pixel coefficient times the valid count (1 for the mean)
	// ClassTotal[c] counts the labelled pixels of class c in the batch and ClassCorrect[c] those
	// where the head's upsampled logits (before the update) peak at c; filled only when
	// Stepper.ClassStats is set, nil otherwise.
	ClassCorrect, ClassTotal []int64
}

// Stepper performs training steps of a head. Its scratch buffers are reused between steps, so
// that memory grows with the number of label pixels, never with pixels times classes.
type Stepper struct {
	Head   graph.Trainable
	Opt    Optimizer
	Loss   lmp.Loss
	Sched  Schedule
	Clip   float64
	Ignore int32
	Seed   int64 // with the iteration, seeds the head's dropout at each step
	// Threads is the thread count of the loss kernels (0: the default, all cores); the head has
	// its own (SetThreads).
	Threads int
	// ClassStats fills StepStats.ClassCorrect and ClassTotal (an argmax at label resolution per
	// step; it reads the logits and changes no other number).
	ClassStats bool

	ce, prob, coef []float32
	pred           []int32
	dlogits        *graph.Tensor
}

// NumericError reports a NaN or Inf met during a step.
type NumericError struct {
	Iter   int
	Tensor string
	Sample string
}

func (e *NumericError) Error() string {
	return fmt.Sprintf("train: non-finite values in %s at iteration %d (sample %s); lower --lr, clip the gradient norm (--clip 1) or check the data", e.Tensor, e.Iter, e.Sample)
}

func firstNonFinite(x []float32, per int) int {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i / per
		}
	}
	return -1
}

// checkLabels reports the first label that is neither a class nor the ignore label.
func checkLabels(b *Batch, classes int, ignore int32) error {
	hw := b.H * b.W
	for i, l := range b.Labels {
		if l != ignore && (l < 0 || int(l) >= classes) {
			name := "?"
			if k := i / max(hw, 1); k < len(b.Names) {
				name = b.Names[k]
			}
			p := i % max(hw, 1)
			return fmt.Errorf("image %s: label %d at pixel (%d, %d) is neither a class (0..%d) nor the ignore label %d; give --ignore the value your labels use for unlabelled pixels, or --classes", name, l, p/max(b.W, 1), p%max(b.W, 1), classes-1, ignore)
		}
	}
	return nil
}

// Step runs forward, loss, pooling, backward and the update on b at iteration it (0-based).
func (s *Stepper) Step(b *Batch, it int) (StepStats, error) {
	name := func(k int) string {
		if k >= 0 && k < len(b.Names) {
			return b.Names[k]
		}
		return "?"
	}
	n := b.Feat.N
	if err := s.Head.CheckTensor(b.Feat); err != nil {
		return StepStats{}, fmt.Errorf("train: iteration %d: %w", it, err)
	}
	if err := checkLabels(b, s.Head.Classes(), s.Ignore); err != nil {
		return StepStats{}, fmt.Errorf("train: iteration %d: %w", it, err)
	}
	if k := firstNonFinite(b.Feat.Data, b.Feat.C*b.Feat.H*b.Feat.W); k >= 0 {
		return StepStats{}, &NumericError{Iter: it, Tensor: "backbone features", Sample: name(k)}
	}
	s.Head.SetDropoutSeed(uint64(s.Seed)*0x9e3779b97f4a7c15 ^ uint64(it))
	logits := s.Head.Forward(b.Feat, true)
	if logits.C != s.Head.Classes() {
		// A lifted decoder whose classifier Lift could not find and replace scores the model's
		// classes, not the data's.
		return StepStats{}, fmt.Errorf("train: iteration %d: the net scores %d classes, the data has %d; give --reset-classifier, or --classes %d", it, logits.C, s.Head.Classes(), logits.C)
	}
	if k := firstNonFinite(logits.Data, logits.C*logits.H*logits.W); k >= 0 {
		return StepStats{}, &NumericError{Iter: it, Tensor: "head logits", Sample: name(k)}
	}
	np := n * b.H * b.W
	if cap(s.ce) < np {
		s.ce, s.prob, s.coef = make([]float32, np), make([]float32, np), make([]float32, np)
	}
	s.ce, s.prob, s.coef = s.ce[:np], s.prob[:np], s.coef[:np]
	graph.Exec{Threads: s.Threads}.PixelCE(s.ce, s.prob, logits, b.Labels, b.H, b.W, s.Ignore)
	loss, err := s.Loss.Reduce(s.coef, lmp.Batch{N: n, HW: b.H * b.W, CE: s.ce, Prob: s.prob, Labels: b.Labels, Ignore: s.Ignore})
	if err != nil {
		return StepStats{}, fmt.Errorf("train: iteration %d: %w", it, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return StepStats{}, &NumericError{Iter: it, Tensor: "loss", Sample: name(0)}
	}
	if k := firstNonFinite(s.coef, b.H*b.W); k >= 0 {
		return StepStats{}, &NumericError{Iter: it, Tensor: "loss weights", Sample: name(k)}
	}
	st := StepStats{Loss: loss, LR: s.Sched.At(it)}
	var sum, sum2, mx float64
	for i, c := range s.coef {
		if b.Labels[i] == s.Ignore {
			continue
		}
		st.Valid++
		sum += float64(c)
		sum2 += float64(c) * float64(c)
		mx = math.Max(mx, float64(c))
	}
	if sum2 > 0 && st.Valid > 0 {
		st.EffFrac = sum * sum / sum2 / float64(st.Valid)
		st.MaxW = mx * float64(st.Valid)
	}
	if s.ClassStats {
		s.classStats(&st, logits, b)
	}
	if s.dlogits == nil || s.dlogits.N != logits.N || s.dlogits.C != logits.C || s.dlogits.H != logits.H || s.dlogits.W != logits.W {
		s.dlogits = graph.NewTensor(logits.N, logits.C, logits.H, logits.W)
	} else {
		clear(s.dlogits.Data)
	}
	graph.Exec{Threads: s.Threads}.PixelCEBackward(s.dlogits, logits, b.Labels, s.coef, b.H, b.W, s.Ignore)
	s.Head.ZeroGrad()
	s.Head.Backward(s.dlogits)
	params := s.Head.Params()
	st.GradNorm = ClipGradNorm(params, s.Clip)
	if math.IsNaN(st.GradNorm) || math.IsInf(st.GradNorm, 0) {
		return StepStats{}, &NumericError{Iter: it, Tensor: "gradients", Sample: name(0)}
	}
	s.Opt.Step(params, st.LR)
	return st, nil
}

// classStats counts the labelled and the correctly predicted pixels of each class of b.
func (s *Stepper) classStats(st *StepStats, logits *graph.Tensor, b *Batch) {
	np := len(b.Labels)
	if cap(s.pred) < np {
		s.pred = make([]int32, np)
	}
	s.pred = s.pred[:np]
	graph.Exec{Threads: s.Threads}.ArgmaxUpsampled(s.pred, logits, b.H, b.W)
	k := logits.C
	st.ClassCorrect, st.ClassTotal = make([]int64, k), make([]int64, k)
	for i, l := range b.Labels {
		if l == s.Ignore || l < 0 || int(l) >= k {
			continue
		}
		st.ClassTotal[l]++
		if s.pred[i] == l {
			st.ClassCorrect[l]++
		}
	}
}
