package lift

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// backbone adds a two-stage frozen part: "low" at stride 2 (8 channels)
// and "feat" at stride 4 (12 channels).
func (b *mb) backbone() (low, feat string) {
	low = b.cbr("image", 3, 8, convOpt{k: 3, stride: 2, pad: 1})
	feat = b.cbr(low, 8, 12, convOpt{k: 3, stride: 2, pad: 1})
	return low, feat
}

// chainModel: conv+bn+activation chains with every activation, strided,
// depthwise and asymmetric convolutions, pools, an SE-style gate and two
// resizes back to the image size.
func chainModel() (*onnx.Model, string, []string) {
	b := newMB(1)
	_, feat := b.backbone()
	x := b.node("Clip", []string{b.bn(b.conv(feat, 12, 10, convOpt{k: 3, pad: 1}), 10), b.scalarF(0), b.scalarF(6)})
	x = b.node("HardSwish", []string{b.bn(b.conv(x, 10, 10, convOpt{k: 3, stride: 2, pad: 1, group: 10, bias: true}), 10)})
	x = b.node("MaxPool", []string{x}, onnx.AttrInts("kernel_shape", 3, 3), onnx.AttrInts("strides", 1, 1), onnx.AttrInts("pads", 1, 1, 1, 1))
	x = b.node("AveragePool", []string{x}, onnx.AttrInts("kernel_shape", 3, 2), onnx.AttrInts("strides", 1, 1), onnx.AttrInts("pads", 1, 0, 1, 1))
	x = b.conv(x, 10, 8, convOpt{k: 2, kw: 3, pads: []int64{0, 1, 1, 1}, bias: true})
	gate := b.node("HardSigmoid", []string{b.conv(b.node("ReduceMean", []string{x}, onnx.AttrInts("axes", 2, 3), onnx.AttrInt("keepdims", 1)), 8, 8, convOpt{k: 1, bias: true})},
		onnx.AttrFloat("alpha", 1.0/6), onnx.AttrFloat("beta", 0.5))
	x = b.node("Mul", []string{x, gate})
	x = b.node("Sigmoid", []string{x})
	x = b.node("Mul", []string{x, b.floats(2)})
	x = b.conv(x, 8, 5, convOpt{k: 1, bias: true})
	x = b.node("Resize", []string{x, "", b.floats(1, 1, 2, 2)}, onnx.AttrString("mode", "nearest"),
		onnx.AttrString("coordinate_transformation_mode", "asymmetric"), onnx.AttrString("nearest_mode", "floor"))
	out := b.gatherResizeTo(x, "image", "linear", "align_corners")
	return b.model(out), feat, nil
}

func (b *mb) scalarF(v float32) string {
	name := b.name("sf")
	b.g.Initializer = append(b.g.Initializer, onnx.FloatTensor(name, nil, []float32{v}))
	return name
}

// asppModel: a DeepLabV3-like head: an ASPP block with dilations, a global
// pooling branch resized back, concat, projection, 3x3 conv, classifier,
// resize to the image.
func asppModel() (*onnx.Model, string, []string) {
	b := newMB(2)
	_, feat := b.backbone()
	br := []string{
		b.cbr(feat, 12, 6, convOpt{k: 1}),
		b.cbr(feat, 12, 6, convOpt{k: 3, pad: 2, dil: 2}),
		b.cbr(feat, 12, 6, convOpt{k: 3, pad: 3, dil: 3}),
	}
	pool := b.cbr(b.node("GlobalAveragePool", []string{feat}), 12, 6, convOpt{k: 1})
	br = append(br, b.resizeTo(pool, feat, "linear", "half_pixel"))
	x := b.node("Concat", br, onnx.AttrInt("axis", 1))
	x = b.node("Dropout", []string{b.cbr(x, 24, 6, convOpt{k: 1})})
	x = b.cbr(x, 6, 6, convOpt{k: 3, pad: 1})
	x = b.conv(x, 6, 4, convOpt{k: 1, bias: true})
	out := b.resizeTo(x, "image", "linear", "pytorch_half_pixel")
	return b.model(out), feat, nil
}

// lrasppModel: an LR-ASPP-like two-branch head reading a second frozen
// tensor (the low-level feature): cbr * sigmoid(conv(pool)), resized to the
// low feature, plus a low classifier.
func lrasppModel() (*onnx.Model, string, []string) {
	b := newMB(3)
	low, feat := b.backbone()
	cbr := b.cbr(feat, 12, 6, convOpt{k: 1})
	s := b.node("Sigmoid", []string{b.conv(b.node("GlobalAveragePool", []string{feat}), 12, 6, convOpt{k: 1})})
	x := b.node("Mul", []string{cbr, s})
	x = b.resizeTo(x, low, "linear", "half_pixel")
	x = b.node("Add", []string{b.conv(low, 8, 5, convOpt{k: 1, bias: true}), b.conv(x, 6, 5, convOpt{k: 1, bias: true})})
	out := b.resizeTo(x, "image", "linear", "half_pixel")
	return b.model(out), feat, []string{low}
}

var models = []struct {
	name  string
	build func() (*onnx.Model, string, []string)
}{
	{"chain", chainModel},
	{"aspp", asppModel},
	{"lraspp", lrasppModel},
}

// TestForwardMatchesORT runs each miniature model in onnxruntime, takes the
// frozen tensors it computes, runs the lifted tail on them and compares
// with onnxruntime's output.
func TestForwardMatchesORT(t *testing.T) {
	needRuntime(t)
	for _, tc := range models {
		for _, sz := range [][2]int{{32, 40}, {27, 35}} {
			name := fmt.Sprintf("%s %dx%d", tc.name, sz[0], sz[1])
			m, from, extra := tc.build()
			net, err := Lift(m, from, Options{H: sz[0], W: sz[1], Threads: 1})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want := append([]string{from}, extra...); strings.Join(net.Inputs(), ",") != strings.Join(want, ",") {
				t.Fatalf("%s: inputs %v, want %v", name, net.Inputs(), want)
			}
			rng := rand.New(rand.NewPCG(4, 4))
			const n = 2
			x := randData(rng, n*3*sz[0]*sz[1])
			outs := append(net.Inputs(), net.Output())
			res := runORT(t, m, outs, x, n, sz[0], sz[1])
			y := net.ForwardInputs(res[:len(res)-1], false)
			ref := res[len(res)-1]
			if d := relDiff(y, ref); !(d < 1e-4) {
				t.Errorf("%s: lifted forward differs from onnxruntime by %.3g relative (shapes %dx%dx%dx%d, %dx%dx%dx%d)", name, d, y.N, y.C, y.H, y.W, ref.N, ref.C, ref.H, ref.W)
			} else {
				t.Logf("%s: max relative difference %.2g", name, d)
			}
		}
	}
}

// TestTailModel runs the tail as its own ONNX model (Net.Model) in
// onnxruntime on a random input and compares with the lifted forward.
func TestTailModel(t *testing.T) {
	needRuntime(t)
	for _, tc := range models[:2] {
		m, from, _ := tc.build()
		const h, w = 24, 36
		net, err := Lift(m, from, Options{H: h, W: w, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		tail, err := net.Model(m, 2)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 5))
		x := graph.NewTensor(2, 12, h/4, w/4)
		copy(x.Data, randData(rng, len(x.Data)))
		s, err := onnx.NewSession(tail, nil, onnx.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		res, err := s.Run(x.Data, x.N, x.C, x.H, x.W)
		s.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ref, err := graph.TensorFrom(res[0].Data, res[0].Shape)
		if err != nil {
			t.Fatal(err)
		}
		if d := relDiff(net.Forward(x, false), ref); !(d < 1e-4) {
			t.Errorf("%s: tail model and lifted forward differ by %.3g", tc.name, d)
		}
	}
}

// TestTrainExport takes training steps (batch statistics, a replaced
// classifier), then merges ToONNX's nodes into the model and compares the
// merged model in onnxruntime with the lifted inference forward.
func TestTrainExport(t *testing.T) {
	needRuntime(t)
	for _, tc := range models {
		for _, freeze := range []bool{false, true} {
			name := fmt.Sprintf("%s freeze %v", tc.name, freeze)
			m, from, _ := tc.build()
			const n, h, w = 2, 32, 32
			dropout := 0.0
			if freeze {
				dropout = 0.2
			}
			net, err := Lift(m, from, Options{H: h, W: w, Classes: 3, Seed: 1, FreezeBN: freeze, Dropout: dropout, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(6, 6))
			x := randData(rng, n*3*h*w)
			ins := runORT(t, m, net.Inputs(), x, n, h, w)
			before := make([][]float32, len(net.Buffers()))
			for i, p := range net.Buffers() {
				before[i] = append([]float32(nil), p.Data...)
			}
			for it := 0; it < 2; it++ {
				net.ZeroGrad()
				y := net.ForwardInputs(ins, true)
				if y.C != 3 {
					t.Fatalf("%s: %d output channels, want 3", name, y.C)
				}
				dy := graph.NewTensor(y.N, y.C, y.H, y.W)
				copy(dy.Data, randData(rng, len(dy.Data)))
				net.Backward(dy)
				for _, p := range net.Params() {
					for i, g := range p.Grad {
						p.Data[i] -= 0.05 * g
					}
				}
			}
			changed := false
			for i, p := range net.Buffers() {
				for j, v := range p.Data {
					changed = changed || v != before[i][j]
				}
			}
			if d := net.Describe(); !strings.Contains(d, "new classifier") || !strings.Contains(d, from) {
				t.Errorf("%s: Describe: %s", name, d)
			}
			if changed == freeze {
				t.Errorf("%s: running statistics changed: %v", name, changed)
			}
			want := net.ForwardInputs(ins, false)
			merged := mergeExport(t, m, net, from, "lifted_out", "lifted/", name)
			got := runORT(t, merged, nil, x, n, h, w)[0]
			if d := relDiff(want, got); !(d < 1e-4) {
				t.Errorf("%s: exported model differs from the lifted forward by %.3g", name, d)
			}
		}
	}
}

// TestGradients compares the net's parameter and input gradients with
// central differences in float64 of sum(dy * forward), in training mode.
func TestGradients(t *testing.T) {
	for _, tc := range models {
		m, from, extra := tc.build()
		net, err := Lift(m, from, Options{H: 16, W: 20, InputGrad: true, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		ins := randInputs(rng, extra, 4, 5)
		// Inference mode keeps the objective smooth in the inputs (batch
		// statistics are checked in graph's harness).
		train := false
		y := net.ForwardInputs(ins, train)
		dy := graph.NewTensor(y.N, y.C, y.H, y.W)
		copy(dy.Data, randData(rng, len(dy.Data)))
		f := func() float64 {
			out := net.ForwardInputs(ins, train)
			var s float64
			for i, v := range out.Data {
				s += float64(v) * float64(dy.Data[i])
			}
			return s
		}
		net.ZeroGrad()
		net.ForwardInputs(ins, train)
		dx := net.Backward(dy)
		if dx == nil || !dx.SameShape(ins[0]) {
			t.Fatalf("%s: no input gradient", tc.name)
		}
		// Kinks (ReLU, Clip, max pooling, nearest resize) within eps of a
		// point show as one-sided differences that disagree: such points
		// are skipped, at most half of them.
		check := func(what string, x, g []float32) {
			skipped, idx := 0, rng.Perm(len(x))[:min(len(x), 12)]
			for _, i := range idx {
				old := x[i]
				const eps = 1e-3
				x[i] = old + eps
				fp := f()
				x[i] = old
				f0 := f()
				x[i] = old - eps
				fm := f()
				x[i] = old
				up, down := float64(float32(old+eps))-float64(old), float64(old)-float64(float32(old-eps))
				dp, dm, num := (fp-f0)/up, (f0-fm)/down, (fp-fm)/(up+down)
				tol := 1e-2 * max(1, abs(num))
				if abs(dp-dm) > tol {
					skipped++
					continue
				}
				if abs(num-float64(g[i])) > tol {
					t.Errorf("%s %s[%d]: analytic %.5g numeric %.5g", tc.name, what, i, g[i], num)
				}
			}
			if 2*skipped > len(idx) {
				t.Errorf("%s %s: %d of %d points lie near a kink", tc.name, what, skipped, len(idx))
			}
		}
		check("input", ins[0].Data, dx.Data)
		grads := make([][]float32, len(net.Params()))
		for i, p := range net.Params() {
			grads[i] = append([]float32(nil), p.Grad...)
		}
		for i, p := range net.Params() {
			check(p.Name, p.Data, grads[i])
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestCheckpoint round-trips the parameters and buffers and refuses a
// checkpoint of another net and corrupt data.
func TestCheckpoint(t *testing.T) {
	m, from, _ := asppModel()
	a, err := Lift(m, from, Options{H: 16, W: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(a.Params(), a.Buffers()...) {
		for i := range p.Data {
			p.Data[i] += 0.5
		}
	}
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Lift(m, from, Options{H: 16, W: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	pa, pb := append(a.Params(), a.Buffers()...), append(b.Params(), b.Buffers()...)
	for i := range pa {
		for j := range pa[i].Data {
			if pa[i].Data[j] != pb[i].Data[j] {
				t.Fatalf("%s[%d] differs after the round trip", pa[i].Name, j)
			}
		}
	}
	other, err := Lift(m, from, Options{H: 16, W: 16, Classes: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.UnmarshalBinary(data); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("checkpoint of another net: %v", err)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 1
	if err := b.UnmarshalBinary(bad); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("corrupt checkpoint: %v", err)
	}
	for _, cut := range []int{0, 5, len(data) - 1} {
		if err := b.UnmarshalBinary(data[:cut]); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("truncated to %d bytes: %v", cut, err)
		}
	}
}

// TestRefusals: an unsupported operator is named with the tensors lifting
// would work from; bad names and a classifier that cannot be replaced are
// errors.
func TestRefusals(t *testing.T) {
	b := newMB(9)
	_, feat := b.backbone()
	x := b.cbr(feat, 12, 6, convOpt{k: 1})
	x = b.node("Tanh", []string{x})
	after := b.cbr(x, 6, 6, convOpt{k: 3, pad: 1})
	out := b.resizeTo(b.conv(after, 6, 3, convOpt{k: 1, bias: true}), "image", "linear", "half_pixel")
	m := b.model(out)
	_, err := Lift(m, feat, Options{H: 16, W: 16})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Tanh") || !strings.Contains(err.Error(), x) {
		t.Errorf("unsupported Tanh: %v", err)
	} else {
		t.Log(err)
	}
	if _, err := Lift(m, x, Options{H: 16, W: 16}); err != nil {
		t.Errorf("lifting after the Tanh: %v", err)
	}
	if _, err := Lift(m, "nope", Options{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing tensor: %v", err)
	}
	// The image size is needed but unknown.
	if _, err := Lift(m, x, Options{}); err == nil || !strings.Contains(err.Error(), "Options.H") {
		t.Errorf("unknown image size: %v", err)
	}
	// A tail without a Conv before the output cannot change classes.
	b2 := newMB(10)
	_, f2 := b2.backbone()
	o2 := b2.node("Relu", []string{b2.conv(f2, 12, 4, convOpt{k: 1})})
	if _, err := Lift(b2.model(o2), f2, Options{Classes: 3}); err == nil || !strings.Contains(err.Error(), "classifier") {
		t.Errorf("no classifier: %v", err)
	}
	if _, err := Lift(b2.model(o2), f2, Options{}); err != nil {
		t.Errorf("same classes: %v", err)
	}
}

// TestOpsMatchORT lifts one-node (or few-node) tails over the feature of
// a miniature backbone, one per operator variant, and compares each with
// onnxruntime's output of the whole model.
func TestOpsMatchORT(t *testing.T) {
	needRuntime(t)
	type tail func(b *mb, x string) string
	S, I, F := onnx.AttrString, onnx.AttrInt, onnx.AttrFloat
	IS := onnx.AttrInts
	pool := func(op string, attrs ...*pb.AttributeProto) tail {
		return func(b *mb, x string) string { return b.node(op, []string{x}, attrs...) }
	}
	resizeScales := func(sh, sw float32, attrs ...*pb.AttributeProto) tail {
		return func(b *mb, x string) string {
			return b.node("Resize", []string{x, "", b.floats(1, 1, sh, sw)}, attrs...)
		}
	}
	resizeSizes := func(h, w int64, attrs ...*pb.AttributeProto) tail {
		return func(b *mb, x string) string {
			return b.node("Resize", []string{x, "", "", b.ints(2, 12, h, w)}, attrs...)
		}
	}
	cases := []struct {
		name string
		t    tail
	}{
		{"maxpool k3 s2 p1", pool("MaxPool", IS("kernel_shape", 3, 3), IS("strides", 2, 2), IS("pads", 1, 1, 1, 1))},
		{"maxpool k2 s2 ceil", pool("MaxPool", IS("kernel_shape", 2, 2), IS("strides", 2, 2), I("ceil_mode", 1))},
		{"maxpool k3 s2 p1 ceil", pool("MaxPool", IS("kernel_shape", 3, 3), IS("strides", 2, 2), IS("pads", 1, 1, 1, 1), I("ceil_mode", 1))},
		{"maxpool k2 s3 p1 ceil", pool("MaxPool", IS("kernel_shape", 2, 2), IS("strides", 3, 3), IS("pads", 1, 1, 1, 1), I("ceil_mode", 1))},
		{"avgpool k2 s3 p1 ceil", pool("AveragePool", IS("kernel_shape", 2, 2), IS("strides", 3, 3), IS("pads", 1, 1, 1, 1), I("ceil_mode", 1), I("count_include_pad", 1))},
		{"maxpool dil2", pool("MaxPool", IS("kernel_shape", 2, 3), IS("strides", 1, 2), IS("dilations", 2, 1))},
		{"avgpool exclude pad", pool("AveragePool", IS("kernel_shape", 3, 3), IS("strides", 2, 2), IS("pads", 1, 1, 1, 1))},
		{"avgpool include pad", pool("AveragePool", IS("kernel_shape", 3, 3), IS("strides", 2, 2), IS("pads", 1, 1, 1, 1), I("count_include_pad", 1))},
		{"avgpool ceil", pool("AveragePool", IS("kernel_shape", 3, 2), IS("strides", 2, 2), IS("pads", 0, 1, 0, 0), I("ceil_mode", 1))},
		{"global avgpool", pool("GlobalAveragePool")},
		{"reducemean", pool("ReduceMean", IS("axes", -2, -1))},
		{"hardsigmoid default", pool("HardSigmoid")},
		{"relu", pool("Relu")},
		{"linear half_pixel x1.5", resizeScales(1.5, 1.5, S("mode", "linear"))},
		{"linear asymmetric x2", resizeScales(2, 2, S("mode", "linear"), S("coordinate_transformation_mode", "asymmetric"))},
		{"linear pytorch_half_pixel x0.5", resizeScales(0.5, 0.5, S("mode", "linear"), S("coordinate_transformation_mode", "pytorch_half_pixel"))},
		{"linear align_corners to 3x4", resizeSizes(3, 4, S("mode", "linear"), S("coordinate_transformation_mode", "align_corners"))},
		{"linear pytorch_half_pixel to 1x5", resizeSizes(1, 5, S("mode", "linear"), S("coordinate_transformation_mode", "pytorch_half_pixel"))},
		{"nearest default to 11x7", resizeSizes(11, 7)},
		{"nearest pytorch_half_pixel ceil-pref to 13x29", resizeSizes(13, 29, S("coordinate_transformation_mode", "pytorch_half_pixel"), S("nearest_mode", "round_prefer_ceil"))},
		{"nearest align_corners ceil to 5x17", resizeSizes(5, 17, S("coordinate_transformation_mode", "align_corners"), S("nearest_mode", "ceil"))},
		{"nearest asymmetric floor x3", resizeScales(3, 3, S("coordinate_transformation_mode", "asymmetric"), S("nearest_mode", "floor"))},
		{"clip min only", func(b *mb, x string) string { return b.node("Clip", []string{x, b.scalarF(-0.2)}) }},
		{"clip max only", func(b *mb, x string) string { return b.node("Clip", []string{x, "", b.scalarF(0.3)}) }},
		{"conv 5x3 stride2 dil2 groups2 asym", func(b *mb, x string) string {
			return b.conv(x, 12, 6, convOpt{k: 5, kw: 3, stride: 2, dil: 2, group: 2, pads: []int64{2, 1, 3, 0}})
		}},
		{"depthwise multiplier 2", func(b *mb, x string) string {
			return b.conv(x, 12, 24, convOpt{k: 3, pad: 1, group: 12, bias: true})
		}},
		{"conv 1x1 stride 2", func(b *mb, x string) string { return b.conv(x, 12, 5, convOpt{k: 1, stride: 2}) }},
		{"add channel constant", func(b *mb, x string) string {
			name := b.randInit(b.name("cc"), 1, 12, 1, 1)
			return b.node("Add", []string{name, x})
		}},
		{"mul scalar constant node", func(b *mb, x string) string {
			c := b.name("const")
			b.g.Node = append(b.g.Node, onnx.Node("Constant", b.name("Constant"), nil, []string{c}, F("value_float", 0.7)))
			return b.node("Mul", []string{x, c})
		}},
		{"self mul", func(b *mb, x string) string { return b.node("Mul", []string{x, x}) }},
		{"concat with itself", func(b *mb, x string) string {
			return b.node("Concat", []string{x, b.node("Sigmoid", []string{x}), x}, I("axis", -3))
		}},
	}
	const n, h, w = 2, 32, 40
	for _, tc := range cases {
		b := newMB(11)
		_, feat := b.backbone()
		m := b.model(tc.t(b, feat))
		net, err := Lift(m, feat, Options{Threads: 2})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		rng := rand.New(rand.NewPCG(12, 12))
		x := randData(rng, n*3*h*w)
		res := runORT(t, m, []string{feat, net.Output()}, x, n, h, w)
		y := net.Forward(res[0], false)
		if d := relDiff(y, res[1]); !(d < 1e-4) {
			t.Errorf("%s: lifted %dx%dx%dx%d differs from onnxruntime %dx%dx%dx%d by %.3g", tc.name, y.N, y.C, y.H, y.W, res[1].N, res[1].C, res[1].H, res[1].W, d)
		}
	}
}

// TestCheckTrainShape: the ASPP pooling branch's batch norm needs a batch
// of two in training; Forward panics where CheckTrainShape refuses.
func TestCheckTrainShape(t *testing.T) {
	m, from, _ := asppModel()
	for _, freeze := range []bool{false, true} {
		net, err := Lift(m, from, Options{H: 16, W: 16, FreezeBN: freeze})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 2} {
			err := net.CheckTrainShape(n)
			x := graph.NewTensor(n, 12, 4, 4)
			copy(x.Data, randData(rand.New(rand.NewPCG(1, 2)), len(x.Data)))
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				net.Forward(x, true)
				return false
			}()
			if (err != nil) != panicked || (err != nil) != (n == 1 && !freeze) {
				t.Errorf("freeze %v batch %d: CheckTrainShape %v, Forward panicked %v", freeze, n, err, panicked)
			}
		}
	}
}

// TestLiftMalformed mutates the miniature models at random (dropped or
// renamed inputs, changed attributes, truncated or reshaped initializers)
// and checks that Lift returns an error or a net, never panics, and that
// a net it returns runs at the size it was lifted for or panics with a
// package-prefixed message.
func TestLiftMalformed(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for _, tc := range models {
		for trial := 0; trial < 400; trial++ {
			m, from, _ := tc.build()
			g := m.Proto.Graph
			what := ""
			switch k := rng.IntN(5); k {
			case 0:
				n := g.Node[rng.IntN(len(g.Node))]
				if len(n.Input) > 0 {
					i := rng.IntN(len(n.Input))
					what = fmt.Sprintf("drop input %d of %s", i, n.Name)
					n.Input = append(n.Input[:i:i], n.Input[i+1:]...)
				}
			case 1:
				n := g.Node[rng.IntN(len(g.Node))]
				if len(n.Input) > 0 {
					what = "rename an input of " + n.Name
					n.Input[rng.IntN(len(n.Input))] = "missing"
				}
			case 2:
				n := g.Node[rng.IntN(len(g.Node))]
				if len(n.Attribute) > 0 {
					a := n.Attribute[rng.IntN(len(n.Attribute))]
					what = "change attribute " + a.Name + " of " + n.Name
					a.I = int64(rng.IntN(7)) - 2
					for i := range a.Ints {
						a.Ints[i] = int64(rng.IntN(7)) - 2
					}
					a.F = float32(rng.NormFloat64())
					a.S = []byte("bogus")
				}
			case 3:
				in := g.Initializer[rng.IntN(len(g.Initializer))]
				what = "truncate " + in.Name
				if len(in.RawData) > 0 {
					in.RawData = in.RawData[:rng.IntN(len(in.RawData))]
				} else if len(in.Int64Data) > 0 {
					in.Int64Data = in.Int64Data[:rng.IntN(len(in.Int64Data))]
				}
			case 4:
				in := g.Initializer[rng.IntN(len(g.Initializer))]
				what = "reshape " + in.Name
				for i := range in.Dims {
					in.Dims[i] = int64(rng.IntN(5)) - 1
				}
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s (%s): Lift panicked: %v", tc.name, what, r)
					}
				}()
				net, err := Lift(m, from, Options{H: 16, W: 16})
				if err != nil {
					return
				}
				// A net lifted from a changed model may still refuse its
				// input at run time (a programmer error): the panic must be
				// the package's.
				defer func() {
					if r := recover(); r != nil {
						if s := fmt.Sprint(r); !strings.HasPrefix(s, "lift:") && !strings.HasPrefix(s, "graph:") {
							panic(r)
						}
					}
				}()
				ins := []*graph.Tensor{graph.NewTensor(2, 12, 4, 4)}
				if len(net.Inputs()) > 1 {
					ins = append(ins, graph.NewTensor(2, 8, 8, 8))
				}
				if len(ins) == len(net.Inputs()) {
					net.ForwardInputs(ins, false)
				}
			}()
		}
	}
}

// TestDropFinalResize ends the tail at the class scores before the final
// resize and checks them against onnxruntime's.
func TestDropFinalResize(t *testing.T) {
	needRuntime(t)
	for _, tc := range models {
		m, from, _ := tc.build()
		net, err := Lift(m, from, Options{DropFinalResize: true, Classes: 4, ResetClassifier: true, Threads: 2})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if net.Output() == m.Proto.Graph.Output[0].GetName() {
			t.Fatalf("%s: the output is still the model's", tc.name)
		}
		same, err := Lift(m, from, Options{Output: net.Output(), Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		const n, h, w = 2, 24, 32
		res := runORT(t, m, append(same.Inputs(), same.Output()), randData(rng, n*3*h*w), n, h, w)
		y := same.ForwardInputs(res[:len(res)-1], false)
		if y.H >= h || relDiff(y, res[len(res)-1]) > 1e-4 {
			t.Errorf("%s: scores %dx%d differ from onnxruntime by %.3g", tc.name, y.H, y.W, relDiff(y, res[len(res)-1]))
		}
		if z := net.ForwardInputs(res[:len(res)-1], false); z.C != 4 || z.H != y.H {
			t.Errorf("%s: reset scores %dx%dx%d", tc.name, z.C, z.H, z.W)
		}
	}
}

// TestDropout: Options.Dropout adds a channel dropout before each
// classifier, active in training, reproducible with SetDropoutSeed, absent
// from inference and from the export.
func TestDropout(t *testing.T) {
	for _, tc := range models {
		m, from, extra := tc.build()
		plain, err := Lift(m, from, Options{H: 16, W: 16, FreezeBN: true})
		if err != nil {
			t.Fatal(err)
		}
		net, err := Lift(m, from, Options{H: 16, W: 16, FreezeBN: true, Dropout: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(8, 8))
		ins := randInputs(rng, extra, 4, 4)
		if d := relDiff(net.ForwardInputs(ins, false), plain.ForwardInputs(ins, false)); d != 0 {
			t.Errorf("%s: inference with dropout differs by %g", tc.name, d)
		}
		run := func(seed uint64) *graph.Tensor {
			net.SetDropoutSeed(seed)
			return net.ForwardInputs(ins, true).Clone()
		}
		a, b, c := run(1), run(1), run(2)
		ref := plain.ForwardInputs(ins, true)
		if relDiff(a, b) != 0 || relDiff(a, c) == 0 || relDiff(a, ref) == 0 {
			t.Errorf("%s: training masks: same seed %g, other seed %g, none %g", tc.name, relDiff(a, b), relDiff(a, c), relDiff(a, ref))
		}
		nodes, _, err := net.ToONNX(from, "o", "p/")
		if err != nil {
			t.Fatal(err)
		}
		pn, _, err := plain.ToONNX(from, "o", "p/")
		if err != nil {
			t.Fatal(err)
		}
		identities := func(ns []*pb.NodeProto) int {
			k := 0
			for _, n := range ns {
				if n.GetOpType() == "Identity" {
					k++
				}
			}
			return k
		}
		if want := map[string]int{"lraspp": 2}[tc.name]; identities(nodes)-identities(pn) != max(want, 1) || len(nodes)-len(pn) != max(want, 1) {
			t.Errorf("%s: the export holds %d nodes and %d identities more than without dropout", tc.name, len(nodes)-len(pn), identities(nodes)-identities(pn))
		}
		if _, err := Lift(m, from, Options{H: 16, W: 16, Dropout: 1.5}); err == nil {
			t.Errorf("%s: dropout 1.5 accepted", tc.name)
		}
	}
}

// TestCheckInputs refuses the wrong count, batch or channels of inputs.
func TestCheckInputs(t *testing.T) {
	m, from, _ := lrasppModel()
	net, err := Lift(m, from, Options{H: 16, W: 16})
	if err != nil {
		t.Fatal(err)
	}
	ok := []*graph.Tensor{graph.NewTensor(2, 12, 4, 4), graph.NewTensor(2, 8, 8, 8)}
	if err := net.CheckInputs(ok); err != nil {
		t.Fatal(err)
	}
	for name, xs := range map[string][]*graph.Tensor{
		"one input":      ok[:1],
		"batch":          {ok[0], graph.NewTensor(1, 8, 8, 8)},
		"channels":       {graph.NewTensor(2, 11, 4, 4), ok[1]},
		"extra channels": {ok[0], graph.NewTensor(2, 9, 8, 8)},
	} {
		if err := net.CheckInputs(xs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
