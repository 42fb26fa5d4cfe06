package metrics

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expand turns a matrix of counts into matching gt/pred pixel lists.
func expand(m [][]int) (gt, pred []int32) {
	for g, row := range m {
		for p, n := range row {
			for i := 0; i < n; i++ {
				gt = append(gt, int32(g))
				pred = append(pred, int32(p))
			}
		}
	}
	return gt, pred
}

const nan = -1.0 // marks an undefined value in the tables below

func near(got, want float64) bool {
	if want == nan {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) < 1e-12
}

// The expected values were worked out by hand from the matrices.
func TestReportHandBuilt(t *testing.T) {
	for _, tc := range []struct {
		name             string
		m                [][]int
		iou, acc, dice   []float64
		absent           []bool
		aAcc, mIoU, mAcc float64
		mDice, fwIoU     float64
	}{
		{
			name: "3 classes",
			m:    [][]int{{5, 1, 0}, {2, 3, 1}, {0, 0, 4}},
			// labels 6 6 4, predictions 7 4 5, TP 5 3 4
			iou:    []float64{5.0 / 8, 3.0 / 7, 4.0 / 5},
			acc:    []float64{5.0 / 6, 3.0 / 6, 4.0 / 4},
			dice:   []float64{10.0 / 13, 6.0 / 10, 8.0 / 9},
			absent: []bool{false, false, false},
			aAcc:   12.0 / 16,
			mIoU:   (5.0/8 + 3.0/7 + 4.0/5) / 3,
			mAcc:   (5.0/6 + 0.5 + 1) / 3,
			mDice:  (10.0/13 + 0.6 + 8.0/9) / 3,
			fwIoU:  (6*5.0/8 + 6*3.0/7 + 4*4.0/5) / 16,
		},
		{
			name: "absent and predicted-only classes",
			m:    [][]int{{3, 0, 1, 0}, {0, 2, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},
			// class 2 is only predicted (IoU 0, Acc undefined), class 3 is absent
			iou:    []float64{3.0 / 4, 1, 0, nan},
			acc:    []float64{3.0 / 4, 1, nan, nan},
			dice:   []float64{6.0 / 7, 1, 0, nan},
			absent: []bool{false, false, false, true},
			aAcc:   5.0 / 6,
			mIoU:   (0.75 + 1 + 0) / 3,
			mAcc:   (0.75 + 1) / 2,
			mDice:  (6.0/7 + 1 + 0) / 3,
			fwIoU:  (4*0.75 + 2*1.0) / 6,
		},
		{
			name: "perfect",
			m:    [][]int{{7, 0}, {0, 1}},
			iou:  []float64{1, 1}, acc: []float64{1, 1}, dice: []float64{1, 1}, absent: []bool{false, false},
			aAcc: 1, mIoU: 1, mAcc: 1, mDice: 1, fwIoU: 1,
		},
		{
			name: "all wrong",
			m:    [][]int{{0, 3}, {1, 0}},
			iou:  []float64{0, 0}, acc: []float64{0, 0}, dice: []float64{0, 0}, absent: []bool{false, false},
		},
	} {
		c := NewConfusion(len(tc.m))
		gt, pred := expand(tc.m)
		// Ignored pixels, with any prediction, must not count.
		gt = append(gt, 255, 255)
		pred = append(pred, 0, 99)
		c.Add(gt, pred, 255)
		r := c.Report([]string{"a", "b"})
		for i := range tc.m {
			cr := r.Classes[i]
			if !near(cr.IoU, tc.iou[i]) || !near(cr.Acc, tc.acc[i]) || !near(cr.Dice, tc.dice[i]) || cr.Absent != tc.absent[i] {
				t.Errorf("%s: class %d: IoU %v Acc %v Dice %v absent %v; want %v %v %v %v",
					tc.name, i, cr.IoU, cr.Acc, cr.Dice, cr.Absent, tc.iou[i], tc.acc[i], tc.dice[i], tc.absent[i])
			}
		}
		for _, v := range []struct {
			what      string
			got, want float64
		}{{"aAcc", r.AAcc, tc.aAcc}, {"mIoU", r.MIoU, tc.mIoU}, {"mAcc", r.MAcc, tc.mAcc}, {"mDice", r.MDice, tc.mDice}, {"fwIoU", r.FWIoU, tc.fwIoU}} {
			if !near(v.got, v.want) {
				t.Errorf("%s: %s = %v, want %v", tc.name, v.what, v.got, v.want)
			}
		}
		if r.Classes[0].Name != "a" || (len(tc.m) > 2 && r.Classes[2].Name != "2") {
			t.Errorf("%s: names %q %q", tc.name, r.Classes[0].Name, r.Classes[len(tc.m)-1].Name)
		}
	}
}

func TestOutOfRange(t *testing.T) {
	c := NewConfusion(2)
	c.Add([]int32{0, 0, 1, 255, 7, -3}, []int32{0, 5, 1, 1, 0, 0}, 255)
	if c.BadLabels != 2 || c.OutOfRange[0] != 1 || c.M[0] != 1 || c.M[3] != 1 || c.M[1]+c.M[2] != 0 {
		t.Fatalf("counts %+v", c)
	}
	r := c.Report(nil)
	// class 0: 2 labelled (one predicted 5), 1 predicted, TP 1.
	if !near(r.Classes[0].IoU, 0.5) || !near(r.Classes[0].Acc, 0.5) || !near(r.Classes[1].IoU, 1) || !near(r.AAcc, 2.0/3) {
		t.Errorf("report %+v", r)
	}
	// Ignore inside the class range is still ignored.
	c = NewConfusion(3)
	c.Add([]int32{0, 1, 2}, []int32{0, 0, 0}, 1)
	if c.M[1*3+0] != 0 || c.M[0] != 1 || c.M[2*3] != 1 {
		t.Errorf("ignore 1: %v", c.M)
	}
}

func TestPrint(t *testing.T) {
	c := NewConfusion(4)
	gt, pred := expand([][]int{{3, 0, 1, 0}, {0, 2, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}})
	c.Add(gt, pred, 255)
	var b bytes.Buffer
	if err := c.Report([]string{"road", "sidewalk", "traffic light", "bike"}).Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"| traffic light |", "75.00", "85.71", "absent", "n/a", "58.33", "left out of mIoU", "+-"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every line of a table has the same width.
	width := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "+") || strings.HasPrefix(l, "|") {
			if width == 0 {
				width = len(l)
			}
			if strings.HasPrefix(l, "| aAcc") || (strings.HasPrefix(l, "+") && len(l) < width) {
				width = len(l) // the summary table starts
			}
			if len(l) != width {
				t.Errorf("ragged line %q (want width %d):\n%s", l, width, out)
			}
		}
	}
}

func randomImages(r *rand.Rand, n, k int) (gts, preds [][]int32) {
	for i := 0; i < n; i++ {
		size := 10 + r.IntN(50)
		g, p := make([]int32, size), make([]int32, size)
		for j := range g {
			g[j] = int32(r.IntN(k + 1)) // k plays ignore
			if g[j] == int32(k) {
				g[j] = 255
			}
			p[j] = int32(r.IntN(k))
			if r.IntN(3) > 0 && g[j] != 255 {
				p[j] = g[j]
			}
		}
		gts, preds = append(gts, g), append(preds, p)
	}
	return gts, preds
}

func TestMergeEqualsUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	k := 5
	names := []string{"a", "b", "c", "d", "e"}
	gts, preds := randomImages(r, 30, k)
	all := NewResult(names, Whole)
	parts := []*Result{NewResult(names, Shard{0, 3}), NewResult(names, Shard{1, 3}), NewResult(names, Shard{2, 3})}
	for i := range gts {
		all.Conf.Add(gts[i], preds[i], 255)
		all.Images++
		for _, p := range parts {
			if p.Shards[0].Has(i) {
				p.Conf.Add(gts[i], preds[i], 255)
				p.Images++
			}
		}
	}
	m, err := Merge(parts[2], parts[0], parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Conf.M, all.Conf.M) || m.Images != 30 {
		t.Fatalf("merged matrix differs from the union")
	}
	if got := m.Shards; len(got) != 3 || got[0] != (Shard{0, 3}) || got[2] != (Shard{2, 3}) || m.Missing() != nil {
		t.Errorf("shards %v, missing %v", got, m.Missing())
	}
	var warned []string
	mm, err := MergeWith(MergeOptions{AllowMissing: true, Warn: func(m string) { warned = append(warned, m) }}, parts[0], parts[2])
	if err != nil || len(mm.Missing()) != 1 || mm.Missing()[0] != (Shard{1, 3}) || len(warned) != 1 || !strings.Contains(warned[0], "1/3") {
		t.Errorf("partial merge: %v, warnings %q", err, warned)
	} else if mm.Images != parts[0].Images+parts[2].Images || len(mm.Parts) != 2 || mm.Parts[1].Images != parts[2].Images {
		t.Errorf("partial merge: %d images, parts %+v", mm.Images, mm.Parts)
	}
	if _, err := Merge(parts[0], parts[2]); err == nil || !strings.Contains(err.Error(), "1/3") {
		t.Errorf("missing shard: %v", err)
	}
	if a, b := m.Report().MIoU, all.Report().MIoU; a != b {
		t.Errorf("mIoU %v vs %v", a, b)
	}
	if _, err := Merge(parts[0], parts[0]); err == nil || !strings.Contains(err.Error(), "0/3") {
		t.Errorf("duplicate shard: %v", err)
	}
	if _, err := Merge(all, all); err == nil {
		t.Errorf("two whole results merged")
	}
	other := NewResult([]string{"a", "b", "c", "d", "x"}, Whole)
	if _, err := Merge(all, other); err == nil || !strings.Contains(err.Error(), "classes") {
		t.Errorf("different classes: %v", err)
	}
	if err := NewConfusion(3).Merge(NewConfusion(4)); err == nil {
		t.Error("3 and 4 classes merged")
	}
	if _, err := Merge(); err == nil {
		t.Error("empty merge")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	res := NewResult([]string{"sky", "road", "car", "never"}, Shard{2, 7})
	gts, preds := randomImages(r, 5, 3) // class 3 stays absent
	for i := range gts {
		res.Conf.Add(gts[i], preds[i], 255)
		res.Images++
	}
	res.Conf.Add([]int32{1, 9}, []int32{8, 1}, 255) // out of range and bad label
	res.Meta = map[string]string{"model": "m.onnx"}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := res.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Names, res.Names) || !slices.Equal(got.Conf.M, res.Conf.M) || !slices.Equal(got.Conf.OutOfRange, res.Conf.OutOfRange) ||
		got.Conf.BadLabels != 1 || got.Images != 5 || !slices.Equal(got.Shards, res.Shards) || got.Meta["model"] != "m.onnx" {
		t.Fatalf("round trip: got %+v %+v, want %+v %+v", got, got.Conf, res, res.Conf)
	}
	a, b := got.Report(), res.Report()
	if a.MIoU != b.MIoU || a.Absent != 1 || !math.IsNaN(a.Classes[3].IoU) {
		t.Errorf("reports differ: %v %v", a.MIoU, b.MIoU)
	}
	for _, bad := range []string{
		`{"classes":[]}`,
		`{"classes":["a","b"],"confusion":[[1,2]]}`,
		`{"classes":["a"],"confusion":[[1,2]]}`,
		`{"classes":["a"],"confusion":[[-1]]}`,
		`{"classes":["a"],"confusion":[[1]],"shards":["3/2"]}`,
		`{"classes":["a"],"confusion":[[1]],"out_of_range":[1,2]}`,
		`not json`,
	} {
		var x Result
		if err := x.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Shard
		ok   bool
	}{
		{"0/1", Shard{0, 1}, true}, {"2/3", Shard{2, 3}, true}, {" 1 / 4 ", Shard{1, 4}, true},
		{"3/2", Shard{}, false}, {"2/2", Shard{}, false}, {"-1/2", Shard{}, false}, {"a/b", Shard{}, false},
		{"1/0", Shard{}, false}, {"1", Shard{}, false}, {"", Shard{}, false}, {"1/2/3", Shard{}, false},
	} {
		got, err := ParseShard(tc.spec)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v", tc.spec, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.spec) {
			t.Errorf("error %q does not quote %q", err, tc.spec)
		}
	}
	s := Shard{1, 3}
	if got := s.Indices(8); !slices.Equal(got, []int{1, 4, 7}) || !s.Has(4) || s.Has(5) {
		t.Errorf("indices %v", got)
	}
}

func TestResolveShard(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		count int
		env   map[string]string
		want  Shard
		ok    bool
	}{
		{"", 0, nil, Whole, true},
		{"1/2", 0, map[string]string{"JOB_COMPLETION_INDEX": "3"}, Shard{1, 2}, true},
		{"", 4, map[string]string{"JOB_COMPLETION_INDEX": "3"}, Shard{3, 4}, true},
		{"", 0, map[string]string{"JOB_COMPLETION_INDEX": "3"}, Shard{}, false},
		{"", 3, map[string]string{"JOB_COMPLETION_INDEX": "3"}, Shard{}, false},
		{"", 3, map[string]string{"JOB_COMPLETION_INDEX": "x"}, Shard{}, false},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "5"}, Shard{2, 5}, true},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "3"}, Shard{2, 3}, true},
		{"", 4, map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "5"}, Shard{}, false},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "5"}, Shard{}, false},
		{"", 0, map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, Shard{}, false},
		{"", 2, map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, Shard{1, 2}, true},
	} {
		got, err := resolveShard(tc.spec, tc.count, func(k string) string { return tc.env[k] })
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("resolveShard(%q, %d, %v) = %v, %v", tc.spec, tc.count, tc.env, got, err)
		}
	}
}

// TestAddMatchesReference compares Add with its plain reference on random
// maps with ignored, bad and out-of-range values.
func TestAddMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		k      int
		ignore int32
	}{{1, 255}, {3, 255}, {19, 255}, {5, 2}, {4, -1}, {150, 0}} {
		c, ref := NewConfusion(tc.k), NewConfusion(tc.k)
		for img := 0; img < 5; img++ {
			n := r.IntN(400)
			gt, pred := make([]int32, n), make([]int32, n)
			for i := range gt {
				gt[i] = int32(r.IntN(tc.k+3)) - 1 // -1 .. k+1
				pred[i] = int32(r.IntN(tc.k+3)) - 1
				if r.IntN(8) == 0 {
					gt[i] = tc.ignore
				}
				if r.IntN(50) == 0 {
					gt[i], pred[i] = math.MaxInt32, math.MinInt32
				}
			}
			c.Add(gt, pred, tc.ignore)
			addReference(ref, gt, pred, tc.ignore)
		}
		if !slices.Equal(c.M, ref.M) || !slices.Equal(c.OutOfRange, ref.OutOfRange) || c.BadLabels != ref.BadLabels || c.Err() != nil {
			t.Errorf("K=%d ignore %d: Add gives %v %v %d, the reference %v %v %d (err %v)", tc.k, tc.ignore,
				c.M, c.OutOfRange, c.BadLabels, ref.M, ref.OutOfRange, ref.BadLabels, c.Err())
		}
	}
}

// BenchmarkAdd measures counting a label map against a prediction; the
// Reference variants run the plain loop, as a baseline in the same run.
func BenchmarkAdd(b *testing.B) {
	for _, sz := range []struct {
		name string
		n    int
	}{{"Small", 512 * 256}, {"Large", 2048 * 1024}} {
		r := rand.New(rand.NewPCG(1, 1))
		gt, pred := make([]int32, sz.n), make([]int32, sz.n)
		for i := range gt {
			gt[i], pred[i] = int32(r.IntN(20)), int32(r.IntN(19))
			if gt[i] == 19 {
				gt[i] = 255
			}
		}
		c := NewConfusion(19)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(8 * sz.n))
			for b.Loop() {
				c.Add(gt, pred, 255)
			}
		})
		ref := NewConfusion(19)
		b.Run(sz.name+"Reference", func(b *testing.B) {
			b.SetBytes(int64(8 * sz.n))
			for b.Loop() {
				addReference(ref, gt, pred, 255)
			}
		})
	}
}
