package infer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/metrics"
)

func TestParseClassMap(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	five := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		name        string
		spec        string
		model       []string
		modelK      int
		data        []string
		want        []int32
		wantIgnore  []int32
		errContains string
	}{
		{name: "lines", spec: file("m.txt", "# model dataset\n0 2\n1 ignore\n 2   0 \n\n3 -1\n"), modelK: 5, data: five, want: []int32{2, -1, 0, -1, -1}},
		{name: "json object", spec: file("m.json", `{"0": 4, "2": "ignore", "4": 0}`), modelK: 5, data: five, want: []int32{4, -1, -1, -1, 0}},
		{name: "json array", spec: file("a.json", `[1, 0, -1]`), data: five, want: []int32{1, 0, -1}},
		{name: "reduce zero label", spec: ClassMapReduceZeroLabel, modelK: 3, data: []string{"other", "x", "y", "z"}, want: []int32{1, 2, 3}, wantIgnore: []int32{0}},
		{name: "reduce zero label, unknown model", spec: ClassMapReduceZeroLabel, data: []string{"other", "x", "y"}, want: []int32{1, 2}, wantIgnore: []int32{0}},
		{name: "reduce zero label, reduced dataset", spec: ClassMapReduceZeroLabel, modelK: 3, data: []string{"x", "y", "z"}, errContains: "ade20k"},
		{name: "by name", spec: ClassMapByName, model: []string{"Road", "side_walk", "sky"}, data: []string{"sky", "side walk", "road", "car"}, want: []int32{2, 1, 0}},
		{name: "by name, some missing", spec: ClassMapByName, model: []string{"road", "tree"}, data: []string{"sky", "road"}, want: []int32{1, -1}},
		{name: "by name, none", spec: ClassMapByName, model: []string{"x"}, data: five, errContains: "no model class"},
		{name: "by name, no names", spec: ClassMapByName, modelK: 5, data: five, errContains: "class names"},
		{name: "twice", spec: file("d.txt", "0 1\n0 2\n"), data: five, errContains: "twice"},
		{name: "beyond the dataset", spec: file("b.txt", "0 5\n"), data: five, errContains: "5 classes"},
		{name: "beyond the model", spec: file("c.txt", "7 1\n"), modelK: 5, data: five, errContains: "model has 5"},
		{name: "bad line", spec: file("e.txt", "0 1 2\n"), data: five, errContains: "line 1"},
		{name: "bad json", spec: file("f.json", `{"a": 1}`), data: five, errContains: "model class id"},
		{name: "empty", spec: file("g.txt", "# nothing\n"), data: five, errContains: "no class"},
		{name: "missing file", spec: filepath.Join(dir, "none.txt"), data: five, errContains: "by-name"},
	} {
		cm, err := ParseClassMap(tc.spec, tc.model, tc.modelK, tc.data)
		if tc.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.errContains)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(cm.To, tc.want) || !slices.Equal(cm.IgnoreLabels, tc.wantIgnore) {
			t.Errorf("%s: map %v ignoring %v, want %v ignoring %v", tc.name, cm.To, cm.IgnoreLabels, tc.want, tc.wantIgnore)
		}
	}
}

func TestClassMapApply(t *testing.T) {
	cm := &ClassMap{To: []int32{2, -1, 0}, IgnoreLabels: []int32{0}}
	pred := []int32{0, 1, 2, 3, -5}
	cm.Apply(pred)
	if want := []int32{2, -1, 0, -1, -1}; !slices.Equal(pred, want) {
		t.Errorf("Apply: %v, want %v", pred, want)
	}
	gt := []int32{0, 1, 255, 0, 2}
	cm.ApplyLabels(gt, 255)
	if want := []int32{255, 1, 255, 255, 2}; !slices.Equal(gt, want) {
		t.Errorf("ApplyLabels: %v, want %v", gt, want)
	}
}

// TestClassMapEval evaluates tiny_dyn_s4 (5 classes) on datasets whose ids differ from the
// model's, with the class map that undoes the difference, against the evaluation on a dataset
// with the model's ids.
func TestClassMapEval(t *testing.T) {
	ds := newMemDataset(3, 5, evalSizes)
	m := loadTestModel(t, "tiny_dyn_s4.onnx")
	path := saveModel(t, m, "m.onnx")
	ref := mustEval(t, path, ModelOptions{}, ds, 5, EvalOptions{})
	if predictedClasses(ref) < 2 {
		t.Fatal("the model predicts one class on the test data: the comparisons could not fail")
	}
	at := func(c *metrics.Confusion, g, p int) int64 { return c.M[g*c.K+p] }

	t.Run("reduce-zero-label", func(t *testing.T) {
		// Raw labels: 0 where the reference ignores, k+1 for class k.
		raw := ds.relabel(append([]string{"other"}, ds.classes...), func(v int32) int32 { return v + 1 })
		for _, s := range raw.samples {
			for i, v := range s.Label {
				if v == 255 {
					s.Label[i] = 0
				}
			}
		}
		cm := mustClassMap(t, ClassMapReduceZeroLabel, nil, 5, raw.classes)
		got := mustEval(t, path, ModelOptions{}, raw, 6, EvalOptions{ClassMap: cm})
		for g := 0; g < 6; g++ {
			for p := 0; p < 6; p++ {
				want := int64(0)
				if g > 0 && p > 0 {
					want = at(ref, g-1, p-1)
				}
				if at(got, g, p) != want {
					t.Fatalf("cell (%d, %d) = %d, want %d\ngot %v\nref %v", g, p, at(got, g, p), want, got.M, ref.M)
				}
			}
		}
	})

	t.Run("dropped", func(t *testing.T) {
		// Drop the class predicted most often.
		drop, most := 0, int64(-1)
		for p := 0; p < 5; p++ {
			s := int64(0)
			for g := 0; g < 5; g++ {
				s += at(ref, g, p)
			}
			if s > most {
				drop, most = p, s
			}
		}
		f := filepath.Join(t.TempDir(), "map.txt")
		var b strings.Builder
		for j := 0; j < 5; j++ {
			if j != drop {
				b.WriteString(string(rune('0'+j)) + " " + string(rune('0'+j)) + "\n")
			}
		}
		os.WriteFile(f, []byte(b.String()), 0o644)
		cm := mustClassMap(t, f, nil, 5, ds.classes)
		if !strings.Contains(cm.Summary(), "dropped") {
			t.Errorf("summary %q does not name the dropped class", cm.Summary())
		}
		got := mustEval(t, path, ModelOptions{}, ds, 5, EvalOptions{ClassMap: cm})
		for g := 0; g < 5; g++ {
			for p := 0; p < 5; p++ {
				want := at(ref, g, p)
				if p == drop {
					want = 0
				}
				if at(got, g, p) != want {
					t.Errorf("cell (%d, %d) = %d, want %d", g, p, at(got, g, p), want)
				}
			}
			if got.OutOfRange[g] != at(ref, g, drop) {
				t.Errorf("label %d: %d pixels predicted as no class, want the %d predicted as the dropped class %d", g, got.OutOfRange[g], at(ref, g, drop), drop)
			}
		}
	})

	t.Run("by-name", func(t *testing.T) {
		names := []string{"a", "b", "c", "d", "e"}
		mm := loadTestModel(t, "tiny_dyn_s4.onnx")
		md, err := ReadMetadata(mm)
		if err != nil {
			t.Fatal(err)
		}
		md.Classes = names
		md.Write(mm.Proto)
		named := saveModel(t, mm, "named.onnx")
		rev := ds.relabel([]string{"E", "D", "C", "B", "A"}, func(v int32) int32 { return 4 - v })
		cm := mustClassMap(t, ClassMapByName, names, 5, rev.classes)
		got := mustEval(t, named, ModelOptions{}, rev, 5, EvalOptions{ClassMap: cm})
		for g := 0; g < 5; g++ {
			for p := 0; p < 5; p++ {
				if at(got, 4-g, 4-p) != at(ref, g, p) {
					t.Fatalf("cell (%d, %d) = %d, want the reference's (%d, %d) = %d", 4-g, 4-p, at(got, 4-g, 4-p), g, p, at(ref, g, p))
				}
			}
		}
	})
}

// mustClassMap is ParseClassMap, failing the test on an error.
func mustClassMap(t testing.TB, spec string, model []string, modelK int, data []string) *ClassMap {
	t.Helper()
	cm, err := ParseClassMap(spec, model, modelK, data)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}
