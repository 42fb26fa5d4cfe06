package onnx

import (
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// TestBackboneRunsOnlyFeature gives the model a graph output that fails at
// run time (a Reshape to an impossible shape after stage2): a backbone
// reading stage1 must not run it, nor anything else that does not feed
// stage1.
func TestBackboneRunsOnlyFeature(t *testing.T) {
	needRuntime(t)
	mp := buildNet(netSpec{channels: []int{4, 6}})
	g := mp.Graph
	g.Initializer = append(g.Initializer, &pb.TensorProto{Name: "bad_shape", Dims: []int64{3}, DataType: int32(pb.TensorProto_INT64), Int64Data: []int64{7, 11, 13}})
	g.Node = append(g.Node, &pb.NodeProto{Name: "bad", OpType: "Reshape", Input: []string{"stage2", "bad_shape"}, Output: []string{"bad"}})
	g.Output = append(g.Output, FloatValueInfo("bad", nil))
	p := writeModel(t, t.TempDir(), "bad.onnx", mp)
	x := ramp(3 * 32 * 32)
	whole := openSession(t, p, Options{})
	if _, err := whole.Run(x, 1, 3, 32, 32); err == nil {
		t.Fatal("the whole model ran: the test cannot tell")
	}
	for _, feat := range []string{"stage1", "conv2", "logits"} {
		b, err := OpenBackbone(p, Options{Feature: feat})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Run(x, 1, 32, 32); err != nil {
			t.Errorf("backbone reading %s ran more of the graph: %v", feat, err)
		}
		if outs := b.Session().Outputs(); len(outs) != 1 || outs[0] != feat {
			t.Errorf("backbone reading %s computes %v", feat, outs)
		}
		b.Close()
	}
}

// TestSessionLeavesModel checks that building session models (pruned,
// probed, float16 outputs cast), which share nodes and weights with the
// model, leaves the model as it was.
func TestSessionLeavesModel(t *testing.T) {
	needRuntime(t)
	mp := adaptedNet(TensorValueInfo("raw", int32(pb.TensorProto_FLOAT16), []int64{0, 3, 0, 0}, []string{"batch", "", "height", "width"}),
		[]*pb.NodeProto{castNode("raw", "image", pb.TensorProto_FLOAT)},
		[]*pb.NodeProto{castNode("stage2", "stage2_h", pb.TensorProto_FLOAT16)}, TensorValueInfo("stage2_h", int32(pb.TensorProto_FLOAT16), nil, nil))
	m := &Model{Proto: mp}
	before, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, outs := range [][]string{nil, {"stage1"}, {"stage2_h", "conv1"}} {
		s, err := NewSession(m, outs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if _, err := probe(m, 32, 32, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := checkFeature(m, "stage2_h", Options{}); err != nil {
		t.Fatal(err)
	}
	after, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("building sessions changed the model")
	}
}
