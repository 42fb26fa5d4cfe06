package modelgen

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
)

// patternInput describes the image input of m: element type, dimensions (0 where symbolic).
func patternInput(m *pb.ModelProto) (pb.TensorProto_DataType, []int64) {
	tt := m.Graph.Input[0].GetType().GetTensorType()
	var dims []int64
	for _, d := range tt.GetShape().GetDim() {
		dims = append(dims, d.GetDimValue())
	}
	return pb.TensorProto_DataType(tt.GetElemType()), dims
}

func countOps(g *pb.GraphProto) map[string]int {
	ops := map[string]int{}
	for _, n := range g.Node {
		ops[n.OpType]++
	}
	return ops
}

// TestPatternStructure checks that each pattern model is written the way its name says, and
// that it is valid and encodes to the same bytes on every build.
func TestPatternStructure(t *testing.T) {
	plainOps := countOps(patternModel("plain", "", patternSpec{}).Graph)
	f32, f16, u8 := pb.TensorProto_FLOAT, pb.TensorProto_FLOAT16, pb.TensorProto_UINT8
	cases := map[string]struct {
		elem  pb.TensorProto_DataType
		dims  []int64
		out   pb.TensorProto_DataType
		opset int64
		ops   map[string]int // op counts beyond the plain network's (negative: fewer)
	}{
		"fixed_shape":     {f32, []int64{1, 3, 64, 128}, f32, 17, nil},
		"fixed_batch1":    {f32, []int64{1, 3, 0, 0}, f32, 17, nil},
		"nhwc":            {f32, []int64{0, 0, 0, 3}, f32, 17, map[string]int{"Transpose": 1}},
		"nhwc_uint8":      {u8, []int64{0, 0, 0, 3}, f32, 17, map[string]int{"Transpose": 1, "Cast": 1, "Sub": 1, "Div": 1}},
		"float16_io":      {f16, []int64{0, 3, 0, 0}, f16, 17, nil},
		"float16_weights": {f32, []int64{0, 3, 0, 0}, f32, 17, map[string]int{"Cast": 8}},
		"quant_dynamic": {f32, []int64{0, 3, 0, 0}, f32, 17, map[string]int{"Conv": -1, "DynamicQuantizeLinear": 1,
			"ConvInteger": 1, "Cast": 1, "Mul": 2, "Add": 1}},
		"unsorted":      {f32, []int64{0, 3, 0, 0}, f32, 17, nil},
		"opset11":       {f32, []int64{0, 3, 0, 0}, f32, 11, nil},
		"channels_last": {f32, []int64{0, 3, 0, 0}, f32, 17, map[string]int{"Transpose": 2, "MatMul": 1, "Add": 1}},
	}
	ps := Patterns()
	if len(ps) != len(cases) {
		t.Errorf("%d patterns, %d cases", len(ps), len(cases))
	}
	for _, p := range ps {
		c, ok := cases[p.Name]
		if !ok {
			t.Errorf("pattern %s has no case", p.Name)
			continue
		}
		m := p.Model()
		if err := onnx.Validate(m); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		elem, dims := patternInput(m)
		if elem != c.elem || !equalInts(dims, c.dims) {
			t.Errorf("%s: input %s %v, want %s %v", p.Name, elem, dims, c.elem, c.dims)
		}
		if o := m.Graph.Output; len(o) != 1 || o[0].Name != PatternOutput ||
			pb.TensorProto_DataType(o[0].GetType().GetTensorType().GetElemType()) != c.out {
			t.Errorf("%s: outputs %v, want one %s of type %s", p.Name, o, PatternOutput, c.out)
		}
		if v := onnx.Opset(m); v != c.opset {
			t.Errorf("%s: opset %d, want %d", p.Name, v, c.opset)
		}
		want := map[string]int{}
		for op, k := range plainOps {
			want[op] = k
		}
		for op, k := range c.ops {
			want[op] += k
		}
		got := countOps(m.Graph)
		for op := range merged(want, got) {
			if got[op] != want[op] {
				t.Errorf("%s: %d %s nodes, want %d", p.Name, got[op], op, want[op])
			}
		}
		if sorted := topological(m.Graph); sorted == (p.Name == "unsorted") {
			t.Errorf("%s: nodes in topological order: %v", p.Name, sorted)
		}
		for _, in := range m.Graph.Initializer {
			isHalf := in.DataType == int32(f16)
			if (p.Name == "float16_io" || p.Name == "float16_weights") && in.DataType == int32(f32) {
				t.Errorf("%s: initializer %s is float32", p.Name, in.Name)
			}
			if isHalf && p.Name != "float16_io" && p.Name != "float16_weights" {
				t.Errorf("%s: initializer %s is float16", p.Name, in.Name)
			}
		}
		if len(m.MetadataProps) != 0 {
			t.Errorf("%s: metadata %v, want none", p.Name, m.MetadataProps)
		}
		b1, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := Marshal(p.Model())
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s: two builds encode differently", p.Name)
		}
		if _, err := onnx.Decode(b1); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	cl, _ := PatternModel("channels_last")
	found := false
	for _, n := range cl.Graph.Node {
		found = found || n.OpType == "Add" && n.Output[0] == PatternMixNHWC
	}
	if !found {
		t.Errorf("channels_last: no Add writes %s", PatternMixNHWC)
	}
	if _, err := PatternModel("nope"); err == nil {
		t.Error("PatternModel of an unknown name: no error")
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func merged(a, b map[string]int) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// TestPatternsCompute runs every pattern model and the plain network in onnxruntime on the
// same image and checks that the feature tensor and the logits agree, to a tolerance that
// allows for float16 rounding and 8-bit quantization where the pattern has them.
func TestPatternsCompute(t *testing.T) {
	initORT(t)
	const n, h, w = 1, PatternH, PatternW
	rng := rand.New(rand.NewPCG(5, 6))
	pix := make([]float32, n*3*h*w) // integer pixel values, so that a uint8 input loses nothing
	for i := range pix {
		pix[i] = float32(rng.IntN(256))
	}
	for y := range h { // some structure: a bright band and a dark corner
		for x := range w {
			for c := range 3 {
				if y > 20 && y < 30 {
					pix[(c*h+y)*w+x] = 230
				}
				if x < 30 && y > 40 {
					pix[(c*h+y)*w+x] = 10
				}
			}
		}
	}
	norm := make([]float32, len(pix))
	for i, v := range pix {
		c := i / (h * w) % 3
		norm[i] = (v - Mean[c]) / Std[c]
	}
	run := func(m *pb.ModelProto, x []float32) []onnx.Output {
		t.Helper()
		s, err := onnx.NewSession(&onnx.Model{Proto: m}, []string{PatternFeature, PatternOutput}, onnx.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%s: %v", m.Graph.Name, err)
		}
		defer s.Close()
		out, err := s.Run(x, n, 3, h, w)
		if err != nil {
			t.Fatalf("%s: %v", m.Graph.Name, err)
		}
		return out
	}
	ref := run(patternModel("plain", "", patternSpec{}), norm)
	// The channels-last pattern mixes its channels once more; its reference does so with a
	// 1x1 convolution.
	refMix := run(patternModel("mix", "", patternSpec{mixConv: true}), norm)
	wantShapes := [][]int64{{n, 16, h / 4, w / 4}, {n, TinyClasses, h / 4, w / 4}}
	// Measured: float16_io 1.3e-3, float16_weights 1.1e-3, quant_dynamic 2.1e-2.
	tol := map[string]float64{"float16_io": 5e-3, "float16_weights": 4e-3, "quant_dynamic": 5e-2}
	for _, p := range Patterns() {
		x := norm
		if p.Name == "nhwc_uint8" {
			x = pix
		}
		got, want := run(p.Model(), x), ref
		if p.Name == "channels_last" {
			want = refMix
		}
		limit := 1e-5
		if v, ok := tol[p.Name]; ok {
			limit = v
		}
		for k, o := range got {
			if !equalInts(o.Shape, wantShapes[k]) {
				t.Errorf("%s: %s has shape %v, want %v", p.Name, o.Name, o.Shape, wantShapes[k])
				continue
			}
			var scale, diff float64
			for i, v := range want[k].Data {
				scale = math.Max(scale, math.Abs(float64(v)))
				diff = math.Max(diff, math.Abs(float64(o.Data[i]-v)))
			}
			if scale == 0 {
				t.Fatalf("%s: the reference %s is all zero", p.Name, o.Name)
			}
			t.Logf("%s %s: max difference %.2e relative to max |value| %.3g", p.Name, o.Name, diff/scale, scale)
			if !(diff <= limit*scale) {
				t.Errorf("%s: %s differs from the plain network's by %.3g, relative %.3g > %.0e", p.Name, o.Name, diff, diff/scale, limit)
			}
		}
	}
}

// TestPatternChannelsLastShape checks that the channels-last tensor of channels_last is
// [N,H,W,C].
func TestPatternChannelsLastShape(t *testing.T) {
	initORT(t)
	m, err := PatternModel("channels_last")
	if err != nil {
		t.Fatal(err)
	}
	s, err := onnx.NewSession(&onnx.Model{Proto: m}, []string{PatternMixNHWC}, onnx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const h, w = 32, 96
	out, err := s.Run(make([]float32, 3*h*w), 1, 3, h, w)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, h / 4, w / 4, PatternMixChannels}; !equalInts(out[0].Shape, want) {
		t.Errorf("%s has shape %v, want %v", PatternMixNHWC, out[0].Shape, want)
	}
}

// fromHalf widens float16 bits exactly (reference for toHalf).
func fromHalf(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch e {
	case 0:
		return s * m * 0x1p-24
	case 31:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(s))
	}
	return s * (1 + m/1024) * math.Ldexp(1, e-15)
}

func TestToHalf(t *testing.T) {
	// Every float16 value comes back as itself, and the midpoints between neighbours round
	// to the even one.
	for h := 0; h < 0x7c00; h++ {
		for _, sign := range []uint16{0, 0x8000} {
			b := uint16(h) | sign
			v := fromHalf(b)
			if got := toHalf(float32(v)); got != b && v != 0 {
				t.Fatalf("%#04x (%g) -> %#04x", b, v, got)
			}
			if h == 0x7bff {
				continue
			}
			mid := (v + fromHalf(b+1)) / 2 // exact in float32: 12 significant bits
			want := b
			if h&1 == 1 {
				want = b + 1
			}
			if got := toHalf(float32(mid)); got != want {
				t.Fatalf("midpoint %g of %#04x and %#04x -> %#04x, want %#04x", mid, b, b+1, got, want)
			}
		}
	}
	for _, c := range []struct {
		f float32
		h uint16
	}{{65519, 0x7bff}, {65520, 0x7c00}, {-1e9, 0xfc00}, {float32(math.Inf(1)), 0x7c00}, {0x1p-26, 0}} {
		if got := toHalf(c.f); got != c.h {
			t.Errorf("toHalf(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if got := toHalf(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("toHalf(NaN) = %#04x", got)
	}
}
