package lift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/internal/ortest"
	"github.com/lmpseg/lmpseg/onnx"
)

// mb builds miniature models with onnx's node builders.
type mb struct {
	g   *pb.GraphProto
	rng *rand.Rand
	k   int
}

func newMB(seed uint64) *mb {
	in := onnx.TensorValueInfo("image", int32(pb.TensorProto_FLOAT), []int64{-1, 3, -1, -1}, []string{"N", "", "H", "W"})
	return &mb{g: &pb.GraphProto{Name: "mini", Input: []*pb.ValueInfoProto{in}}, rng: rand.New(rand.NewPCG(seed, 7))}
}

func (b *mb) name(p string) string { b.k++; return fmt.Sprintf("%s%d", p, b.k) }

func (b *mb) randInit(name string, scale float64, dims ...int) string {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(b.rng.NormFloat64() * scale)
	}
	b.g.Initializer = append(b.g.Initializer, onnx.FloatTensor(name, onnx.Dims(dims...), v))
	return name
}

func (b *mb) node(op string, in []string, attrs ...*pb.AttributeProto) string {
	out := b.name(op + "_out")
	b.g.Node = append(b.g.Node, onnx.Node(op, b.name(op), in, []string{out}, attrs...))
	return out
}

func (b *mb) ints(vals ...int64) string {
	name := b.name("c")
	b.g.Initializer = append(b.g.Initializer, onnx.Int64Vector(name, vals...))
	return name
}

func (b *mb) floats(vals ...float32) string {
	name := b.name("f")
	b.g.Initializer = append(b.g.Initializer, onnx.FloatTensor(name, onnx.Dims(len(vals)), vals))
	return name
}

type convOpt struct {
	k, kw, stride, pad, dil, group int
	bias                           bool
	pads                           []int64
}

func (b *mb) conv(x string, cin, cout int, o convOpt) string {
	if o.stride == 0 {
		o.stride = 1
	}
	if o.dil == 0 {
		o.dil = 1
	}
	if o.group == 0 {
		o.group = 1
	}
	if o.kw == 0 {
		o.kw = o.k
	}
	name := b.name("conv")
	w := b.randInit(name+".weight", math.Sqrt(2/float64(cin/o.group*o.k*o.kw)), cout, cin/o.group, o.k, o.kw)
	in := []string{x, w}
	if o.bias {
		in = append(in, b.randInit(name+".bias", 0.3, cout))
	}
	pads := o.pads
	if pads == nil {
		p := int64(o.pad)
		pads = []int64{p, p, p, p}
	}
	return b.node("Conv", in, onnx.AttrInts("kernel_shape", int64(o.k), int64(o.kw)),
		onnx.AttrInts("strides", int64(o.stride), int64(o.stride)), onnx.AttrInts("pads", pads...),
		onnx.AttrInts("dilations", int64(o.dil), int64(o.dil)), onnx.AttrInt("group", int64(o.group)))
}

func (b *mb) bn(x string, c int) string {
	name := b.name("bn")
	sc := make([]float32, c)
	va := make([]float32, c)
	for i := range sc {
		sc[i] = float32(0.5 + b.rng.Float64())
		va[i] = float32(0.5 + b.rng.Float64())
	}
	b.g.Initializer = append(b.g.Initializer, onnx.FloatTensor(name+".weight", onnx.Dims(c), sc), onnx.FloatTensor(name+".running_var", onnx.Dims(c), va))
	return b.node("BatchNormalization", []string{x, name + ".weight", b.randInit(name+".bias", 0.2, c), b.randInit(name+".running_mean", 0.2, c), name + ".running_var"},
		onnx.AttrFloat("epsilon", 1e-5), onnx.AttrFloat("momentum", 0.9))
}

func (b *mb) cbr(x string, cin, cout int, o convOpt) string {
	return b.node("Relu", []string{b.bn(b.conv(x, cin, cout, o), cout)})
}

// resizeTo resizes x to the H and W of tensor like (Shape, Slice, Concat
// with x's N and C, as torch.onnx writes F.interpolate(size=...)).
func (b *mb) resizeTo(x, like, mode, coord string) string {
	hw := b.node("Slice", []string{b.node("Shape", []string{like}), b.ints(2), b.ints(4)})
	nc := b.node("Slice", []string{b.node("Shape", []string{x}), b.ints(0), b.ints(2)})
	sizes := b.node("Concat", []string{nc, hw}, onnx.AttrInt("axis", 0))
	return b.node("Resize", []string{x, "", "", sizes}, onnx.AttrString("mode", mode), onnx.AttrString("coordinate_transformation_mode", coord))
}

// gatherResizeTo resizes with sizes built from Gather and Unsqueeze of the
// shape (the other form exporters write).
func (b *mb) gatherResizeTo(x, like, mode, coord string) string {
	sh := b.node("Shape", []string{like})
	h := b.node("Unsqueeze", []string{b.node("Gather", []string{sh, b.scalar(2)}, onnx.AttrInt("axis", 0)), b.ints(0)})
	w := b.node("Unsqueeze", []string{b.node("Gather", []string{sh, b.scalar(3)}, onnx.AttrInt("axis", 0)), b.ints(0)})
	xs := b.node("Shape", []string{x})
	nc := b.node("Slice", []string{xs, b.ints(0), b.ints(2), b.ints(0)})
	sizes := b.node("Concat", []string{nc, h, w}, onnx.AttrInt("axis", 0))
	return b.node("Resize", []string{x, "", "", sizes}, onnx.AttrString("mode", mode), onnx.AttrString("coordinate_transformation_mode", coord))
}

func (b *mb) scalar(v int64) string {
	name := b.name("s")
	b.g.Initializer = append(b.g.Initializer, onnx.Int64Tensor(name, nil, []int64{v}))
	return name
}

func (b *mb) model(out string) *onnx.Model {
	b.g.Output = []*pb.ValueInfoProto{onnx.FloatValueInfo(out, nil)}
	return &onnx.Model{Proto: &pb.ModelProto{IrVersion: 8, OpsetImport: []*pb.OperatorSetIdProto{{Domain: "", Version: 17}}, Graph: b.g}}
}

// needRuntime loads onnxruntime or skips the test.
var needRuntime = ortest.Init

// runORT runs m on image x (n x 3 x h x w) and returns the named tensors.
func runORT(t *testing.T, m *onnx.Model, outs []string, x []float32, n, h, w int) []*graph.Tensor {
	t.Helper()
	s, err := onnx.NewSession(m, outs, onnx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Run(x, n, 3, h, w)
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]*graph.Tensor, len(res))
	for i, r := range res {
		if ts[i], err = graph.TensorFrom(r.Data, r.Shape); err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

func randData(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// relDiff returns max |a-b| / max(1e-6, max |b|).
func relDiff(a, b *graph.Tensor) float64 {
	if !a.SameShape(b) {
		return math.Inf(1)
	}
	var d, s float64
	for i, v := range b.Data {
		d = math.Max(d, math.Abs(float64(a.Data[i])-float64(v)))
		s = math.Max(s, math.Abs(float64(v)))
	}
	if d != d {
		return math.Inf(1)
	}
	return d / math.Max(s, 1e-6)
}

// mergeExport merges the ToONNX export of net (lifted from input from, its
// output named out, its names prefixed with prefix) into m and returns the
// merged model; what names the case in a failure message.
func mergeExport(t *testing.T, m *onnx.Model, net *Net, from, out, prefix, what string) *onnx.Model {
	t.Helper()
	nodes, inits, err := net.ToONNX(from, out, prefix)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := onnx.Merge(m, nodes, inits, []*pb.ValueInfoProto{onnx.FloatValueInfo(out, nil)})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return merged
}

// randInputs returns the inputs of a two-image batch of the test models:
// 12 x h x w and, with a second input, 8 x 2h x 2w, filled in that order
// with randData.
func randInputs(rng *rand.Rand, extra []string, h, w int) []*graph.Tensor {
	ins := []*graph.Tensor{graph.NewTensor(2, 12, h, w)}
	if len(extra) > 0 {
		ins = append(ins, graph.NewTensor(2, 8, 2*h, 2*w))
	}
	for _, x := range ins {
		copy(x.Data, randData(rng, len(x.Data)))
	}
	return ins
}
