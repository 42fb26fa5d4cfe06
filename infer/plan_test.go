package infer

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
)

// planModel returns a model with image input in (dims) whose one output "y", declared with
// out (nil: no shape) of element type et, is computed by nodes from "image".
func planModel(in []any, et pb.TensorProto_DataType, out []any, nodes ...*pb.NodeProto) *onnx.Model {
	y := &pb.ValueInfoProto{Name: "y"}
	if out != nil {
		y = onnx.ValueInfo("y", et, out...)
	}
	if len(nodes) == 0 {
		nodes = []*pb.NodeProto{onnx.Node("Identity", "id", []string{"image"}, []string{"y"})}
	}
	return &onnx.Model{Proto: &pb.ModelProto{IrVersion: 8, OpsetImport: []*pb.OperatorSetIdProto{{Version: 17}},
		Graph: &pb.GraphProto{Node: nodes, Input: []*pb.ValueInfoProto{onnx.ValueInfo("image", pb.TensorProto_FLOAT, in...)},
			Output: []*pb.ValueInfoProto{y}}}}
}

func TestPlanOutputs(t *testing.T) {
	dyn := []any{"batch", 3, "height", "width"}
	static := []any{1, 3, 64, 128}
	square := []any{1, 3, 48, 48}
	f, i64 := pb.TensorProto_FLOAT, pb.TensorProto_INT64
	conv := onnx.Node("Conv", "c", []string{"image", "w"}, []string{"z"})
	for _, tc := range []struct {
		name      string
		m         *onnx.Model
		md        *Metadata
		o         OutputOptions
		kind, lay string
		classes   int
		threshold float64
		errHas    string
	}{
		{name: "static classes, dynamic width", m: planModel(dyn, f, []any{"n", 5, "h", "w"}), kind: KindScores, lay: LayoutNCHW, classes: 5},
		{name: "channels last, static classes", m: planModel(dyn, f, []any{"n", "h", "w", 5}), kind: KindScores, lay: LayoutNHWC, classes: 5},
		{name: "all dynamic", m: planModel(dyn, f, []any{"n", "", "", ""}), errHas: "--output-layout"},
		{name: "all dynamic, flag", m: planModel(dyn, f, []any{"n", "", "", ""}), o: OutputOptions{Layout: LayoutNHWC}, kind: KindScores, lay: LayoutNHWC},
		{name: "static, aspect nchw", m: planModel(static, f, []any{1, 5, 8, 16}), kind: KindScores, lay: LayoutNCHW, classes: 5},
		{name: "static, aspect nhwc", m: planModel(static, f, []any{1, 8, 16, 5}), kind: KindScores, lay: LayoutNHWC, classes: 5},
		{name: "static, both plausible", m: planModel(square, f, []any{1, 6, 6, 6}), errHas: "--output-layout"},
		{name: "static, both plausible, flag", m: planModel(square, f, []any{1, 6, 6, 6}), o: OutputOptions{Layout: LayoutNCHW}, kind: KindScores, lay: LayoutNCHW, classes: 6},
		{name: "class dim name", m: planModel(dyn, f, []any{"batch", "classes", "", ""}), kind: KindScores, lay: LayoutNCHW},
		{name: "input dim names", m: planModel(dyn, f, []any{"batch", "height", "width", "q"}), kind: KindScores, lay: LayoutNHWC},
		{name: "metadata classes", m: planModel(static, f, []any{1, 7, 9, 12}), md: &Metadata{Classes: make([]string, 12)}, kind: KindScores, lay: LayoutNHWC, classes: 12},
		{name: "lmpseg export", m: planModel(dyn, f, []any{"batch", "classes", "height", "width"}), md: &Metadata{Output: "probs"}, kind: KindScores, lay: LayoutNCHW},
		{name: "conv", m: planModel(square, f, []any{1, 6, 6, 6}, conv, onnx.Node("Resize", "r", []string{"z", "", "s"}, []string{"y"})), kind: KindScores, lay: LayoutNCHW, classes: 6},
		{name: "conv then transpose", m: planModel(square, f, []any{1, 6, 6, 6}, conv, onnx.Node("Transpose", "t", []string{"z"}, []string{"y"}, onnx.AttrInts("perm", 0, 2, 3, 1))), kind: KindScores, lay: LayoutNHWC, classes: 6},
		{name: "softmax axis 1", m: planModel(square, f, []any{1, 6, 6, 6}, onnx.Node("Softmax", "s", []string{"image"}, []string{"y"}, onnx.AttrInt("axis", 1))), kind: KindScores, lay: LayoutNCHW, classes: 6},
		{name: "softmax default axis (opset 13+: last)", m: planModel(square, f, []any{1, 6, 6, 6}, onnx.Node("Softmax", "s", []string{"image"}, []string{"y"})), kind: KindScores, lay: LayoutNHWC, classes: 6},
		{name: "int64 label map", m: planModel(dyn, i64, []any{"n", 1, "h", "w"}), kind: KindLabels, lay: LayoutNCHW},
		{name: "uint8 nhw1 label map", m: planModel(dyn, pb.TensorProto_UINT8, []any{"n", "h", "w", 1}), kind: KindLabels, lay: LayoutNHWC},
		{name: "int32 nhw label map", m: planModel(dyn, pb.TensorProto_INT32, []any{"n", "h", "w"}), kind: KindLabels},
		{name: "int label map of 3", m: planModel(dyn, i64, []any{"n", 3, "h", "w"}), errHas: "one"},
		{name: "argmax cast to float", m: planModel(dyn, f, []any{"n", 1, "h", "w"}, onnx.Node("ArgMax", "a", []string{"image"}, []string{"a"}, onnx.AttrInt("axis", 1)),
			onnx.Node("Cast", "c", []string{"a"}, []string{"y"}, onnx.AttrInt("to", int64(f)))), kind: KindLabels, lay: LayoutNCHW},
		{name: "sigmoid", m: planModel(dyn, f, []any{"n", 1, "h", "w"}, onnx.Node("Sigmoid", "s", []string{"image"}, []string{"y"})), kind: KindBinary, lay: LayoutNCHW, classes: 2, threshold: 0.5},
		{name: "sigmoid, threshold", m: planModel(dyn, f, []any{"n", 1, "h", "w"}, onnx.Node("Sigmoid", "s", []string{"image"}, []string{"y"})), o: OutputOptions{Threshold: 0.3, ThresholdSet: true}, kind: KindBinary, lay: LayoutNCHW, classes: 2, threshold: 0.3},
		{name: "sigmoid, nhw", m: planModel(dyn, f, []any{"n", "h", "w"}, onnx.Node("Sigmoid", "s", []string{"image"}, []string{"y"})), kind: KindBinary, classes: 2, threshold: 0.5},
		{name: "logit", m: planModel(dyn, f, []any{"n", 1, "h", "w"}), kind: KindBinary, lay: LayoutNCHW, classes: 2},
		{name: "rank 2", m: planModel(dyn, f, []any{"n", 5}), errHas: "rank 2"},
		{name: "undeclared", m: planModel(dyn, f, nil), kind: KindScores},
	} {
		ps := PlanOutputs(tc.m, tc.md, tc.o)
		if len(ps) != 1 {
			t.Fatalf("%s: %d plans", tc.name, len(ps))
		}
		p := ps[0]
		if tc.errHas != "" {
			if p.Err == nil || !strings.Contains(p.Err.Error(), tc.errHas) || p.Kind != "" {
				t.Errorf("%s: plan %v, want an error containing %q", tc.name, p, tc.errHas)
			}
			continue
		}
		if p.Err != nil || p.Kind != tc.kind || p.Layout != tc.lay || p.Classes != tc.classes || p.Threshold != tc.threshold {
			t.Errorf("%s: plan %v (kind %q layout %q classes %d threshold %g), want kind %q layout %q classes %d threshold %g",
				tc.name, p, p.Kind, p.Layout, p.Classes, p.Threshold, tc.kind, tc.lay, tc.classes, tc.threshold)
		}
		if len(p.Why) == 0 {
			t.Errorf("%s: plan %v gives no reason", tc.name, p)
		}
	}
}

func TestChooseOutput(t *testing.T) {
	ok := func(name string, c int) OutputPlan {
		return OutputPlan{Name: name, Kind: KindScores, Layout: LayoutNCHW, Classes: c}
	}
	bad := OutputPlan{Name: "feat", Err: errTest}
	for _, tc := range []struct {
		name   string
		plans  []OutputPlan
		o      OutputOptions
		want   string
		errHas string
	}{
		{name: "one", plans: []OutputPlan{ok("a", 5)}, want: "a"},
		{name: "aux first", plans: []OutputPlan{ok("aux_out", 5), ok("out", 5)}, want: "out"},
		{name: "seg_aux1", plans: []OutputPlan{ok("seg", 5), ok("seg_aux1", 5)}, want: "seg"},
		{name: "auxiliary word inside", plans: []OutputPlan{ok("logits", 5), ok("auxlogits", 5)}, want: "logits"},
		{name: "one usable", plans: []OutputPlan{bad, ok("out", 5)}, want: "out"},
		{name: "two", plans: []OutputPlan{ok("a", 5), ok("b", 5)}, errHas: "--output NAME"},
		{name: "named", plans: []OutputPlan{ok("a", 5), ok("b", 5)}, o: OutputOptions{Name: "b"}, want: "b"},
		{name: "named, absent", plans: []OutputPlan{ok("a", 5)}, o: OutputOptions{Name: "c"}, errHas: "outputs are a"},
		{name: "named, unusable", plans: []OutputPlan{bad, ok("a", 5)}, o: OutputOptions{Name: "feat"}, errHas: "feat"},
		{name: "none usable", plans: []OutputPlan{bad, bad}, errHas: "--output"},
	} {
		p, _, err := ChooseOutput(tc.plans, tc.o)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%s: chose %s, error %v, want an error containing %q", tc.name, p.Name, err, tc.errHas)
			}
			continue
		}
		if err != nil || p.Name != tc.want {
			t.Errorf("%s: chose %q (%v), want %q", tc.name, p.Name, err, tc.want)
		}
	}
}

var errTest = errTestT{}

type errTestT struct{}

func (errTestT) Error() string { return "not a segmentation" }

func TestNewOutputAdapterOptions(t *testing.T) {
	dyn := []any{"batch", 3, "height", "width"}
	sig := planModel(dyn, pb.TensorProto_FLOAT, []any{"n", 1, "h", "w"}, onnx.Node("Sigmoid", "s", []string{"image"}, []string{"y"}))
	logit := planModel(dyn, pb.TensorProto_FLOAT, []any{"n", 1, "h", "w"})
	for _, tc := range []struct {
		name   string
		m      *onnx.Model
		o      OutputOptions
		errHas string
	}{
		{"bad layout", logit, OutputOptions{Layout: "hwc"}, "nchw or nhwc"},
		{"probability threshold above 1", sig, OutputOptions{Threshold: 2, ThresholdSet: true}, "[0, 1]"},
		{"logit threshold above 1", logit, OutputOptions{Threshold: 2, ThresholdSet: true}, ""},
		{"infinite threshold", logit, OutputOptions{Threshold: math.Inf(1), ThresholdSet: true}, "finite"},
	} {
		_, err := NewOutputAdapter(tc.m, nil, tc.o)
		switch {
		case tc.errHas == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.errHas)
		}
	}
}

// TestConvert checks OutputAdapter.Convert against the raw output read by hand, for each layout
// and kind, and its errors.
func TestConvert(t *testing.T) {
	seq := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)
		}
		return v
	}
	for _, tc := range []struct {
		name      string
		plan      OutputPlan
		out       onnx.Output
		c, h, w   int     // scores
		lab       []int32 // labels
		lh, lw    int
		wantError bool
	}{
		{name: "nchw", plan: OutputPlan{Kind: KindScores, Layout: LayoutNCHW}, out: onnx.Output{Type: "float32", Data: seq(2 * 3 * 4 * 5), Shape: []int64{2, 3, 4, 5}}, c: 3, h: 4, w: 5},
		{name: "nhwc", plan: OutputPlan{Kind: KindScores, Layout: LayoutNHWC}, out: onnx.Output{Type: "float32", Data: seq(3 * 4 * 5), Shape: []int64{1, 4, 5, 3}}, c: 3, h: 4, w: 5},
		{name: "n1hw labels", plan: OutputPlan{Kind: KindLabels}, out: onnx.Output{Type: "int64", Data: seq(6), Shape: []int64{1, 1, 2, 3}}, lab: []int32{0, 1, 2, 3, 4, 5}, lh: 2, lw: 3},
		{name: "nhw1 labels", plan: OutputPlan{Kind: KindLabels}, out: onnx.Output{Type: "uint8", Data: seq(6), Shape: []int64{1, 2, 3, 1}}, lab: []int32{0, 1, 2, 3, 4, 5}, lh: 2, lw: 3},
		{name: "nhw labels", plan: OutputPlan{Kind: KindScores}, out: onnx.Output{Type: "int32", Data: seq(6), Shape: []int64{1, 2, 3}}, lab: []int32{0, 1, 2, 3, 4, 5}, lh: 2, lw: 3},
		{name: "binary", plan: OutputPlan{Kind: KindScores, Layout: LayoutNCHW, Threshold: 2}, out: onnx.Output{Type: "float32", Data: seq(6), Shape: []int64{1, 1, 2, 3}}, c: 2, h: 2, w: 3},
		{name: "rank 2", plan: OutputPlan{Kind: KindScores}, out: onnx.Output{Type: "float32", Data: seq(6), Shape: []int64{2, 3}}, wantError: true},
		{name: "labels of 3 values", plan: OutputPlan{Kind: KindLabels, Layout: LayoutNCHW}, out: onnx.Output{Type: "int64", Data: seq(12), Shape: []int64{1, 3, 2, 2}}, wantError: true},
		{name: "ambiguous", plan: OutputPlan{Kind: KindScores}, out: onnx.Output{Type: "float32", Data: seq(60), Shape: []int64{1, 3, 4, 5}}, wantError: true},
	} {
		a := &OutputAdapter{Plan: tc.plan}
		sc, lab, lh, lw, err := a.Convert(tc.out, 8, 10)
		switch {
		case tc.wantError:
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
			continue
		case tc.lab != nil:
			if sc != nil || !slices.Equal(lab, tc.lab) || lh != tc.lh || lw != tc.lw {
				t.Errorf("%s: labels %v %dx%d (scores %v), want %v %dx%d", tc.name, lab, lh, lw, sc, tc.lab, tc.lh, tc.lw)
			}
			continue
		}
		if sc == nil || sc.N != 1 || sc.C != tc.c || sc.H != tc.h || sc.W != tc.w {
			t.Errorf("%s: scores %+v, want 1x%dx%dx%d", tc.name, sc, tc.c, tc.h, tc.w)
			continue
		}
		// Reference: read the value of class k at pixel i from the raw output.
		for k := 0; k < sc.C; k++ {
			for i := 0; i < sc.H*sc.W; i++ {
				var want float32
				switch {
				case tc.name == "binary" && k == 0:
					want = 0
				case tc.name == "binary":
					want = tc.out.Data[i] - float32(tc.plan.Threshold)
				case tc.plan.Layout == LayoutNHWC:
					want = tc.out.Data[i*sc.C+k]
				default:
					want = tc.out.Data[k*sc.H*sc.W+i]
				}
				if got := sc.Data[k*sc.H*sc.W+i]; got != want {
					t.Errorf("%s: class %d pixel %d = %v, want %v", tc.name, k, i, got, want)
				}
			}
		}
	}
}

// benchmarkConvert converts a c-class h x w output of the given layout, against a copy of the
// same number of values (the NCHW case's cost) as the baseline.
func benchmarkConvert(b *testing.B, lay string, c, h, w int) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := make([]float32, c*h*w)
	for i := range d {
		d[i] = rng.Float32()
	}
	shape := []int64{1, int64(c), int64(h), int64(w)}
	if lay == LayoutNHWC {
		shape = []int64{1, int64(h), int64(w), int64(c)}
	}
	a := &OutputAdapter{Plan: OutputPlan{Kind: KindScores, Layout: lay}}
	out := onnx.Output{Type: "float32", Data: d, Shape: shape}
	b.SetBytes(int64(4 * len(d)))
	for b.Loop() {
		if _, _, _, _, err := a.Convert(out, h, w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertNCHWSmall(b *testing.B) { benchmarkConvert(b, LayoutNCHW, 5, 64, 128) }
func BenchmarkConvertNHWCSmall(b *testing.B) { benchmarkConvert(b, LayoutNHWC, 5, 64, 128) }
func BenchmarkConvertNCHWLarge(b *testing.B) { benchmarkConvert(b, LayoutNCHW, 19, 512, 1024) }
func BenchmarkConvertNHWCLarge(b *testing.B) { benchmarkConvert(b, LayoutNHWC, 19, 512, 1024) }
