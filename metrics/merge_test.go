package metrics

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shardResult returns a result for shard s over names with a few counted
// pixels and the given number of images.
func shardResult(names []string, s Shard, images int) *Result {
	r := NewResult(names, s)
	k := len(names)
	gt := make([]int32, 4*k)
	pred := make([]int32, 4*k)
	for i := range gt {
		gt[i] = int32(i % k)
		pred[i] = int32((i / 2) % k)
	}
	r.Conf.Add(gt, pred, 255)
	r.Images = images
	return r
}

// TestMergeRefuses checks that Merge refuses results whose pixels would
// count twice or not at all.
func TestMergeRefuses(t *testing.T) {
	names := []string{"road", "car", "sky"}
	for _, tc := range []struct {
		name string
		rs   []*Result
		want []string // substrings of the error
	}{
		{"whole twice", []*Result{shardResult(names, Whole, 4), shardResult(names, Whole, 4)}, []string{"0/1", "result 1", "result 2"}},
		{"same shard twice", []*Result{shardResult(names, Shard{0, 2}, 2), shardResult(names, Shard{1, 2}, 2), shardResult(names, Shard{0, 2}, 2)},
			[]string{"0/2", "result 1", "result 3"}},
		{"different counts", []*Result{shardResult(names, Shard{0, 2}, 2), shardResult(names, Shard{1, 3}, 1)},
			[]string{"0/2", "1/3", "result 1", "result 2"}},
		{"whole and a shard", []*Result{shardResult(names, Whole, 4), shardResult(names, Shard{1, 2}, 2)},
			[]string{"0/1", "1/2"}},
		{"missing shard", []*Result{shardResult(names, Shard{0, 3}, 2), shardResult(names, Shard{2, 3}, 1)},
			[]string{"missing", "1/3"}},
		{"no shards", []*Result{shardResult(names, Shard{0, 2}, 2), {Names: names, Conf: NewConfusion(3), Images: 2}},
			[]string{"result 2", "no shard"}},
	} {
		m, err := Merge(tc.rs...)
		checkRefused(t, tc.name, m, err, tc.want)
	}
}

// checkRefused checks that a merge gave an error mentioning each of want,
// reporting what it merged (m) otherwise.
func checkRefused(t *testing.T, name string, m *Result, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: merged %d images over %v", name, m.Images, m.Shards)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", name, err, w)
		}
	}
}

// TestConfusionMergeOverflow checks that adding counts that do not fit in
// an int64 is an error naming the cell, and leaves the matrix as it was.
func TestConfusionMergeOverflow(t *testing.T) {
	a, b := NewConfusion(3), NewConfusion(3)
	a.M[0] = 5
	a.M[1*3+2] = math.MaxInt64 - 10
	b.M[0] = 7
	b.M[1*3+2] = 11
	before := append([]int64(nil), a.M...)
	err := a.Merge(b)
	if err == nil {
		t.Fatalf("overflowing merge accepted: %v", a.M)
	}
	if !strings.Contains(err.Error(), "label 1") || !strings.Contains(err.Error(), "prediction 2") {
		t.Errorf("error %q does not name the cell (label 1, prediction 2)", err)
	}
	for i := range before {
		if a.M[i] != before[i] {
			t.Fatalf("failed merge changed the matrix: %v, was %v", a.M, before)
		}
	}

	// Each cell fits but the total of the labelled pixels does not.
	a, b = NewConfusion(2), NewConfusion(2)
	a.M[0] = math.MaxInt64 / 2
	b.M[3] = math.MaxInt64/2 + 10
	if err := a.Merge(b); err == nil {
		r := a.Report(nil)
		t.Errorf("merge whose total overflows accepted: %d labelled pixels", r.Pixels)
	}

	// Out-of-range and bad-label counters overflow too.
	a, b = NewConfusion(2), NewConfusion(2)
	a.OutOfRange[1] = math.MaxInt64 - 1
	b.OutOfRange[1] = 2
	if err := a.Merge(b); err == nil {
		t.Errorf("out-of-range overflow accepted: %v", a.OutOfRange)
	}
	a, b = NewConfusion(2), NewConfusion(2)
	a.BadLabels = math.MaxInt64
	b.BadLabels = 1
	if err := a.Merge(b); err == nil {
		t.Errorf("bad-label overflow accepted: %d", a.BadLabels)
	}
}

// TestResultMergeOverflow checks the message of an overflow met by Merge:
// it names the cell by its classes.
func TestResultMergeOverflow(t *testing.T) {
	names := []string{"road", "car"}
	a, b := NewResult(names, Shard{0, 2}), NewResult(names, Shard{1, 2})
	a.Conf.M[1] = math.MaxInt64 - 3
	b.Conf.M[1] = 4
	a.Images, b.Images = 1, 1
	m, err := Merge(a, b)
	if err == nil {
		t.Fatalf("overflow merged: %v", m.Conf.M)
	}
	if !strings.Contains(err.Error(), `"road"`) || !strings.Contains(err.Error(), `"car"`) {
		t.Errorf("error %q does not name the classes of the cell", err)
	}
}

// TestAddOverflow checks that Add does not wrap counts around.
func TestAddOverflow(t *testing.T) {
	c := NewConfusion(2)
	c.M[0] = math.MaxInt64 - 2
	c.Add([]int32{0, 0, 0, 0, 1}, []int32{0, 0, 0, 0, 1}, 255)
	for i, v := range c.M {
		if v < 0 {
			t.Fatalf("count %d wrapped to %d", i, v)
		}
	}
	if r := c.Report(nil); r.Pixels < 0 {
		t.Fatalf("%d labelled pixels", r.Pixels)
	}
	if c.Err() == nil || c.Validate() == nil || c.Merge(NewConfusion(2)) == nil {
		t.Fatalf("overflowing Add left no error: Err %v", c.Err())
	}
	if c.M[0] != math.MaxInt64-2 || c.M[3] != 0 {
		t.Errorf("overflowing Add counted part of the map: %v", c.M)
	}
	res := NewResult([]string{"a", "b"}, Whole)
	res.Conf, res.Images = c, 1
	if err := res.Save(filepath.Join(t.TempDir(), "r.json")); err == nil {
		t.Error("result with an overflowed matrix saved")
	}
	// Far from the limit, Add counts.
	c = NewConfusion(2)
	c.M[0] = math.MaxInt64 - 5
	c.Add([]int32{0, 1, 255}, []int32{0, 1, 0}, 255)
	if c.Err() != nil || c.M[0] != math.MaxInt64-4 || c.M[3] != 1 {
		t.Errorf("Add 3 pixels 5 below the limit: %v, %v", c.Err(), c.M)
	}
}

// TestReportLargeCounts checks the metrics of counts whose sums of label
// and prediction pixels exceed an int64 although the total does not.
func TestReportLargeCounts(t *testing.T) {
	c := NewConfusion(2)
	c.M[0] = 1 << 62
	c.M[3] = 1 << 61
	r := c.Report(nil)
	for i, cr := range r.Classes {
		if cr.IoU != 1 || cr.Dice != 1 || cr.Acc != 1 || cr.Absent {
			t.Errorf("class %d: IoU %v Dice %v Acc %v absent %v, want 1 1 1 false", i, cr.IoU, cr.Dice, cr.Acc, cr.Absent)
		}
	}
	if r.Pixels != 1<<62+1<<61 || r.AAcc != 1 || r.MIoU != 1 {
		t.Errorf("pixels %d aAcc %v mIoU %v", r.Pixels, r.AAcc, r.MIoU)
	}
}

// TestLoadRejects checks that Load refuses reports that cannot be right.
func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, json string
	}{
		{"negative count", `{"classes":["a","b"],"images":1,"shards":["0/1"],"confusion":[[1,-2],[0,1]]}`},
		{"short row", `{"classes":["a","b"],"images":1,"shards":["0/1"],"confusion":[[1],[0,1]]}`},
		{"missing row", `{"classes":["a","b"],"images":1,"shards":["0/1"],"confusion":[[1,2]]}`},
		{"extra row", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[1],[2]]}`},
		{"no classes", `{"classes":[],"images":1,"shards":["0/1"],"confusion":[]}`},
		{"NaN count", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[NaN]]}`},
		{"fractional count", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[1.5]]}`},
		{"negative out of range", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[1]],"out_of_range":[-1]}`},
		{"negative bad labels", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[1]],"bad_labels":-4}`},
		{"negative images", `{"classes":["a"],"images":-1,"shards":["0/1"],"confusion":[[1]]}`},
		{"pixels without images", `{"classes":["a"],"images":0,"shards":["0/1"],"confusion":[[1]]}`},
		{"total overflows", `{"classes":["a","b"],"images":1,"shards":["0/1"],"confusion":[[4611686018427387904,0],[0,4611686018427387904]]}`},
		{"shard index past count", `{"classes":["a"],"images":1,"shards":["2/2"],"confusion":[[1]]}`},
		{"shard index far past count", `{"classes":["a"],"images":1,"shards":["7/3"],"confusion":[[1]]}`},
		{"shard twice", `{"classes":["a"],"images":2,"shards":["0/2","0/2"],"confusion":[[1]]}`},
		{"shards of two counts", `{"classes":["a"],"images":2,"shards":["0/2","1/3"],"confusion":[[1]]}`},
		{"no shards", `{"classes":["a"],"images":1,"confusion":[[1]]}`},
		{"negative metric", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[1]],"metrics":{"aAcc":-0.5,"mIoU":1,"mAcc":1,"mDice":1,"fwIoU":1,"pixels":1,"classes":[{"name":"a","iou":1,"acc":1,"dice":1,"label_pixels":1,"pred_pixels":1}]}}`},
		{"metric above one", `{"classes":["a"],"images":1,"shards":["0/1"],"confusion":[[1]],"metrics":{"aAcc":1,"mIoU":1,"mAcc":1,"mDice":1,"fwIoU":1,"pixels":1,"classes":[{"name":"a","iou":1.5,"acc":1,"dice":1,"label_pixels":1,"pred_pixels":1}]}}`},
		{"metrics disagree with the matrix", `{"classes":["a","b"],"images":1,"shards":["0/1"],"confusion":[[1,1],[0,2]],"metrics":{"aAcc":1,"mIoU":1,"mAcc":1,"mDice":1,"fwIoU":1,"pixels":4}}`},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
		if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(path)
		if err == nil {
			t.Errorf("%s: loaded %+v", tc.name, r)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
		if !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
	}
}

// TestMergeFiles checks merging reports from files: the errors name the
// files, and the merged report says which shards it holds and where each
// came from.
func TestMergeFiles(t *testing.T) {
	dir := t.TempDir()
	names := []string{"road", "car", "sky"}
	write := func(file string, r *Result) string {
		t.Helper()
		p := filepath.Join(dir, file)
		if err := r.Save(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shard := func(i, n, images int) *Result {
		r := shardResult(names, Shard{i, n}, images)
		r.DatasetImages = 7
		return r
	}
	a := write("a.json", shard(0, 3, 3))
	b := write("b.json", shard(1, 3, 2))
	c := write("c.json", shard(2, 3, 2))
	dup := write("dup.json", shard(1, 3, 2))
	other := write("other.json", shard(0, 2, 4))
	renamed := write("renamed.json", shardResult([]string{"road", "bus", "sky"}, Shard{2, 3}, 2))
	bigger := shard(2, 3, 2)
	bigger.DatasetImages = 8
	bigger8 := write("eight.json", bigger)

	for _, tc := range []struct {
		name  string
		paths []string
		want  []string
	}{
		{"same shard in two files", []string{a, b, dup, c}, []string{"1/3", "b.json", "dup.json"}},
		{"file twice", []string{a, b, b, c}, []string{"b.json", "twice"}},
		{"different counts", []string{a, other}, []string{"a.json", "0/3", "other.json", "0/2"}},
		{"different classes", []string{a, b, renamed}, []string{"a.json", "renamed.json", "bus"}},
		{"missing", []string{a, c}, []string{"1/3", "missing", "a.json", "c.json"}},
		{"different datasets", []string{a, b, bigger8}, []string{"a.json", "eight.json", "7", "8"}},
		{"no file", []string{a, filepath.Join(dir, "nothere.json")}, []string{"nothere.json"}},
		{"none", nil, []string{"no reports"}},
	} {
		m, err := MergeFiles(tc.paths, MergeOptions{})
		checkRefused(t, tc.name, m, err, tc.want)
	}

	// A partial merge, saved, says what it holds and what it lacks, and
	// merges with the missing shard later.
	part, err := MergeFiles([]string{c, a}, MergeOptions{AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	wantParts := []Part{{Shard{0, 3}, 3, a}, {Shard{2, 3}, 2, c}}
	if !slices.Equal(part.Parts, wantParts) || part.Images != 5 || part.DatasetImages != 7 {
		t.Fatalf("partial merge: parts %+v, %d images of %d; want %+v", part.Parts, part.Images, part.DatasetImages, wantParts)
	}
	pp := write("partial.json", part)
	raw, err := os.ReadFile(pp)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"missing_shards":["1/3"]`, `"source":"` + a + `"`, `"dataset_images":7`} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("partial.json lacks %s:\n%s", w, raw)
		}
	}
	full, err := MergeFiles([]string{pp, b}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := MergeFiles([]string{a, b, c}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full.Conf.M, direct.Conf.M) || full.Images != 7 || !slices.Equal(full.Parts, direct.Parts) || full.Missing() != nil {
		t.Errorf("partial then rest: %v %d images parts %+v; all at once: %v parts %+v", full.Conf.M, full.Images, full.Parts, direct.Conf.M, direct.Parts)
	}
	// The partial report with a shard it already holds.
	if _, err := MergeFiles([]string{pp, a}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "partial.json") || !strings.Contains(err.Error(), "0/3") {
		t.Errorf("partial report and one of its shards: %v", err)
	}
}

// TestImageCounts checks that images that do not add up are refused.
func TestImageCounts(t *testing.T) {
	names := []string{"a", "b"}
	for _, tc := range []struct {
		name string
		r    func() *Result
	}{
		{"more images than the shard's share", func() *Result {
			r := shardResult(names, Shard{0, 2}, 3)
			r.DatasetImages = 4 // shard 0/2 of 4 images holds 2
			return r
		}},
		{"parts that do not add up", func() *Result {
			m, err := Merge(shardResult(names, Shard{0, 2}, 2), shardResult(names, Shard{1, 2}, 2))
			if err != nil {
				t.Fatal(err)
			}
			m.Images = 6
			return m
		}},
		{"parts of other shards", func() *Result {
			m, err := Merge(shardResult(names, Shard{0, 2}, 2), shardResult(names, Shard{1, 2}, 2))
			if err != nil {
				t.Fatal(err)
			}
			m.Parts[1].Shard = Shard{0, 2}
			return m
		}},
		{"negative dataset", func() *Result {
			r := shardResult(names, Whole, 1)
			r.DatasetImages = -3
			return r
		}},
	} {
		r := tc.r()
		if err := r.Validate(); err == nil {
			t.Errorf("%s: valid", tc.name)
		}
		if err := r.Save(filepath.Join(t.TempDir(), "r.json")); err == nil {
			t.Errorf("%s: saved", tc.name)
		}
	}
	// Shards 0/2 and 1/2 of 4 images with 3 and 2 images: 5 of 4.
	a, b := shardResult(names, Shard{0, 2}, 3), shardResult(names, Shard{1, 2}, 2)
	a.DatasetImages = 4
	if m, err := Merge(a, b); err == nil {
		t.Errorf("merged %d images of a dataset of %d", m.Images, m.DatasetImages)
	}
	a.Images = 2
	if m, err := Merge(a, b); err != nil || m.DatasetImages != 4 || m.Images != 4 {
		t.Errorf("4 of 4 images: %v", err)
	}
}
