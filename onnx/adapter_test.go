package onnx

import (
	"math"
	"slices"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// adaptedNet returns buildNet(dynamic, channels 4, 6) whose input is
// replaced by in (name "raw") followed by the nodes pre, which must end in
// the tensor "image". post nodes are appended and outputs added.
func adaptedNet(in *pb.ValueInfoProto, pre, post []*pb.NodeProto, outs ...*pb.ValueInfoProto) *pb.ModelProto {
	mp := buildNet(netSpec{channels: []int{4, 6}})
	g := mp.Graph
	g.Input = []*pb.ValueInfoProto{in}
	g.Node = append(append(pre, g.Node...), post...)
	g.Output = append(g.Output, outs...)
	return mp
}

func castNode(in, out string, to pb.TensorProto_DataType) *pb.NodeProto {
	return &pb.NodeProto{Name: out, OpType: "Cast", Input: []string{in}, Output: []string{out}, Attribute: []*pb.AttributeProto{intAttr("to", int64(to))}}
}

func transposeNode(in, out string, perm ...int64) *pb.NodeProto {
	return &pb.NodeProto{Name: out, OpType: "Transpose", Input: []string{in}, Output: []string{out}, Attribute: []*pb.AttributeProto{intsAttr("perm", perm...)}}
}

// f16Round rounds v to the nearest float16 value (reference for tests, via
// the float16 conversions).
func f16Round(v float32) float32 { return f16ToF32(f32ToF16(v)) }

func TestInputAdapter(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	const n, h, w = 2, 32, 48
	ref := writeModel(t, dir, "ref.onnx", buildNet(netSpec{channels: []int{4, 6}}))
	nhwcDims := []int64{0, 0, 0, 3}
	nhwcParams := []string{"batch", "height", "width", ""}
	cases := []struct {
		name    string
		mp      *pb.ModelProto
		feature string
		info    InputInfo
		// x turns the NCHW test batch into what the reference model
		// must see: the values the adapted model can represent.
		x   func(float32) float32
		tol float64
	}{
		{"nhwc float", adaptedNet(TensorValueInfo("raw", int32(pb.TensorProto_FLOAT), nhwcDims, nhwcParams),
			[]*pb.NodeProto{transposeNode("raw", "image", 0, 3, 1, 2)}, nil),
			"stage2", InputInfo{Layout: "nhwc", ElemType: "float32", Channels: 3}, nil, 1e-5},
		{"nhwc uint8", adaptedNet(TensorValueInfo("raw", int32(pb.TensorProto_UINT8), nhwcDims, nhwcParams),
			[]*pb.NodeProto{castNode("raw", "raw_f", pb.TensorProto_FLOAT), transposeNode("raw_f", "image", 0, 3, 1, 2)}, nil),
			"stage2", InputInfo{Layout: "nhwc", ElemType: "uint8", Channels: 3},
			func(v float32) float32 { return float32(math.Round(float64(min(max(v, 0), 255)))) }, 1e-4},
		{"float16 in and out", adaptedNet(TensorValueInfo("raw", int32(pb.TensorProto_FLOAT16), []int64{0, 3, 0, 0}, []string{"batch", "", "height", "width"}),
			[]*pb.NodeProto{castNode("raw", "image", pb.TensorProto_FLOAT)},
			[]*pb.NodeProto{castNode("stage2", "stage2_h", pb.TensorProto_FLOAT16)}, TensorValueInfo("stage2_h", int32(pb.TensorProto_FLOAT16), nil, nil)),
			"stage2_h", InputInfo{Layout: "nchw", ElemType: "float16", Channels: 3}, f16Round, 2e-2},
		{"static batch 1", buildNet(netSpec{static: []int64{1, 3, h, w}, channels: []int{4, 6}}),
			"stage2", InputInfo{Layout: "nchw", ElemType: "float32", Channels: 3, StaticBatch: 1, StaticH: h, StaticW: w}, nil, 1e-5},
	}
	rb := openBackbone(t, ref, Options{Feature: "stage2"})
	x := ramp(n * 3 * h * w)
	for i := range x {
		x[i] = x[i]*300 - 20 // beyond 0..255, to check clamping
	}
	for _, c := range cases {
		p := writeModel(t, dir, "m.onnx", c.mp)
		b, err := OpenBackbone(p, Options{Feature: c.feature})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := b.Session().InputLayout(); got != c.info {
			t.Errorf("%s: input %+v, want %+v", c.name, got, c.info)
		}
		got, shape, err := b.Run(x, n, h, w)
		b.Close()
		// The probe runs through the same adapter.
		if fi, err := CheckFeature(p, "stage2", Options{}); err != nil || fi.StrideText != "4" || fi.Channels != 6 {
			t.Errorf("%s: CheckFeature(stage2) = %+v, %v", c.name, fi, err)
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		xr := x
		if c.x != nil {
			xr = make([]float32, len(x))
			for i, v := range x {
				xr[i] = c.x(v)
			}
		}
		want, wshape, err := rb.Run(xr, n, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, wshape) {
			t.Errorf("%s: shape %v, want %v", c.name, shape, wshape)
			continue
		}
		var worst float64
		for i := range want {
			d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
			worst = max(worst, d)
		}
		if worst > c.tol {
			t.Errorf("%s: relative difference %g, want <= %g", c.name, worst, c.tol)
		}
	}
}
