package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Result is an evaluation that can be saved, loaded and merged: the
// confusion matrix with its class names, the number of images and the
// shards it covers.
type Result struct {
	Names  []string
	Conf   *Confusion
	Images int
	Shards []Shard           // the shards summed into this result, sorted
	Meta   map[string]string // free-form provenance (model, data, ...)
}

// NewResult returns an empty result for the named classes and one shard.
func NewResult(names []string, shard Shard) *Result {
	return &Result{Names: slices.Clone(names), Conf: NewConfusion(len(names)), Shards: []Shard{shard}}
}

// Report computes the metrics of r.
func (r *Result) Report() Report { return r.Conf.Report(r.Names) }

// Missing returns the shards of the same count that r does not cover
// (nil when r holds shards of different counts).
func (r *Result) Missing() []Shard {
	if len(r.Shards) == 0 {
		return nil
	}
	n := r.Shards[0].N
	have := map[int]bool{}
	for _, s := range r.Shards {
		if s.N != n {
			return nil
		}
		have[s.I] = true
	}
	var miss []Shard
	for i := 0; i < n; i++ {
		if !have[i] {
			miss = append(miss, Shard{i, n})
		}
	}
	return miss
}

// jsonFile is the on-disk form. Metrics is informational: Load recomputes
// everything from the matrix.
type jsonFile struct {
	Classes    []string          `json:"classes"`
	Images     int               `json:"images"`
	Shards     []string          `json:"shards"`
	Confusion  [][]int64         `json:"confusion"` // rows: label, columns: prediction
	OutOfRange []int64           `json:"out_of_range"`
	BadLabels  int64             `json:"bad_labels"`
	Meta       map[string]string `json:"meta,omitempty"`
	Metrics    *jsonMetrics      `json:"metrics,omitempty"`
}

type jsonClass struct {
	Name   string   `json:"name"`
	IoU    *float64 `json:"iou"`
	Acc    *float64 `json:"acc"`
	Dice   *float64 `json:"dice"`
	Absent bool     `json:"absent,omitempty"`
	Label  int64    `json:"label_pixels"`
	Pred   int64    `json:"pred_pixels"`
}

type jsonMetrics struct {
	AAcc    *float64    `json:"aAcc"`
	MIoU    *float64    `json:"mIoU"`
	MAcc    *float64    `json:"mAcc"`
	MDice   *float64    `json:"mDice"`
	FWIoU   *float64    `json:"fwIoU"`
	Absent  int         `json:"absent_classes"`
	Pixels  int64       `json:"pixels"`
	Note    string      `json:"note"`
	Classes []jsonClass `json:"classes"`
}

// num turns NaN into JSON null.
func num(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// MarshalJSON writes the report with undefined values as null.
func (r Report) MarshalJSON() ([]byte, error) { return json.Marshal(r.jsonMetrics()) }

func (r Report) jsonMetrics() *jsonMetrics {
	m := &jsonMetrics{AAcc: num(r.AAcc), MIoU: num(r.MIoU), MAcc: num(r.MAcc), MDice: num(r.MDice),
		FWIoU: num(r.FWIoU), Absent: r.Absent, Pixels: r.Pixels,
		Note: "fractions in [0,1]; null = undefined; absent classes are left out of the means"}
	for _, c := range r.Classes {
		m.Classes = append(m.Classes, jsonClass{Name: c.Name, IoU: num(c.IoU), Acc: num(c.Acc), Dice: num(c.Dice),
			Absent: c.Absent, Label: c.Label, Pred: c.Pred})
	}
	return m
}

// MarshalJSON writes r with its full confusion matrix and, for people, its
// metrics.
func (r *Result) MarshalJSON() ([]byte, error) {
	k := r.Conf.K
	r.Conf.init()
	f := jsonFile{Classes: r.Names, Images: r.Images, OutOfRange: r.Conf.OutOfRange, BadLabels: r.Conf.BadLabels,
		Meta: r.Meta, Metrics: r.Report().jsonMetrics()}
	for _, s := range r.Shards {
		f.Shards = append(f.Shards, s.String())
	}
	for g := 0; g < k; g++ {
		f.Confusion = append(f.Confusion, r.Conf.M[g*k:(g+1)*k])
	}
	return json.MarshalIndent(f, "", " ")
}

// UnmarshalJSON reads what MarshalJSON wrote, checking its consistency.
func (r *Result) UnmarshalJSON(b []byte) error {
	var f jsonFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	k := len(f.Classes)
	if k == 0 {
		return errors.New("no classes")
	}
	if len(f.Confusion) != k {
		return fmt.Errorf("%d classes but %d confusion rows", k, len(f.Confusion))
	}
	c := NewConfusion(k)
	for g, row := range f.Confusion {
		if len(row) != k {
			return fmt.Errorf("confusion row %d has %d entries, want %d", g, len(row), k)
		}
		for p, v := range row {
			if v < 0 {
				return fmt.Errorf("negative count %d at row %d column %d", v, g, p)
			}
			c.M[g*k+p] = v
		}
	}
	if f.OutOfRange != nil {
		if len(f.OutOfRange) != k {
			return fmt.Errorf("out_of_range has %d entries, want %d", len(f.OutOfRange), k)
		}
		copy(c.OutOfRange, f.OutOfRange)
	}
	c.BadLabels = f.BadLabels
	var shards []Shard
	for _, s := range f.Shards {
		sh, err := ParseShard(s)
		if err != nil {
			return err
		}
		shards = append(shards, sh)
	}
	*r = Result{Names: f.Classes, Conf: c, Images: f.Images, Shards: shards, Meta: f.Meta}
	return nil
}

// Save writes r as JSON to path atomically (temporary file, sync, rename).
func (r *Result) Save(path string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	return nil
}

// Load reads a result written by Save.
func Load(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	r := new(Result)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", path, err)
	}
	return r, nil
}

// Merge sums results into a new one. The class names must be identical.
// A shard i/N with N > 1 that occurs in two results is an error, since its
// pixels would be counted twice; whole-dataset results (0/1) may be merged
// freely (for example evaluations of different datasets). Meta is kept
// where all results agree.
func Merge(rs ...*Result) (*Result, error) {
	if len(rs) == 0 {
		return nil, errors.New("metrics: nothing to merge")
	}
	out := &Result{Names: slices.Clone(rs[0].Names), Conf: NewConfusion(len(rs[0].Names)), Meta: map[string]string{}}
	for k, v := range rs[0].Meta {
		out.Meta[k] = v
	}
	seen := map[Shard]int{}
	for i, r := range rs {
		if !slices.Equal(r.Names, out.Names) {
			return nil, fmt.Errorf("metrics: result %d has classes [%s], result 1 has [%s]",
				i+1, strings.Join(r.Names, ", "), strings.Join(out.Names, ", "))
		}
		if err := out.Conf.Merge(r.Conf); err != nil {
			return nil, err
		}
		out.Images += r.Images
		for _, s := range r.Shards {
			if j, ok := seen[s]; ok && s.N > 1 {
				return nil, fmt.Errorf("metrics: shard %s is in results %d and %d; its pixels would count twice", s, j+1, i+1)
			}
			seen[s] = i
			out.Shards = append(out.Shards, s)
		}
		for k, v := range out.Meta {
			if r.Meta[k] != v {
				delete(out.Meta, k)
			}
		}
	}
	sort.Slice(out.Shards, func(a, b int) bool {
		x, y := out.Shards[a], out.Shards[b]
		if x.N != y.N {
			return x.N < y.N
		}
		return x.I < y.I
	})
	if len(out.Meta) == 0 {
		out.Meta = nil
	}
	return out, nil
}
