package graph

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/lmpseg/lmpseg/internal/ortest"
	"github.com/lmpseg/lmpseg/onnx"
)

// initORT loads onnxruntime or skips the test.
var initORT = ortest.Init

func dynTensorType(dims ...string) *pb.TypeProto {
	var d []*pb.TensorShapeProto_Dimension
	for _, s := range dims {
		d = append(d, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: s}})
	}
	return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
		ElemType: int32(pb.TensorProto_FLOAT), Shape: &pb.TensorShapeProto{Dim: d}}}}
}

// headModel wraps the lowered head in a model with dynamic N, H and W.
func headModel(t *testing.T, h *Head) []byte {
	t.Helper()
	nodes, inits, err := h.ToONNX("features", "logits", "head/")
	if err != nil {
		t.Fatal(err)
	}
	m := &pb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: "", Version: 17}},
		Graph: &pb.GraphProto{
			Name:        "head",
			Node:        nodes,
			Initializer: inits,
			Input:       []*pb.ValueInfoProto{{Name: "features", Type: dynTensorType("N", "C", "H", "W")}},
			Output:      []*pb.ValueInfoProto{{Name: "logits", Type: dynTensorType("N", "K", "H", "W")}},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestToONNXParity(t *testing.T) {
	initORT(t)
	type pcase struct {
		spec    HeadSpec
		n, h, w int
	}
	cases := []pcase{
		{HeadSpec{Kind: "linear", InChannels: 16, Classes: 5}, 2, 7, 9},
		{HeadSpec{Kind: "fcn", InChannels: 12, Classes: 4, Hidden: 8}, 2, 6, 5},
		{HeadSpec{Kind: "fcn", InChannels: 3, Classes: 3, Hidden: 16}, 1, 1, 1},
	}
	// Every registered kind's lowering is checked on its examples.
	for _, k := range HeadKinds() {
		for i, s := range headExamples[k] {
			cases = append(cases, pcase{s, 1 + i%2, 3 + i, 4})
		}
	}
	for k, tc := range cases {
		name := fmt.Sprintf("case %d %+v", k, tc.spec)
		rng := rand.New(rand.NewPCG(uint64(k), 21))
		h, err := NewHead(tc.spec, int64(k))
		if err != nil {
			t.Fatal(err)
		}
		x := randTensor(rng, tc.n, tc.spec.InChannels, tc.h, tc.w, 1)
		if bn := layerOf[*BatchNorm2d](h); bn != nil {
			// Non-trivial BN: train a couple of steps' worth of running
			// statistics and perturb gamma and beta.
			for i := 0; i < 3; i++ {
				h.Forward(randTensor(rng, 2, tc.spec.InChannels, 4, 4, 2), true)
			}
			for i := range bn.Weight.Data {
				bn.Weight.Data[i] = float32(0.5 + rng.Float64())
				bn.Bias.Data[i] = float32(rng.NormFloat64())
			}
		}
		for _, p := range h.Params() {
			if p.Name == "classifier.bias" {
				for i := range p.Data {
					p.Data[i] = float32(rng.NormFloat64())
				}
			}
		}
		want := h.Forward(x, false)

		model := headModel(t, h)
		sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"features"}, []string{"logits"}, nil)
		if err != nil {
			t.Fatalf("%s: session: %v", name, err)
		}
		in, err := ort.NewTensor(ort.NewShape(int64(x.N), int64(x.C), int64(x.H), int64(x.W)), x.Data)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(want.N), int64(want.C), int64(want.H), int64(want.W)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
			t.Fatalf("%s: run: %v", name, err)
		}
		if d := maxAbsDiff(out.GetData(), want.Data); d > 1e-4 {
			t.Errorf("%s: onnxruntime and Go differ by %g", name, d)
		}
		in.Destroy()
		out.Destroy()
		sess.Destroy()
	}
}

func TestFoldBN(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	conv := NewConv2d("c", 3, 4, 3, 1, 1, true)
	for _, p := range conv.Params() {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64())
		}
	}
	bn := NewBatchNorm2d("bn", 4)
	for i := 0; i < 4; i++ {
		bn.Weight.Data[i] = float32(rng.Float64() + 0.5)
		bn.Bias.Data[i] = float32(rng.NormFloat64())
		bn.RunningMean.Data[i] = float32(rng.NormFloat64())
		bn.RunningVar.Data[i] = float32(rng.Float64() + 0.1)
	}
	x := randTensor(rng, 2, 3, 5, 6, 1)
	want := bn.Forward(conv.Forward(x, false), false)
	fw, fb := FoldBN(conv.Weight.Data, conv.Bias.Data, bn)
	folded := NewConv2d("f", 3, 4, 3, 1, 1, true)
	copy(folded.Weight.Data, fw)
	copy(folded.Bias.Data, fb)
	got := folded.Forward(x, false)
	if d := maxAbsDiff(got.Data, want.Data); d > 1e-5 {
		t.Errorf("folded conv differs from conv+bn by %g", d)
	}
}

func TestToONNXErrors(t *testing.T) {
	h, _ := NewHead(HeadSpec{Kind: "linear", InChannels: 2, Classes: 2}, 1)
	for _, io := range [][2]string{{"", "y"}, {"x", ""}, {"x", "x"}} {
		if _, _, err := h.ToONNX(io[0], io[1], "p/"); err == nil {
			t.Errorf("ToONNX(%q, %q): no error", io[0], io[1])
		}
	}
}

// TestONNXBuilders checks the onnx package's constructors that the
// lowering uses, on the values ToONNX writes.
func TestONNXBuilders(t *testing.T) {
	w := []float32{1.5, -2, 0, 3.25, 1e-30, -0}
	ft := onnx.FloatTensor("w", onnx.Dims(1, 2, 3), w)
	if ft.GetDataType() != int32(pb.TensorProto_FLOAT) || len(ft.GetRawData()) != 4*len(w) || len(ft.GetFloatData()) != 0 {
		t.Fatalf("FloatTensor: %v", ft)
	}
	for i, v := range w {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(ft.GetRawData()[4*i:])); math.Float32bits(got) != math.Float32bits(v) {
			t.Errorf("FloatTensor value %d = %v, want %v", i, got, v)
		}
	}
	it := onnx.Int64Vector("k", 0, 2, 4)
	if it.GetDataType() != int32(pb.TensorProto_INT64) || !slices.Equal(it.GetDims(), []int64{3}) || !slices.Equal(it.GetInt64Data(), []int64{0, 2, 4}) {
		t.Errorf("Int64Vector: %v", it)
	}
	vi := onnx.ValueInfo("x", pb.TensorProto_UINT8, "batch", 3, int64(7), "")
	d := vi.GetType().GetTensorType().GetShape().GetDim()
	if vi.GetType().GetTensorType().GetElemType() != int32(pb.TensorProto_UINT8) || len(d) != 4 ||
		d[0].GetDimParam() != "batch" || d[1].GetDimValue() != 3 || d[2].GetDimValue() != 7 || d[3].GetValue() != nil {
		t.Errorf("ValueInfo: %v", vi)
	}
	n := onnx.Node("Resize", "r", []string{"x", "", "", "s"}, []string{"y"}, onnx.AttrString("mode", "linear"), onnx.AttrFloat("f", 0.5), onnx.AttrInts("a", 1, 2), onnx.AttrInt("i", 3))
	a := n.GetAttribute()
	if n.GetOpType() != "Resize" || n.GetName() != "r" || len(n.GetInput()) != 4 || len(a) != 4 ||
		a[0].GetType() != pb.AttributeProto_STRING || string(a[0].GetS()) != "linear" ||
		a[1].GetType() != pb.AttributeProto_FLOAT || a[1].GetF() != 0.5 ||
		a[2].GetType() != pb.AttributeProto_INTS || !slices.Equal(a[2].GetInts(), []int64{1, 2}) ||
		a[3].GetType() != pb.AttributeProto_INT || a[3].GetI() != 3 {
		t.Errorf("Node: %v", n)
	}
	for name, f := range map[string]func(){
		"float count":  func() { onnx.FloatTensor("w", onnx.Dims(2, 2), w) },
		"int64 count":  func() { onnx.Int64Tensor("k", []int64{2}, []int64{1}) },
		"negative dim": func() { onnx.Int64Tensor("k", []int64{-1}, nil) },
		"dim of float": func() { onnx.ValueInfo("x", pb.TensorProto_FLOAT, 1.5) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
