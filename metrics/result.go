package metrics

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Result is an evaluation that can be saved, loaded and merged: the
// confusion matrix with its class names, the number of images and the
// shards it covers.
//
// A result is keyed by its shards: every result names the shards i/N of the
// dataset whose pixels it counts, all with the same N and none twice, and
// Parts says how many images each shard holds and which report it came
// from, so that a merged result says what it contains.
type Result struct {
	Names  []string
	Conf   *Confusion
	Images int
	Shards []Shard           // the shards summed into this result, sorted
	Meta   map[string]string // free-form provenance (model, data, ...)

	// Parts has one entry per shard, in the order of Shards; nil when the
	// split of the images over several shards is not known. A result of
	// one shard needs none: its part is the whole result.
	Parts []Part
	// DatasetImages is the number of images of the whole dataset that the
	// shards divide, 0 when unknown. When known, no shard may hold more
	// images than its share of the dataset.
	DatasetImages int
	// Source is the file Load read the result from; it is not saved.
	Source string
}

// Part is one shard of a result: its images and the report it came from.
type Part struct {
	Shard  Shard
	Images int
	Source string // the report file the shard was read from; empty if none
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

// parts returns the parts of r: Parts, or for a result of one shard the
// whole result; nil when not known.
func (r *Result) parts() []Part {
	if r.Parts != nil {
		return r.Parts
	}
	if len(r.Shards) == 1 {
		return []Part{{Shard: r.Shards[0], Images: r.Images, Source: r.Source}}
	}
	return nil
}

// shareOf returns how many of n items shard s holds.
func shareOf(s Shard, n int) int {
	if s.I >= n {
		return 0
	}
	return (n-s.I-1)/s.N + 1
}

// className returns a function that names class i of r, quoted.
func (r *Result) className() func(int) string {
	return func(i int) string {
		if i < len(r.Names) {
			return strconv.Quote(r.Names[i])
		}
		return strconv.Itoa(i)
	}
}

// Validate checks that r is consistent: classes and a matrix of their
// size that satisfies Confusion's invariant; at least one shard, all valid,
// of one count and none twice; parts that match the shards and add up to
// the images; no shard with more images than its share of DatasetImages;
// and at least one image when pixels were counted.
func (r *Result) Validate() error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (r *Result) validate() error {
	k := len(r.Names)
	if k == 0 {
		return errors.New("no classes")
	}
	if r.Conf == nil {
		return errors.New("no confusion matrix")
	}
	if r.Conf.K != k {
		return fmt.Errorf("%d classes but a %d-class confusion matrix", k, r.Conf.K)
	}
	if err := r.Conf.validate(r.className()); err != nil {
		return err
	}
	if r.Images < 0 {
		return fmt.Errorf("%d images", r.Images)
	}
	if len(r.Shards) == 0 {
		return errors.New("no shards: a report must say which shards i/N of the dataset it counts")
	}
	seen := map[Shard]bool{}
	for _, s := range r.Shards {
		if s.N < 1 || s.I < 0 || s.I >= s.N {
			return fmt.Errorf("shard %s is not of the form i/N with 0 <= i < N", s)
		}
		if s.N != r.Shards[0].N {
			return fmt.Errorf("shards %s and %s are of different counts and overlap", r.Shards[0], s)
		}
		if seen[s] {
			return fmt.Errorf("shard %s is listed twice", s)
		}
		seen[s] = true
	}
	if r.Parts != nil {
		if len(r.Parts) != len(r.Shards) {
			return fmt.Errorf("%d shards but %d parts", len(r.Shards), len(r.Parts))
		}
		left := r.Images
		for i, p := range r.Parts {
			if p.Shard != r.Shards[i] {
				return fmt.Errorf("part %d is shard %s but shard %d is %s", i+1, p.Shard, i+1, r.Shards[i])
			}
			if p.Images < 0 || p.Images > left {
				return fmt.Errorf("the images of the shards (%s: %d, ...) do not add up to the %d images", p.Shard, p.Images, r.Images)
			}
			left -= p.Images
		}
		if left != 0 {
			return fmt.Errorf("the shards hold %d images, not the %d of the result", r.Images-left, r.Images)
		}
	}
	if r.DatasetImages < 0 {
		return fmt.Errorf("a dataset of %d images", r.DatasetImages)
	}
	if n := r.DatasetImages; n > 0 {
		share := 0
		for _, s := range r.Shards {
			share += shareOf(s, n)
		}
		if r.Images > share {
			return fmt.Errorf("%d images, but shards %s of a dataset of %d images hold %d", r.Images, shardList(r.Shards), n, share)
		}
		for _, p := range r.Parts {
			if p.Images > shareOf(p.Shard, n) {
				return fmt.Errorf("shard %s holds %d images, but only %d of a dataset of %d images", p.Shard, p.Images, shareOf(p.Shard, n), n)
			}
		}
	}
	if r.Images == 0 {
		if tot, _ := r.Conf.total(indexName); tot > 0 {
			return fmt.Errorf("%d pixels counted in 0 images", tot)
		}
	}
	return nil
}

// shardList writes shards as "0/4, 2/4".
func shardList(ss []Shard) string {
	s := make([]string, len(ss))
	for i, sh := range ss {
		s[i] = sh.String()
	}
	return strings.Join(s, ", ")
}

// jsonFile is the on-disk form. Metrics and Missing are informational:
// Load recomputes them from the matrix and the shards, and refuses a file
// where they disagree.
type jsonFile struct {
	Classes       []string          `json:"classes"`
	Images        int               `json:"images"`
	DatasetImages int               `json:"dataset_images,omitempty"`
	Shards        []string          `json:"shards"`
	Parts         []jsonPart        `json:"parts,omitempty"`
	Missing       []string          `json:"missing_shards,omitempty"`
	Confusion     [][]int64         `json:"confusion"` // rows: label, columns: prediction
	OutOfRange    []int64           `json:"out_of_range"`
	BadLabels     int64             `json:"bad_labels"`
	Meta          map[string]string `json:"meta,omitempty"`
	Metrics       *jsonMetrics      `json:"metrics,omitempty"`
}

type jsonPart struct {
	Shard  string `json:"shard"`
	Images int    `json:"images"`
	Source string `json:"source,omitempty"`
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

// check compares the informational metrics of a file with those of the
// matrix: each value must be null or in [0, 1] and equal the recomputed one.
func (m *jsonMetrics) check(want *jsonMetrics) error {
	same := func(what string, got, want *float64) error {
		if got == nil && want == nil {
			return nil
		}
		if got != nil && (math.IsNaN(*got) || *got < 0 || *got > 1) {
			return fmt.Errorf("%s is %v, not a fraction in [0, 1]", what, *got)
		}
		if got == nil || want == nil || math.Abs(*got-*want) > 1e-9 {
			show := func(v *float64) string {
				if v == nil {
					return "null"
				}
				return strconv.FormatFloat(*v, 'g', -1, 64)
			}
			return fmt.Errorf("%s is %s in the file but %s from the confusion matrix", what, show(got), show(want))
		}
		return nil
	}
	for _, v := range []struct {
		what      string
		got, want *float64
	}{{"aAcc", m.AAcc, want.AAcc}, {"mIoU", m.MIoU, want.MIoU}, {"mAcc", m.MAcc, want.MAcc},
		{"mDice", m.MDice, want.MDice}, {"fwIoU", m.FWIoU, want.FWIoU}} {
		if err := same(v.what, v.got, v.want); err != nil {
			return err
		}
	}
	if m.Pixels != want.Pixels {
		return fmt.Errorf("%d pixels in the file but %d in the confusion matrix", m.Pixels, want.Pixels)
	}
	if m.Classes == nil {
		return nil
	}
	if len(m.Classes) != len(want.Classes) {
		return fmt.Errorf("metrics of %d classes for %d classes", len(m.Classes), len(want.Classes))
	}
	for i, c := range m.Classes {
		w := want.Classes[i]
		for _, v := range []struct {
			what      string
			got, want *float64
		}{{"IoU", c.IoU, w.IoU}, {"Acc", c.Acc, w.Acc}, {"Dice", c.Dice, w.Dice}} {
			if err := same(fmt.Sprintf("the %s of class %q", v.what, w.Name), v.got, v.want); err != nil {
				return err
			}
		}
		if c.Label != w.Label || c.Pred != w.Pred {
			return fmt.Errorf("class %q has %d label and %d predicted pixels in the file but %d and %d in the confusion matrix",
				w.Name, c.Label, c.Pred, w.Label, w.Pred)
		}
	}
	return nil
}

// MarshalJSON writes r with its full confusion matrix, its shards and, for
// people, its metrics. It refuses a result that Validate refuses.
func (r *Result) MarshalJSON() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	k := r.Conf.K
	r.Conf.init()
	f := jsonFile{Classes: r.Names, Images: r.Images, DatasetImages: r.DatasetImages,
		OutOfRange: r.Conf.OutOfRange, BadLabels: r.Conf.BadLabels, Meta: r.Meta, Metrics: r.Report().jsonMetrics()}
	for _, s := range r.Shards {
		f.Shards = append(f.Shards, s.String())
	}
	for _, p := range r.parts() {
		f.Parts = append(f.Parts, jsonPart{Shard: p.Shard.String(), Images: p.Images, Source: p.Source})
	}
	for _, s := range r.Missing() {
		f.Missing = append(f.Missing, s.String())
	}
	for g := 0; g < k; g++ {
		f.Confusion = append(f.Confusion, r.Conf.M[g*k:(g+1)*k])
	}
	return json.MarshalIndent(f, "", " ")
}

// UnmarshalJSON reads what MarshalJSON wrote, checking its consistency as
// Validate does and that its metrics and missing shards are those of its
// matrix and shards.
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
			return errors.New(strings.TrimPrefix(err.Error(), "metrics: "))
		}
		shards = append(shards, sh)
	}
	var parts []Part
	for _, p := range f.Parts {
		sh, err := ParseShard(p.Shard)
		if err != nil {
			return fmt.Errorf("parts: %s", strings.TrimPrefix(err.Error(), "metrics: "))
		}
		parts = append(parts, Part{Shard: sh, Images: p.Images, Source: p.Source})
	}
	res := Result{Names: f.Classes, Conf: c, Images: f.Images, Shards: shards, Meta: f.Meta,
		Parts: parts, DatasetImages: f.DatasetImages}
	if err := res.validate(); err != nil {
		return err
	}
	if f.Metrics != nil {
		if err := f.Metrics.check(res.Report().jsonMetrics()); err != nil {
			return fmt.Errorf("metrics section: %w; the file was edited or damaged", err)
		}
	}
	if f.Missing != nil {
		if got, want := strings.Join(f.Missing, ", "), shardList(res.Missing()); got != want {
			return fmt.Errorf("missing_shards says %q but the shards leave out %q", got, want)
		}
	}
	*r = res
	return nil
}

// Save writes r as JSON to path atomically (temporary file, sync, rename).
// It refuses a result that Validate refuses, such as one whose matrix
// overflowed.
func (r *Result) Save(path string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("metrics: save %s: %w", path, err)
	}
	b = append(b, '\n')
	return writeAtomic(path, b)
}

// writeAtomic writes b to path through a temporary file in the same folder,
// synced and renamed over path.
func writeAtomic(path string, b []byte) error {
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
		err = os.Chmod(f.Name(), 0o644)
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

// writeAtomicWith has write produce path's content at a temporary path in
// the same folder with the same extension, then renames it over path.
func writeAtomicWith(path string, write func(tmp string) error) error {
	ext := filepath.Ext(path)
	f, err := os.CreateTemp(filepath.Dir(path), "."+strings.TrimSuffix(filepath.Base(path), ext)+".tmp*"+ext)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	f.Close()
	if err := write(f.Name()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("metrics: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	return nil
}

// Load reads a result written by Save, refusing one that is not
// consistent (see Validate and UnmarshalJSON). The result's Source, and
// that of its parts that name none, is path.
func Load(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	r := new(Result)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", path, err)
	}
	r.Source = path
	if r.Parts == nil && len(r.Shards) == 1 {
		r.Parts = r.parts()
	}
	for i := range r.Parts {
		if r.Parts[i].Source == "" {
			r.Parts[i].Source = path
		}
	}
	return r, nil
}

// MergeOptions says what Merge accepts.
type MergeOptions struct {
	// AllowMissing accepts results that do not cover all N shards, for a
	// partial result: the merged result's Missing lists the shards left
	// out. By default a missing shard is an error.
	AllowMissing bool
	// Warn, when set, is told of each thing accepted only because of the
	// options above (missing shards).
	Warn func(msg string)
}

// Merge sums results into a new one, with the default MergeOptions: see
// MergeWith.
func Merge(rs ...*Result) (*Result, error) { return mergeResults(rs, nil, MergeOptions{}) }

// MergeWith sums results into a new one. Each result must pass Validate
// and have the class names of the first. Their shards must have one count
// N and none may occur twice (whole-dataset results 0/1 included), since
// pixels would count twice; all N shards must be present unless
// o.AllowMissing. Counts or images that would leave the int64 range are an
// error naming the cell. Parts and DatasetImages are carried over (results
// of datasets of different sizes are refused); Meta is kept where all
// results agree. Errors name a result by its Source, else by its place
// ("result 2").
func MergeWith(o MergeOptions, rs ...*Result) (*Result, error) { return mergeResults(rs, nil, o) }

// MergeFiles loads the reports at paths (see Load) and merges them as
// MergeWith does, naming the files in its errors: a file given twice,
// different class lists, shards of different counts or held twice, missing
// shards (unless o.AllowMissing) and overflowing counts.
func MergeFiles(paths []string, o MergeOptions) (*Result, error) {
	if len(paths) == 0 {
		return nil, errors.New("metrics: no reports to merge")
	}
	seen := map[string]string{}
	rs := make([]*Result, len(paths))
	for i, p := range paths {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if q, ok := seen[key]; ok {
			return nil, fmt.Errorf("metrics: %s is given twice (also as %s); its pixels would count twice", p, q)
		}
		seen[key] = p
		r, err := Load(p)
		if err != nil {
			return nil, err
		}
		rs[i] = r
	}
	return mergeResults(rs, paths, o)
}

// mergeResults merges rs, naming result i labels[i] when labels is given.
func mergeResults(rs []*Result, labels []string, o MergeOptions) (*Result, error) {
	if len(rs) == 0 {
		return nil, errors.New("metrics: nothing to merge")
	}
	label := func(i int) string {
		switch {
		case labels != nil:
			return labels[i]
		case rs[i].Source != "":
			return rs[i].Source
		}
		return fmt.Sprintf("result %d", i+1)
	}
	for i, r := range rs {
		if r == nil {
			return nil, fmt.Errorf("metrics: %s is nil", label(i))
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("metrics: %s: %w", label(i), err)
		}
	}
	first := rs[0]
	out := &Result{Names: slices.Clone(first.Names), Conf: NewConfusion(len(first.Names)), Meta: map[string]string{}}
	for k, v := range first.Meta {
		out.Meta[k] = v
	}
	type holder struct {
		at    int
		shard Shard
	}
	var countOf *holder // the first shard, whose N all must share
	seen := map[Shard]int{}
	dataset := -1 // index of the first result that knows its dataset's size
	knownParts := true
	for i, r := range rs {
		if !slices.Equal(r.Names, out.Names) {
			return nil, fmt.Errorf("metrics: %s has %d classes [%s] but %s has %d [%s]; merge only reports of one model on one dataset",
				label(i), len(r.Names), strings.Join(r.Names, ", "), label(0), len(out.Names), strings.Join(out.Names, ", "))
		}
		if r.DatasetImages > 0 {
			if dataset >= 0 && rs[dataset].DatasetImages != r.DatasetImages {
				return nil, fmt.Errorf("metrics: %s counts a dataset of %d images but %s one of %d; merge only shards of one dataset",
					label(i), r.DatasetImages, label(dataset), rs[dataset].DatasetImages)
			}
			if dataset < 0 {
				dataset = i
			}
		}
		for _, s := range r.Shards {
			if countOf == nil {
				countOf = &holder{i, s}
			} else if s.N != countOf.shard.N {
				return nil, fmt.Errorf("metrics: %s holds shard %s but %s holds shard %s; shards of different counts overlap, so pixels would count twice",
					label(countOf.at), countOf.shard, label(i), s)
			}
			if j, ok := seen[s]; ok {
				return nil, fmt.Errorf("metrics: shard %s is in both %s and %s; its pixels would count twice", s, label(j), label(i))
			}
			seen[s] = i
		}
		if err := out.Conf.merge(r.Conf, out.className()); err != nil {
			return nil, fmt.Errorf("metrics: merging %s: %w", label(i), err)
		}
		if r.Images > math.MaxInt-out.Images {
			return nil, fmt.Errorf("metrics: merging %s: %d + %d images overflows int", label(i), out.Images, r.Images)
		}
		out.Images += r.Images
		ps := r.parts()
		if ps == nil {
			knownParts = false
		}
		for _, p := range ps {
			if p.Source == "" {
				p.Source = r.Source
			}
			out.Parts = append(out.Parts, p)
		}
		out.Shards = append(out.Shards, r.Shards...)
		for k, v := range out.Meta {
			if r.Meta[k] != v {
				delete(out.Meta, k)
			}
		}
	}
	less := func(x, y Shard) int {
		if x.N != y.N {
			return x.N - y.N
		}
		return x.I - y.I
	}
	slices.SortFunc(out.Shards, less)
	if knownParts {
		slices.SortFunc(out.Parts, func(a, b Part) int { return less(a.Shard, b.Shard) })
	} else {
		out.Parts = nil
	}
	if dataset >= 0 {
		out.DatasetImages = rs[dataset].DatasetImages
	}
	if len(out.Meta) == 0 {
		out.Meta = nil
	}
	if miss := out.Missing(); len(miss) > 0 {
		var have []string
		for _, p := range out.parts() {
			have = append(have, p.Shard.String()+" from "+cmp.Or(p.Source, "an unnamed result"))
		}
		if have == nil {
			have = []string{shardList(out.Shards)}
		}
		msg := fmt.Sprintf("shards %s of %d are missing (have %s)", shardList(miss), miss[0].N, strings.Join(have, ", "))
		if !o.AllowMissing {
			return nil, fmt.Errorf("metrics: %s; give the reports of all %d shards, or allow missing shards for a partial result", msg, miss[0].N)
		}
		if o.Warn != nil {
			o.Warn(msg + "; the merged result is partial")
		}
	}
	if err := out.validate(); err != nil {
		return nil, fmt.Errorf("metrics: merged result: %w", err)
	}
	return out, nil
}
