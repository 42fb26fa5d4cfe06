package metrics

import (
	"fmt"
	"math"
	"strconv"
)

// Confusion is a K x K confusion matrix of pixel counts: M[gt*K+pred].
//
// Add skips pixels whose label is the ignore label. A label that is neither
// ignore nor in [0, K) cannot be placed; such pixels are skipped and counted
// in BadLabels (the data package rejects them earlier). A prediction outside
// [0, K) is an error of the pixel's true class: it is counted in
// OutOfRange[gt], which makes it a false negative of gt (lowering gt's
// accuracy and IoU and the overall accuracy) without being a false positive
// of any class.
type Confusion struct {
	K          int
	M          []int64 // M[gt*K+pred], pixel counts
	OutOfRange []int64 // per true class, pixels predicted outside [0, K)
	BadLabels  int64   // pixels whose label is neither a class nor ignore
}

// NewConfusion returns an empty K-class confusion matrix.
// It panics if k < 1.
func NewConfusion(k int) *Confusion {
	if k < 1 {
		panic(fmt.Sprintf("metrics: NewConfusion(%d)", k))
	}
	return &Confusion{K: k, M: make([]int64, k*k), OutOfRange: make([]int64, k)}
}

func (c *Confusion) init() {
	if len(c.M) != c.K*c.K {
		if c.M != nil || c.K < 1 {
			panic(fmt.Sprintf("metrics: Confusion with K=%d has %d counts", c.K, len(c.M)))
		}
		c.M = make([]int64, c.K*c.K)
	}
	if c.OutOfRange == nil {
		c.OutOfRange = make([]int64, c.K)
	}
}

// Add counts the pixels of one label map gt against the prediction pred.
// It panics if the lengths differ.
func (c *Confusion) Add(gt, pred []int32, ignore int32) {
	if len(gt) != len(pred) {
		panic(fmt.Sprintf("metrics: Add: %d labels but %d predictions", len(gt), len(pred)))
	}
	c.init()
	k := uint32(c.K)
	m := c.M
	for i, g := range gt {
		p := pred[i]
		if g != ignore && uint32(g) < k && uint32(p) < k {
			m[uint32(g)*k+uint32(p)]++
			continue
		}
		switch {
		case g == ignore:
		case uint32(g) >= k:
			c.BadLabels++
		default:
			c.OutOfRange[g]++
		}
	}
}

// Merge adds the counts of o to c. The class counts must agree.
func (c *Confusion) Merge(o *Confusion) error {
	if o.K != c.K {
		return fmt.Errorf("metrics: cannot merge a %d-class confusion matrix into a %d-class one", o.K, c.K)
	}
	c.init()
	if len(o.M) != len(c.M) {
		return fmt.Errorf("metrics: confusion matrix with K=%d has %d counts", o.K, len(o.M))
	}
	for i, v := range o.M {
		c.M[i] += v
	}
	for i, v := range o.OutOfRange {
		c.OutOfRange[i] += v
	}
	c.BadLabels += o.BadLabels
	return nil
}

// Clone returns a deep copy of c.
func (c *Confusion) Clone() *Confusion {
	d := NewConfusion(c.K)
	d.Merge(c)
	return d
}

// ClassResult holds the metrics of one class. IoU, Acc and Dice are
// fractions in [0, 1], NaN where undefined.
type ClassResult struct {
	Name string
	// IoU = TP / (TP + FP + FN); NaN when the class is absent.
	IoU float64
	// Acc = TP / (TP + FN), the recall; NaN when the class has no labelled
	// pixels.
	Acc float64
	// Dice = 2 TP / (2 TP + FP + FN); NaN when the class is absent.
	Dice float64
	// Absent is set when the class occurs neither in the labels nor in the
	// predictions. Absent classes are left out of all means.
	Absent bool
	// Pixel counts: labelled as the class (TP + FN), predicted as the
	// class (TP + FP), and both (TP).
	Label, Pred, TP int64
}

// Report summarises a confusion matrix.
//
// mIoU, mAcc and mDice are unweighted means over the classes whose value is
// defined: absent classes are left out of all three, and classes that occur
// only in the predictions are left out of mAcc (their Acc is undefined)
// but count with IoU = Dice = 0. aAcc is the fraction of labelled pixels
// predicted correctly; fwIoU weighs each class's IoU by its share of the
// labelled pixels.
type Report struct {
	Classes                        []ClassResult
	AAcc, MIoU, MAcc, MDice, FWIoU float64
	Pixels                         int64 // labelled (not ignored) pixels counted
	Absent                         int   // number of absent classes
	OutOfRange, BadLabels          int64
}

// Report computes the metrics of c. names gives the class names; missing or
// empty names are replaced by the class index.
func (c *Confusion) Report(names []string) Report {
	c.init()
	k := c.K
	r := Report{Classes: make([]ClassResult, k), BadLabels: c.BadLabels}
	pred := make([]int64, k)
	for g := 0; g < k; g++ {
		for p := 0; p < k; p++ {
			pred[p] += c.M[g*k+p]
		}
	}
	var tpSum int64
	for i := 0; i < k; i++ {
		cr := &r.Classes[i]
		cr.Name = strconv.Itoa(i)
		if i < len(names) && names[i] != "" {
			cr.Name = names[i]
		}
		for p := 0; p < k; p++ {
			cr.Label += c.M[i*k+p]
		}
		cr.Label += c.OutOfRange[i]
		cr.Pred = pred[i]
		cr.TP = c.M[i*k+i]
		r.OutOfRange += c.OutOfRange[i]
		r.Pixels += cr.Label
		tpSum += cr.TP
		union := cr.Label + cr.Pred - cr.TP
		if cr.Label+cr.Pred == 0 {
			cr.Absent = true
			cr.IoU, cr.Acc, cr.Dice = math.NaN(), math.NaN(), math.NaN()
			r.Absent++
			continue
		}
		cr.IoU = float64(cr.TP) / float64(union)
		cr.Dice = 2 * float64(cr.TP) / float64(cr.Label+cr.Pred)
		cr.Acc = math.NaN()
		if cr.Label > 0 {
			cr.Acc = float64(cr.TP) / float64(cr.Label)
		}
	}
	r.AAcc = math.NaN()
	r.FWIoU = math.NaN()
	if r.Pixels > 0 {
		r.AAcc = float64(tpSum) / float64(r.Pixels)
		r.FWIoU = 0
		for _, cr := range r.Classes {
			if cr.Label > 0 {
				r.FWIoU += float64(cr.Label) / float64(r.Pixels) * cr.IoU
			}
		}
	}
	r.MIoU = nanMean(r.Classes, func(c ClassResult) float64 { return c.IoU })
	r.MAcc = nanMean(r.Classes, func(c ClassResult) float64 { return c.Acc })
	r.MDice = nanMean(r.Classes, func(c ClassResult) float64 { return c.Dice })
	return r
}

// nanMean averages the defined values; NaN when there are none.
func nanMean(cs []ClassResult, f func(ClassResult) float64) float64 {
	var s float64
	n := 0
	for _, c := range cs {
		if v := f(c); !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// IoUs returns the per-class IoU values of r (NaN for absent classes).
func (r Report) IoUs() []float64 {
	v := make([]float64, len(r.Classes))
	for i, c := range r.Classes {
		v[i] = c.IoU
	}
	return v
}
