package onnx

import (
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// quantNet returns a model quantized dynamically after its first stage, as
// onnxruntime's quantize_dynamic writes them: DynamicQuantizeLinear gives a
// uint8 tensor with a scalar scale and zero point, ConvInteger an int32
// tensor, which Cast and Mul by the scalar scale turn back into floats.
func quantNet() *pb.ModelProto {
	mp := buildNet(netSpec{channels: []int{4}})
	g := mp.Graph
	r := lcg(7)
	wq := make([]byte, 6*4*3*3)
	for i := range wq {
		wq[i] = byte(128 + int(r.next()*200))
	}
	g.Initializer = append(g.Initializer,
		&pb.TensorProto{Name: "wq", Dims: []int64{6, 4, 3, 3}, DataType: int32(pb.TensorProto_UINT8), RawData: wq},
		&pb.TensorProto{Name: "wq_zp", DataType: int32(pb.TensorProto_UINT8), RawData: []byte{128}},
		&pb.TensorProto{Name: "wq_scale", DataType: int32(pb.TensorProto_FLOAT), FloatData: []float32{0.01}},
	)
	// Insert before the classifier (gap, flat, fc), which now reads the
	// dequantized tensor.
	head := g.Node[len(g.Node)-3:]
	body := append([]*pb.NodeProto(nil), g.Node[:len(g.Node)-3]...)
	body = append(body,
		&pb.NodeProto{Name: "dql", OpType: "DynamicQuantizeLinear", Input: []string{"stage1"}, Output: []string{"x_q", "x_scale", "x_zp"}},
		&pb.NodeProto{Name: "convint", OpType: "ConvInteger", Input: []string{"x_q", "wq", "x_zp", "wq_zp"}, Output: []string{"conv_int"},
			Attribute: []*pb.AttributeProto{intsAttr("kernel_shape", 3, 3), intsAttr("strides", 2, 2), intsAttr("pads", 1, 1, 1, 1)}},
		&pb.NodeProto{Name: "cast", OpType: "Cast", Input: []string{"conv_int"}, Output: []string{"conv_f"}, Attribute: []*pb.AttributeProto{intAttr("to", int64(pb.TensorProto_FLOAT))}},
		&pb.NodeProto{Name: "scale", OpType: "Mul", Input: []string{"x_scale", "wq_scale"}, Output: []string{"deq_scale"}},
		&pb.NodeProto{Name: "deq", OpType: "Mul", Input: []string{"conv_f", "deq_scale"}, Output: []string{"stage2q"}},
	)
	g.Node = append(body, head...)
	g.Node[len(g.Node)-3].Input[0] = "stage2q"
	// The classifier now reads 6 channels.
	r2 := lcg(8)
	for i, t := range g.Initializer {
		if t.Name == "fc_w" {
			g.Initializer[i] = floatTensor("fc_w", []int64{5, 6}, &r2)
		}
	}
	return mp
}

func TestInspectProbeQuantized(t *testing.T) {
	needRuntime(t)
	p := writeModel(t, t.TempDir(), "q.onnx", quantNet())
	// The model itself runs.
	s, err := OpenSession(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ramp(3*32*32), 1, 3, 32, 32); err != nil {
		t.Fatalf("quantized model does not run: %v", err)
	}
	s.Close()
	r, err := Inspect(p, 32, 32, Options{})
	if err != nil {
		t.Fatalf("probe of a quantized model: %v", err)
	}
	var got []string
	for _, c := range r.Probe.Candidates {
		got = append(got, c.Name+"@"+itoa(int(c.Stride)))
	}
	// conv_int (int32), x_q (uint8) and the scalars are no candidates.
	if s := strings.Join(got, " "); s != "conv1@2 stage1@2 conv_f@4 stage2q@4" {
		t.Errorf("candidates %s", s)
	}
}
