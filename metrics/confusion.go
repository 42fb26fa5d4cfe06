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
//
// All counts are non-negative and their sum (M, OutOfRange and BadLabels
// together) fits in an int64, so that every row, column and total that
// Report forms fits too. Add and Merge keep it so, refusing counts that
// would overflow; Validate checks a matrix filled by other means.
type Confusion struct {
	K          int
	M          []int64 // M[gt*K+pred], pixel counts
	OutOfRange []int64 // per true class, pixels predicted outside [0, K)
	BadLabels  int64   // pixels whose label is neither a class nor ignore

	err error // set by Add when a label map could not be counted
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

// Err returns the error that made Add leave a label map uncounted, nil if
// every call counted its pixels. The error stays until the matrix is
// replaced; Merge and Validate return it too.
func (c *Confusion) Err() error { return c.err }

// cellName names cell i of a K-class matrix, with class names from name.
func cellName(i, k int, name func(int) string) string {
	return fmt.Sprintf("cell (label %s, prediction %s)", name(i/k), name(i%k))
}

func indexName(i int) string { return strconv.Itoa(i) }

// total returns the sum of all counts of c, or an error naming the count
// that is negative or with which the sum leaves the int64 range.
func (c *Confusion) total(name func(int) string) (int64, error) {
	var s int64
	// at reports the count that broke the sum: cell i, out-of-range count
	// i-K*K, or the bad-label count.
	at := func(i int, v int64) error {
		k := c.K
		what := "the bad-label count"
		switch {
		case i < len(c.M):
			what = cellName(i, k, name)
		case i < len(c.M)+len(c.OutOfRange):
			what = "out-of-range count of label " + name(i-len(c.M))
		}
		if v < 0 {
			return fmt.Errorf("%s is negative (%d)", what, v)
		}
		return fmt.Errorf("the sum of all counts overflows int64 at %s (%d + %d)", what, s, v)
	}
	for i, v := range c.M {
		if v < 0 || v > math.MaxInt64-s {
			return 0, at(i, v)
		}
		s += v
	}
	for i, v := range c.OutOfRange {
		if v < 0 || v > math.MaxInt64-s {
			return 0, at(len(c.M)+i, v)
		}
		s += v
	}
	if v := c.BadLabels; v < 0 || v > math.MaxInt64-s {
		return 0, at(len(c.M)+len(c.OutOfRange), v)
	}
	return s + c.BadLabels, nil
}

// Validate checks that c is a well-formed matrix: K >= 1, K*K cells and K
// out-of-range counts, none negative, their sum within int64, and no count
// left out by Add.
func (c *Confusion) Validate() error {
	if err := c.validate(indexName); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (c *Confusion) validate(name func(int) string) error {
	if c.K < 1 {
		return fmt.Errorf("confusion matrix with %d classes", c.K)
	}
	if len(c.M) != c.K*c.K {
		return fmt.Errorf("confusion matrix with %d classes has %d counts, want %d", c.K, len(c.M), c.K*c.K)
	}
	if c.OutOfRange != nil && len(c.OutOfRange) != c.K {
		return fmt.Errorf("confusion matrix with %d classes has %d out-of-range counts", c.K, len(c.OutOfRange))
	}
	if c.err != nil {
		return c.err
	}
	_, err := c.total(name)
	return err
}

// Add counts the pixels of one label map gt against the prediction pred.
// It panics if the lengths differ.
//
// If the counts could leave the int64 range (the matrix already holds
// nearly 2^63 pixels), Add counts nothing and records the error, which Err,
// Merge and Validate return.
func (c *Confusion) Add(gt, pred []int32, ignore int32) {
	if len(gt) != len(pred) {
		panic(fmt.Sprintf("metrics: Add: %d labels but %d predictions", len(gt), len(pred)))
	}
	c.init()
	if c.err != nil {
		return
	}
	// Each pixel raises at most one count by one, so the sum bounds them all.
	if s, err := c.total(indexName); err != nil {
		c.err = fmt.Errorf("metrics: Add: %w", err)
		return
	} else if int64(len(gt)) > math.MaxInt64-s {
		c.err = fmt.Errorf("metrics: Add: %d more pixels would overflow the %d counted so far", len(gt), s)
		return
	}
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

// addReference is the plain form of Add's loop that the tests compare it
// against.
func addReference(c *Confusion, gt, pred []int32, ignore int32) {
	for i := range gt {
		g, p := int(gt[i]), int(pred[i])
		switch {
		case gt[i] == ignore:
		case g < 0 || g >= c.K:
			c.BadLabels++
		case p < 0 || p >= c.K:
			c.OutOfRange[g]++
		default:
			c.M[g*c.K+p]++
		}
	}
}

// Merge adds the counts of o to c. The class counts must agree. Counts that
// would leave the int64 range are an error naming the cell, and leave c
// unchanged.
func (c *Confusion) Merge(o *Confusion) error {
	if err := c.merge(o, indexName); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// merge adds o to c, naming classes with name in its errors.
func (c *Confusion) merge(o *Confusion, name func(int) string) error {
	if o.K != c.K {
		return fmt.Errorf("cannot merge a %d-class confusion matrix into a %d-class one", o.K, c.K)
	}
	c.init()
	if err := o.validate(name); err != nil {
		return err
	}
	if err := c.validate(name); err != nil {
		return err
	}
	k := c.K
	sum := func(a, b int64, what func() string) (int64, error) {
		if b > math.MaxInt64-a { // both are non-negative
			return 0, fmt.Errorf("%s: %d + %d overflows int64", what(), a, b)
		}
		return a + b, nil
	}
	d := &Confusion{K: k, M: make([]int64, len(c.M)), OutOfRange: make([]int64, k)}
	var err error
	for i, v := range o.M {
		if d.M[i], err = sum(c.M[i], v, func() string { return cellName(i, k, name) }); err != nil {
			return err
		}
	}
	if o.OutOfRange != nil {
		for g, v := range o.OutOfRange {
			if d.OutOfRange[g], err = sum(c.OutOfRange[g], v, func() string { return "out-of-range count of label " + name(g) }); err != nil {
				return err
			}
		}
	} else {
		copy(d.OutOfRange, c.OutOfRange)
	}
	if d.BadLabels, err = sum(c.BadLabels, o.BadLabels, func() string { return "bad-label count" }); err != nil {
		return err
	}
	if _, err := d.total(name); err != nil {
		return err
	}
	c.M, c.OutOfRange, c.BadLabels = d.M, d.OutOfRange, d.BadLabels
	return nil
}

// Clone returns a deep copy of c, including an error recorded by Add.
func (c *Confusion) Clone() *Confusion {
	c.init()
	d := NewConfusion(c.K)
	copy(d.M, c.M)
	copy(d.OutOfRange, c.OutOfRange)
	d.BadLabels, d.err = c.BadLabels, c.err
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
// empty names are replaced by the class index. The counts must satisfy the
// invariant of Confusion (see Validate); Add, Merge and Load keep it.
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
		// Label + Pred may exceed an int64 where the total does not;
		// the union (at most the total) may not.
		union := cr.Label + (cr.Pred - cr.TP)
		if cr.Label == 0 && cr.Pred == 0 {
			cr.Absent = true
			cr.IoU, cr.Acc, cr.Dice = math.NaN(), math.NaN(), math.NaN()
			r.Absent++
			continue
		}
		cr.IoU = float64(cr.TP) / float64(union)
		cr.Dice = 2 * float64(cr.TP) / (float64(cr.Label) + float64(cr.Pred))
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
