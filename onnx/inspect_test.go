package onnx

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

func TestInspectStatic(t *testing.T) {
	dir := t.TempDir()
	spec := netSpec{channels: []int{4, 6}, classes: 3, extraInt: true}
	mp := buildNet(spec)
	mp.ProducerVersion = "0.1"
	mp.OpsetImport = append(mp.OpsetImport, &pb.OperatorSetIdProto{Domain: "com.microsoft", Version: 1})
	p := writeModel(t, dir, "m.onnx", mp)
	r, err := Inspect(p, 0, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Parameters: conv 4x3x3x3+4, conv 6x4x3x3+6, fc 3x6+3.
	wantParams := int64(4*3*9 + 4 + 6*4*9 + 6 + 3*6 + 3)
	if r.Params != wantParams || r.ParamBytes != 4*wantParams || r.ExternalBytes != 0 {
		t.Errorf("params %d (%d bytes), want %d (%d bytes)", r.Params, r.ParamBytes, wantParams, 4*wantParams)
	}
	if r.Nodes != 8 || r.IRVersion != 8 || r.Producer != "lmpseg-test" || r.ProducerVersion != "0.1" {
		t.Errorf("nodes %d, ir %d, producer %q %q", r.Nodes, r.IRVersion, r.Producer, r.ProducerVersion)
	}
	if len(r.Opsets) != 2 || r.Opsets[0] != (OpsetInfo{"ai.onnx", 17}) || r.Opsets[1] != (OpsetInfo{"com.microsoft", 1}) {
		t.Errorf("opsets %v", r.Opsets)
	}
	if len(r.Ops) == 0 || r.Ops[0] != (OpCount{"Conv", 2}) || r.Ops[1] != (OpCount{"Relu", 2}) {
		t.Errorf("op histogram %v", r.Ops)
	}
	total := 0
	for _, o := range r.Ops {
		total += o.Count
	}
	if total != r.Nodes {
		t.Errorf("histogram counts %d nodes, model has %d", total, r.Nodes)
	}
	in := r.Inputs[0]
	if len(r.Inputs) != 1 || in.Name != "image" || in.Type != "float32" || strings.Join(in.Shape, ",") != "batch,3,height,width" {
		t.Errorf("inputs %+v", r.Inputs)
	}
	if len(r.Outputs) != 2 || strings.Join(r.Outputs[0].Shape, ",") != "batch,3" || r.Outputs[1].Type != "int64" {
		t.Errorf("outputs %+v", r.Outputs)
	}
	if r.Probe != nil || r.Metadata["purpose"] != "test" {
		t.Errorf("probe %v, metadata %v", r.Probe, r.Metadata)
	}
	// External data is counted.
	mp2 := buildNet(spec)
	externalize(t, mp2, dir, "w.bin")
	r2, err := Inspect(writeModel(t, dir, "ext.onnx", mp2), 0, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Params != wantParams || r2.ExternalBytes != 4*wantParams {
		t.Errorf("external model: params %d, external bytes %d", r2.Params, r2.ExternalBytes)
	}
	if _, err := Inspect(p, 16, 0, Options{}); err == nil {
		t.Error("probe 16x0 accepted")
	}
}

func TestInspectProbe(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	spec := netSpec{channels: []int{4, 6, 8}, extraInt: true}
	p := writeModel(t, dir, "m.onnx", buildNet(spec))
	r, err := Inspect(p, 64, 96, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Probe == nil {
		t.Fatal("no probe")
	}
	var got []string
	for _, c := range r.Probe.Candidates {
		got = append(got, c.Name+"@"+itoa(int(c.Stride))+dimsString(c.Shape))
		if c.StrideW != c.Stride {
			t.Errorf("%s: stride %g x %g", c.Name, c.Stride, c.StrideW)
		}
	}
	want := "conv1@2[1 4 32 48] stage1@2[1 4 32 48] conv2@4[1 6 16 24] stage2@4[1 6 16 24] conv3@8[1 8 8 12] stage3@8[1 8 8 12]"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("candidates\n got %s\nwant %s", s, want)
	}
	var buf bytes.Buffer
	if err := r.Print(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"ir version", "ai.onnx 17", "[batch 3 height width]", "Conv", "stage3", "[1 8 8 12]", "deepest last"} {
		if !strings.Contains(out, w) {
			t.Errorf("printed report lacks %q:\n%s", w, out)
		}
	}
	if strings.Index(out, "stage2") > strings.Index(out, "stage3") {
		t.Error("stage3 is not listed after stage2")
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Probe.Candidates) != len(r.Probe.Candidates) || !strings.Contains(string(b), `"stride":8`) {
		t.Errorf("JSON round trip: %s", b)
	}
	// A static model is probed at its own size when asked for another, and says so.
	ps := writeModel(t, dir, "s.onnx", buildNet(netSpec{static: []int64{1, 3, 32, 32}, channels: []int{4}}))
	if r, err := Inspect(ps, 64, 64, Options{}); err != nil || r.Probe.H != 32 || !strings.Contains(r.Probe.Note, "32x32") {
		t.Errorf("static probe: %v", err)
	}
	if r, err := Inspect(ps, 32, 32, Options{}); err != nil || len(r.Probe.Candidates) != 2 {
		t.Errorf("static probe at its size: %v %+v", err, r.Probe)
	}
}

// TestInspectProbeShapeArithmetic probes a model with shape arithmetic,
// scalars and an empty constant, which onnxruntime_go cannot return as
// outputs: they must not be exposed.
func TestInspectProbeShapeArithmetic(t *testing.T) {
	needRuntime(t)
	mp := buildNet(netSpec{channels: []int{4, 6}})
	g := mp.Graph
	g.Initializer = append(g.Initializer,
		&pb.TensorProto{Name: "idx2", DataType: int32(pb.TensorProto_INT64), Int64Data: []int64{2}},
		&pb.TensorProto{Name: "scales", Dims: []int64{4}, DataType: int32(pb.TensorProto_FLOAT), FloatData: []float32{1, 1, 2, 2}},
	)
	g.Node = append(g.Node,
		&pb.NodeProto{Name: "shp", OpType: "Shape", Input: []string{"stage2"}, Output: []string{"s2_shape"}},
		&pb.NodeProto{Name: "gat", OpType: "Gather", Input: []string{"s2_shape", "idx2"}, Output: []string{"s2_h"}},
		&pb.NodeProto{Name: "roi", OpType: "Constant", Output: []string{"empty_roi"}, Attribute: []*pb.AttributeProto{{
			Name: "value", Type: pb.AttributeProto_TENSOR, T: &pb.TensorProto{Dims: []int64{0}, DataType: int32(pb.TensorProto_FLOAT)}}}},
		&pb.NodeProto{Name: "up", OpType: "Resize", Input: []string{"stage2", "empty_roi", "scales"}, Output: []string{"up2"},
			Attribute: []*pb.AttributeProto{{Name: "mode", Type: pb.AttributeProto_STRING, S: []byte("linear")}}},
	)
	g.Output = append(g.Output, FloatValueInfo("up2", nil), TensorValueInfo("s2_h", int32(pb.TensorProto_INT64), []int64{}, nil))
	p := writeModel(t, t.TempDir(), "m.onnx", mp)
	r, err := Inspect(p, 32, 64, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.Probe.Candidates {
		got = append(got, c.Name+"@"+itoa(int(c.Stride)))
	}
	if s := strings.Join(got, " "); s != "conv1@2 stage1@2 up2@2 conv2@4 stage2@4" {
		t.Errorf("candidates %s", s)
	}
	// Asking a session for the scalar gives an error, not a crash.
	s := openSession(t, p, Options{Feature: "s2_h"})
	if _, err := s.Run(ramp(3*32*64), 1, 3, 32, 64); err == nil {
		t.Log("onnxruntime_go returned the scalar output")
	} else if strings.Contains(err.Error(), "\n") {
		t.Errorf("scalar output: multi-line error %q", err)
	}
}
