package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
)

// derivedModel writes tiny_dyn_s4 (five classes, output "out") with nodes appended and the
// given outputs into dir.
func derivedModel(t testing.TB, dir, name string, nodes []*pb.NodeProto, inits []*pb.TensorProto, outs ...*pb.ValueInfoProto) string {
	t.Helper()
	m, err := onnx.Load(modelPath("tiny_dyn_s4.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := onnx.Merge(m, nodes, inits, outs)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := mm.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

type evalJSON struct {
	Confusion  [][]int64         `json:"confusion"`
	OutOfRange []int64           `json:"out_of_range"`
	Meta       map[string]string `json:"meta"`
	Metrics    map[string]any    `json:"metrics"`
}

func readEvalJSON(t testing.TB, path string) evalJSON {
	t.Helper()
	var v evalJSON
	if err := json.Unmarshal(readFile(t, path), &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func sameMatrix(a, b [][]int64) bool {
	return slices.EqualFunc(a, b, func(x, y []int64) bool { return slices.Equal(x, y) })
}

// TestEvalOutputConventions evaluates models derived from tiny_dyn_s4 that decide as it does
// (channels-last scores, an auxiliary first output, an output whose layout only
// --output-layout gives) on the 12-class synthetic data, its five classes mapped with a
// --class-map file, and wants tiny_dyn_s4's confusion matrix; likewise a one-channel sigmoid
// model against the two-channel softmax it equals. It also checks what inspect says.
func TestEvalOutputConventions(t *testing.T) {
	val := filepath.Join(synthData(t), "val")
	dir := fastTempDir(t)
	f := pb.TensorProto_FLOAT
	identity := filepath.Join(dir, "five.txt")
	writeFile(t, identity, []byte("# model dataset\n0 0\n1 1\n2 2\n3 3\n4 4\n"))
	eval := func(name, model, cmap string, extra ...string) evalJSON {
		t.Helper()
		js := filepath.Join(dir, name+".json")
		args := append([]string{"eval", "--model", model, "--data", val, "--threads", "1", "--class-map", cmap, "--json", js}, extra...)
		r := mustRun(t, args...)
		if !strings.Contains(r.stdout, "class map") {
			t.Errorf("%s: the output does not report the class map:\n%s", name, r.stdout)
		}
		return readEvalJSON(t, js)
	}
	ref := eval("ref", modelPath("tiny_dyn_s4.onnx"), identity)
	if len(ref.Confusion) != 12 {
		t.Fatalf("reference confusion matrix of %d classes, want 12", len(ref.Confusion))
	}
	if !strings.Contains(ref.Meta["class_map"], "5 of 5 model classes mapped") {
		t.Errorf("report meta class_map = %q", ref.Meta["class_map"])
	}

	transpose := []*pb.NodeProto{onnx.Node("Transpose", "t", []string{"out"}, []string{"nhwc"}, onnx.AttrInts("perm", 0, 2, 3, 1))}
	nhwc := derivedModel(t, dir, "nhwc.onnx", transpose, nil, onnx.ValueInfo("nhwc", f, "unk__1", "unk__2", "unk__3", 5))
	aux := derivedModel(t, dir, "aux.onnx", []*pb.NodeProto{
		onnx.Node("Slice", "s", []string{"out", "st", "en", "ax"}, []string{"aux_sl"}),
		onnx.Node("Sigmoid", "sg", []string{"aux_sl"}, []string{"aux"}),
	}, []*pb.TensorProto{onnx.Int64Vector("st", 0), onnx.Int64Vector("en", 1), onnx.Int64Vector("ax", 1)},
		onnx.ValueInfo("aux", f, "n", 1, "h", "w"), onnx.ValueInfo("out", f, "n", 5, "h", "w"))
	// Unsqueeze then Squeeze hide the Transpose, and the dims are all dynamic: only the flag tells.
	hidden := derivedModel(t, dir, "hidden.onnx", append(transpose,
		onnx.Node("Unsqueeze", "u", []string{"nhwc", "a0"}, []string{"u"}),
		onnx.Node("Squeeze", "q", []string{"u", "a0"}, []string{"y"})),
		[]*pb.TensorProto{onnx.Int64Vector("a0", 0)}, onnx.ValueInfo("y", f, "n", "a", "b", "c"))

	for _, tc := range []struct {
		name, model string
		extra       []string
	}{{"nhwc", nhwc, nil}, {"aux", aux, nil}, {"hidden", hidden, []string{"--output-layout", "nhwc"}}, {"aux-named", aux, []string{"--output", "out"}}} {
		got := eval(tc.name, tc.model, identity, tc.extra...)
		if !sameMatrix(got.Confusion, ref.Confusion) || !slices.Equal(got.OutOfRange, ref.OutOfRange) {
			t.Errorf("%s: confusion matrix %v, want tiny_dyn_s4's %v", tc.name, got.Confusion, ref.Confusion)
		}
	}
	r := runApp("eval", "--model", hidden, "--data", val, "--threads", "1", "--class-map", identity)
	if r.err == nil || !strings.Contains(r.err.Error(), "--output-layout") {
		t.Errorf("eval of an output with no layout evidence: error %v, want one naming --output-layout", r.err)
	}

	// Binary: a sigmoid of l1-l0 against the softmax of (l0, l1), classes 0 and 1 of the data.
	inits := []*pb.TensorProto{onnx.Int64Vector("z", 0), onnx.Int64Vector("one", 1), onnx.Int64Vector("two", 2), onnx.Int64Vector("ax", 1)}
	two := derivedModel(t, dir, "two.onnx", []*pb.NodeProto{
		onnx.Node("Slice", "s01", []string{"out", "z", "two", "ax"}, []string{"l01"}),
		onnx.Node("Softmax", "sm", []string{"l01"}, []string{"p01"}, onnx.AttrInt("axis", 1)),
	}, inits, onnx.ValueInfo("p01", f, "n", 2, "h", "w"))
	sig := derivedModel(t, dir, "sigmoid.onnx", []*pb.NodeProto{
		onnx.Node("Slice", "s0", []string{"out", "z", "one", "ax"}, []string{"l0"}),
		onnx.Node("Slice", "s1", []string{"out", "one", "two", "ax"}, []string{"l1"}),
		onnx.Node("Sub", "d", []string{"l1", "l0"}, []string{"d"}),
		onnx.Node("Sigmoid", "sg", []string{"d"}, []string{"p"}),
	}, inits, onnx.ValueInfo("p", f, "n", 1, "h", "w"))
	binMap := filepath.Join(dir, "binary-map.json")
	writeFile(t, binMap, []byte(`{"0": 0, "1": 1}`))
	bref := eval("two", two, binMap)
	bgot := eval("sigmoid", sig, binMap)
	if !sameMatrix(bgot.Confusion, bref.Confusion) {
		t.Errorf("sigmoid model: confusion matrix %v, want the two-channel softmax's %v", bgot.Confusion, bref.Confusion)
	}
	predicted := func(c [][]int64, p int) (n int64) {
		for _, row := range c {
			n += row[p]
		}
		return n
	}
	if predicted(bref.Confusion, 0) == 0 || predicted(bref.Confusion, 1) == 0 {
		t.Errorf("the two-channel model predicts one class only: the comparison could not fail")
	}
	// A threshold of 1 leaves no foreground.
	thr := eval("sigmoid-t1", sig, binMap, "--binary-threshold", "1")
	if predicted(thr.Confusion, 1) != 0 {
		t.Errorf("--binary-threshold 1: %d pixels predicted foreground, want 0", predicted(thr.Confusion, 1))
	}

	// predict writes the binary decisions as masks of 0 and 1, both present.
	masks := filepath.Join(dir, "masks")
	mustRun(t, "predict", "--model", sig, "--out", masks, "--threads", "1", filepath.Join(val, "images"))
	seen := map[uint8]bool{}
	for _, name := range []string{"0000", "0001", "0002"} {
		path := filepath.Join(masks, name+"_labels.png")
		for _, v := range asGray(t, path, readPNG(t, path)).Pix {
			seen[v] = true
		}
	}
	if len(seen) != 2 || !seen[0] || !seen[1] {
		t.Errorf("predict of the sigmoid model wrote labels %v, want 0 and 1", seen)
	}

	for _, tc := range []struct {
		model string
		extra []string
		want  []string
	}{
		{nhwc, nil, []string{"nhwc [unk__1 unk__2 unk__3 5] float32 from Transpose: class scores, 5 classes, NHWC", "uses nhwc"}},
		{sig, nil, []string{"binary probability, foreground where > 0.5", "after a Sigmoid"}},
		{aux, nil, []string{"aux [n 1 h w]", "uses out (the other outputs are named as auxiliary)"}},
		{hidden, nil, []string{"give --output-layout", "cannot choose"}},
	} {
		r := mustRun(t, append([]string{"inspect", tc.model}, tc.extra...)...)
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("inspect %s: no %q in\n%s", filepath.Base(tc.model), w, r.stdout)
			}
		}
	}
}

// TestEvalHTMLReport writes an HTML report and checks that every file it links exists and that
// its summary numbers are the JSON report's.
func TestEvalHTMLReport(t *testing.T) {
	val := filepath.Join(synthData(t), "val")
	dir := fastTempDir(t)
	rep, js := filepath.Join(dir, "report"), filepath.Join(dir, "r.json")
	cmap := filepath.Join(dir, "five.txt")
	writeFile(t, cmap, []byte("0 0\n1 1\n2 2\n3 3\n4 4\n"))
	mustRun(t, "eval", "--model", modelPath("tiny_dyn_s4.onnx"), "--data", val, "--threads", "1", "--class-map", cmap,
		"--json", js, "--report", rep, "--report-worst", "2")
	page := string(readFile(t, filepath.Join(rep, "index.html")))
	links := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) == 0 {
		t.Fatal("the report links no file")
	}
	images := 0
	for _, l := range links {
		if _, err := os.Stat(filepath.Join(rep, filepath.FromSlash(l[1]))); err != nil {
			t.Errorf("the report links %s: %v", l[1], err)
		}
		if strings.HasPrefix(l[1], "images/") {
			images++
		}
	}
	// Two images, three PNGs each, linked twice (img and a).
	if images != 2*3*2 {
		t.Errorf("the report links %d image files, want 12", images)
	}
	v := readEvalJSON(t, js)
	m := regexp.MustCompile(`(?s)<table id="summary">\s*<thead><tr>(.*?)</tr></thead>\s*<tbody><tr>(.*?)</tr>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no summary table in the report")
	}
	cell := regexp.MustCompile(`<t[hd]>(.*?)</t[hd]>`)
	var heads, vals []string
	for _, c := range cell.FindAllStringSubmatch(m[1], -1) {
		heads = append(heads, c[1])
	}
	for _, c := range cell.FindAllStringSubmatch(m[2], -1) {
		vals = append(vals, c[1])
	}
	checked := 0
	for i, h := range heads {
		x, ok := v.Metrics[h].(float64)
		if !ok || i >= len(vals) {
			continue
		}
		if want := fmt.Sprintf("%.2f", 100*x); vals[i] != want {
			t.Errorf("report %s = %s, JSON %s", h, vals[i], want)
		}
		checked++
	}
	if checked < 4 {
		t.Errorf("compared %d summary numbers (heads %v), want aAcc, mIoU, mAcc, mDice, fwIoU", checked, heads)
	}
}
