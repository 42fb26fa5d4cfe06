package infer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/onnx"
)

// testModelPath names a model of the repository's testdata.
func testModelPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "models", name)
}

func loadTestModel(t testing.TB, name string) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(testModelPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// memDataset is an in-memory dataset of random images with labels in [0, k) (and some ignore
// pixels), of the sizes given.
type memDataset struct {
	samples []*data.Sample
	classes []string
}

func (d *memDataset) Len() int                         { return len(d.samples) }
func (d *memDataset) Name(i int) string                { return d.samples[i].Name }
func (d *memDataset) Classes() []string                { return d.classes }
func (d *memDataset) Load(i int) (*data.Sample, error) { return cloneSample(d.samples[i]), nil }

func cloneSample(s *data.Sample) *data.Sample {
	c := *s
	c.Image, c.Label = slices.Clone(s.Image), slices.Clone(s.Label)
	return &c
}

func newMemDataset(seed uint64, k int, sizes [][2]int) *memDataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &memDataset{}
	for i := 0; i < k; i++ {
		d.classes = append(d.classes, fmt.Sprintf("class%d", i))
	}
	for n, hw := range sizes {
		h, w := hw[0], hw[1]
		s := &data.Sample{Name: fmt.Sprintf("img%d", n), H: h, W: w, Image: make([]float32, 3*h*w), Label: make([]int32, h*w)}
		for i := range s.Image {
			s.Image[i] = float32(rng.IntN(256))
		}
		for i := range s.Label {
			s.Label[i] = int32(rng.IntN(k))
			if rng.IntN(20) == 0 {
				s.Label[i] = 255
			}
		}
		d.samples = append(d.samples, s)
	}
	return d
}

// relabel returns a copy of d whose labels are f(label) (ignore stays ignore) and classes names.
func (d *memDataset) relabel(names []string, f func(int32) int32) *memDataset {
	out := &memDataset{classes: names}
	for _, s := range d.samples {
		c := cloneSample(s)
		for i, v := range c.Label {
			if v != 255 {
				c.Label[i] = f(v)
			}
		}
		out.samples = append(out.samples, c)
	}
	return out
}

// evalSizes holds an image whose height equals the class count of the test models (5), the
// case in which a channels-last output was read with H as its class count.
var evalSizes = [][2]int{{5, 24}, {20, 28}, {16, 12}}

// saveModel writes m into the test's temporary folder.
func saveModel(t testing.TB, m *onnx.Model, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// appendNodes merges nodes after m's graph and makes outputs the graph outputs.
func appendNodes(t testing.TB, m *onnx.Model, nodes []*pb.NodeProto, inits []*pb.TensorProto, outputs ...*pb.ValueInfoProto) *onnx.Model {
	t.Helper()
	mm, err := onnx.Merge(m, nodes, inits, outputs)
	if err != nil {
		t.Fatal(err)
	}
	return mm
}

// evalModel evaluates the model file on ds with the given options.
func evalModel(t testing.TB, path string, mo ModelOptions, ds data.Dataset, k int, eo EvalOptions) (*metrics.Confusion, error) {
	t.Helper()
	if mo.Threads == 0 {
		mo.Threads = 1
	}
	mo.ModeSet = true
	lm, err := OpenModel(path, mo)
	if err != nil {
		return nil, err
	}
	defer lm.Close()
	eo.Ignore, eo.Workers, eo.Strict = 255, 1, true
	conf, _, err := Evaluate(context.Background(), lm.Predictor, ds, k, eo)
	if err == nil {
		err = conf.Err()
	}
	return conf, err
}

func mustEval(t testing.TB, path string, mo ModelOptions, ds data.Dataset, k int, eo EvalOptions) *metrics.Confusion {
	t.Helper()
	c, err := evalModel(t, path, mo, ds, k, eo)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return c
}

// predictedClasses counts the classes that some pixel is predicted as.
func predictedClasses(c *metrics.Confusion) int {
	n := 0
	for p := 0; p < c.K; p++ {
		s := int64(0)
		for g := 0; g < c.K; g++ {
			s += c.M[g*c.K+p]
		}
		if s > 0 {
			n++
		}
	}
	return n
}

func sameConfusion(a, b *metrics.Confusion) bool {
	return a.K == b.K && slices.Equal(a.M, b.M) && slices.Equal(a.OutOfRange, b.OutOfRange)
}

// TestOutputConventionsSameConfusion evaluates variants of testdata models whose decisions equal
// the original's (channels-last scores, label maps of each integer type, a first auxiliary
// output, low-resolution channels-last scores) and wants the original's confusion matrix.
func TestOutputConventionsSameConfusion(t *testing.T) {
	ds := newMemDataset(1, 5, evalSizes)
	for _, base := range []struct {
		file, out string
		static    bool
	}{{"tiny_dyn_s4.onnx", "out", false}, {"tiny_static_s8.onnx", "logits", true}} {
		m := loadTestModel(t, base.file)
		sizes := ds
		mo := ModelOptions{}
		if base.static {
			mo.Mode = Mode{Name: "resize"}
		}
		ref := mustEval(t, saveModel(t, m, "ref.onnx"), mo, sizes, 5, EvalOptions{})
		if predictedClasses(ref) < 2 {
			t.Fatalf("%s predicts %d classes on the test data: the comparisons below could not fail", base.file, predictedClasses(ref))
		}
		o := base.out
		f := pb.TensorProto_FLOAT
		variants := []struct {
			name  string
			model *onnx.Model
			opt   OutputOptions
		}{
			{"nhwc", appendNodes(t, m, []*pb.NodeProto{onnx.Node("Transpose", "t", []string{o}, []string{"nhwc"}, onnx.AttrInts("perm", 0, 2, 3, 1))}, nil,
				onnx.ValueInfo("nhwc", f, "unk__1", "unk__2", "unk__3", 5)), OutputOptions{}},
			{"nhwc-undeclared", appendNodes(t, m, []*pb.NodeProto{onnx.Node("Transpose", "t", []string{o}, []string{"nhwc"}, onnx.AttrInts("perm", 0, 2, 3, 1))}, nil,
				&pb.ValueInfoProto{Name: "nhwc"}), OutputOptions{}},
			{"nhwc-flag", appendNodes(t, m, []*pb.NodeProto{onnx.Node("Transpose", "t", []string{o}, []string{"nhwc"}, onnx.AttrInts("perm", 0, 2, 3, 1))}, nil,
				onnx.ValueInfo("nhwc", f, "", "", "", "")), OutputOptions{Layout: "nhwc"}},
			{"aux-first", appendNodes(t, m, []*pb.NodeProto{
				onnx.Node("Slice", "s", []string{o, "st", "en", "ax"}, []string{"aux_sl"}),
				onnx.Node("Sigmoid", "sg", []string{"aux_sl"}, []string{"aux_out"}),
			}, []*pb.TensorProto{onnx.Int64Vector("st", 0), onnx.Int64Vector("en", 1), onnx.Int64Vector("ax", 1)},
				onnx.ValueInfo("aux_out", f, "n", 1, "h", "w"), onnx.ValueInfo(o, f, "n", 5, "h", "w")), OutputOptions{}},
			{"aux-first-named", appendNodes(t, m, []*pb.NodeProto{
				onnx.Node("Slice", "s", []string{o, "st", "en", "ax"}, []string{"first"}),
			}, []*pb.TensorProto{onnx.Int64Vector("st", 0), onnx.Int64Vector("en", 3), onnx.Int64Vector("ax", 1)},
				onnx.ValueInfo("first", f, "n", 3, "h", "w"), onnx.ValueInfo(o, f, "n", 5, "h", "w")), OutputOptions{Name: o}},
		}
		for _, tc := range []struct {
			name string
			to   pb.TensorProto_DataType
			keep int64
		}{{"int64-n1hw", 0, 1}, {"int64-nhw", 0, 0}, {"int32-n1hw", pb.TensorProto_INT32, 1}, {"uint8-nhw", pb.TensorProto_UINT8, 0}, {"int32-nhw", pb.TensorProto_INT32, 0}, {"uint8-n1hw", pb.TensorProto_UINT8, 1}} {
			nodes := []*pb.NodeProto{onnx.Node("ArgMax", "am", []string{o}, []string{"am"}, onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", tc.keep))}
			et, out := pb.TensorProto_INT64, "am"
			if tc.to != 0 {
				nodes = append(nodes, onnx.Node("Cast", "c", []string{"am"}, []string{"lab"}, onnx.AttrInt("to", int64(tc.to))))
				et, out = tc.to, "lab"
			}
			dims := []any{"n", 1, "h", "w"}
			if tc.keep == 0 {
				dims = []any{"n", "h", "w"}
			}
			if base.static {
				continue // low-resolution label maps are resized by nearest neighbour, not as scores
			}
			variants = append(variants, struct {
				name  string
				model *onnx.Model
				opt   OutputOptions
			}{tc.name, appendNodes(t, m, nodes, nil, onnx.ValueInfo(out, et, dims...)), OutputOptions{}})
		}
		for _, v := range variants {
			t.Run(base.file+"/"+v.name, func(t *testing.T) {
				mo := mo
				mo.Output = v.opt
				got, err := evalModel(t, saveModel(t, v.model, v.name+".onnx"), mo, ds, 5, EvalOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !sameConfusion(got, ref) {
					t.Errorf("confusion matrix %v (out of range %v), want the original's %v", got.M, got.OutOfRange, ref.M)
				}
			})
		}
	}
}

// binaryModels returns, from tiny_dyn_s4's five logits l, a two-channel model (l0, l1), a
// one-channel logit model l1-l0 and a one-channel sigmoid model sigmoid(l1-l0): all decide
// foreground where l1 > l0.
func binaryModels(t testing.TB) (two, logit, prob *onnx.Model) {
	m := loadTestModel(t, "tiny_dyn_s4.onnx")
	f := pb.TensorProto_FLOAT
	inits := []*pb.TensorProto{onnx.Int64Vector("z", 0), onnx.Int64Vector("one", 1), onnx.Int64Vector("two", 2), onnx.Int64Vector("ax", 1)}
	slices := []*pb.NodeProto{
		onnx.Node("Slice", "s01", []string{"out", "z", "two", "ax"}, []string{"l01"}),
		onnx.Node("Slice", "s0", []string{"out", "z", "one", "ax"}, []string{"l0"}),
		onnx.Node("Slice", "s1", []string{"out", "one", "two", "ax"}, []string{"l1"}),
		onnx.Node("Sub", "d", []string{"l1", "l0"}, []string{"d"}),
	}
	two = appendNodes(t, m, append(slices[:1:1], onnx.Node("Softmax", "sm", []string{"l01"}, []string{"p01"}, onnx.AttrInt("axis", 1))), inits[:],
		onnx.ValueInfo("p01", f, "n", 2, "h", "w"))
	logit = appendNodes(t, m, slices, inits, onnx.ValueInfo("d", f, "n", 1, "h", "w"))
	prob = appendNodes(t, m, append(slices, onnx.Node("Sigmoid", "sg", []string{"d"}, []string{"p"})), inits, onnx.ValueInfo("p", f, "n", 1, "h", "w"))
	return two, logit, prob
}

// TestBinaryOutput checks that a one-channel logit or sigmoid output decides as the two-channel
// softmax it equals, and that the threshold moves the decision.
func TestBinaryOutput(t *testing.T) {
	ds := newMemDataset(2, 2, evalSizes)
	two, logit, prob := binaryModels(t)
	ref := mustEval(t, saveModel(t, two, "two.onnx"), ModelOptions{}, ds, 2, EvalOptions{})
	if predictedClasses(ref) != 2 {
		t.Fatalf("the two-channel model predicts %d classes on the test data: the comparison could not fail", predictedClasses(ref))
	}
	for _, tc := range []struct {
		name string
		m    *onnx.Model
	}{{"logit", logit}, {"sigmoid", prob}} {
		got := mustEval(t, saveModel(t, tc.m, tc.name+".onnx"), ModelOptions{}, ds, 2, EvalOptions{})
		if !sameConfusion(got, ref) {
			t.Errorf("%s: confusion matrix %v, want the two-channel softmax's %v", tc.name, got.M, ref.M)
		}
	}
	// Sliding windows average the foreground probability as they average the softmax.
	slide := ModelOptions{Mode: Mode{Name: "slide", CropH: 8, CropW: 10, StrideH: 5, StrideW: 6}}
	sref := mustEval(t, saveModel(t, two, "two.onnx"), slide, ds, 2, EvalOptions{})
	if sameConfusion(sref, ref) {
		t.Log("sliding windows decide as whole images on this data")
	}
	if got := mustEval(t, saveModel(t, prob, "sigmoid.onnx"), slide, ds, 2, EvalOptions{}); !sameConfusion(got, sref) {
		t.Errorf("sigmoid, sliding windows: confusion matrix %v, want the two-channel softmax's %v", got.M, sref.M)
	}
	// A threshold above every probability leaves no foreground.
	got := mustEval(t, saveModel(t, prob, "sigmoid.onnx"), ModelOptions{Output: OutputOptions{Threshold: 1, ThresholdSet: true}}, ds, 2, EvalOptions{})
	if got.M[1]+got.M[3] != 0 {
		t.Errorf("threshold 1: %d pixels foreground, want 0", got.M[1]+got.M[3])
	}
}

// TestAuxOutputAmbiguous wants outputs that nothing tells apart to be an error naming --output.
func TestAuxOutputAmbiguous(t *testing.T) {
	m := loadTestModel(t, "tiny_dyn_s4.onnx")
	f := pb.TensorProto_FLOAT
	mm := appendNodes(t, m, []*pb.NodeProto{onnx.Node("Slice", "s", []string{"out", "st", "en", "ax"}, []string{"first"})},
		[]*pb.TensorProto{onnx.Int64Vector("st", 0), onnx.Int64Vector("en", 3), onnx.Int64Vector("ax", 1)},
		onnx.ValueInfo("first", f, "n", 3, "h", "w"), onnx.ValueInfo("out", f, "n", 5, "h", "w"))
	_, err := evalModel(t, saveModel(t, mm, "two-outputs.onnx"), ModelOptions{}, newMemDataset(1, 5, evalSizes[:1]), 5, EvalOptions{})
	if err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("two plausible outputs: error %v, want one naming --output", err)
	}
}
