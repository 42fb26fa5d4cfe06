package onnx

import (
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// oddNet returns buildNet with channels 4, 6 and, beside the NCHW stages,
// tensors that a probe at one size might take for feature maps:
//   - stage2_nhwc: stage2 transposed to [N,H,W,C], a feature map in
//     channels-last layout;
//   - tr: stage1 transposed to [N,H,C,W], whose second dimension grows
//     with the input height (a channel count that changes with the size);
//   - win: stage1 reshaped into 2x2 windows [N*H*W/4, 4, 2, 2], whose
//     first dimension is not the batch;
//   - up: stage2 resized by 1.5, stride 8/3.
func oddNet() *pb.ModelProto {
	mp := buildNet(netSpec{channels: []int{4, 6}})
	g := mp.Graph
	g.Initializer = append(g.Initializer,
		&pb.TensorProto{Name: "win_shape", Dims: []int64{4}, DataType: int32(pb.TensorProto_INT64), Int64Data: []int64{-1, 4, 2, 2}},
		&pb.TensorProto{Name: "up_scales", Dims: []int64{4}, DataType: int32(pb.TensorProto_FLOAT), FloatData: []float32{1, 1, 1.5, 1.5}},
	)
	g.Node = append(g.Node,
		&pb.NodeProto{Name: "to_nhwc", OpType: "Transpose", Input: []string{"stage2"}, Output: []string{"stage2_nhwc"}, Attribute: []*pb.AttributeProto{intsAttr("perm", 0, 2, 3, 1)}},
		&pb.NodeProto{Name: "tr", OpType: "Transpose", Input: []string{"stage1"}, Output: []string{"tr"}, Attribute: []*pb.AttributeProto{intsAttr("perm", 0, 2, 1, 3)}},
		&pb.NodeProto{Name: "win", OpType: "Reshape", Input: []string{"stage1", "win_shape"}, Output: []string{"win"}},
		&pb.NodeProto{Name: "up", OpType: "Resize", Input: []string{"stage2", "", "up_scales"}, Output: []string{"up"},
			Attribute: []*pb.AttributeProto{{Name: "mode", Type: pb.AttributeProto_STRING, S: []byte("nearest")}}},
	)
	for _, n := range []string{"stage2_nhwc", "tr", "win", "up"} {
		g.Output = append(g.Output, FloatValueInfo(n, nil))
	}
	return mp
}

func TestProbeCandidatesScale(t *testing.T) {
	needRuntime(t)
	p := writeModel(t, t.TempDir(), "odd.onnx", oddNet())
	r, err := Inspect(p, 64, 64, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.Probe.Candidates {
		s := c.Name + "@" + c.StrideText
		if c.NHWC {
			s += "(nhwc)"
		}
		got = append(got, s)
	}
	want := "conv1@2 stage1@2 up@8/3 conv2@4 stage2@4 stage2_nhwc@4(nhwc)"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("candidates\n got %s\nwant %s", s, want)
	}
	if r.Probe.H2 != 96 || r.Probe.W2 != 96 {
		t.Errorf("second probe size %dx%d, want 96x96", r.Probe.H2, r.Probe.W2)
	}
}

func TestCheckFeature(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	p := writeModel(t, dir, "odd.onnx", oddNet())
	cases := []struct {
		tensor   string
		stride   string
		channels int
		nhwc     bool
		err      []string // substrings of the error; nil: accepted
	}{
		{tensor: "stage2", stride: "4", channels: 6},
		{tensor: "conv1", stride: "2", channels: 4},
		{tensor: "stage2_nhwc", stride: "4", channels: 6, nhwc: true},
		{tensor: "up", stride: "8/3", channels: 6},
		{tensor: "tr", err: []string{"tensor tr has shape [1 64 4 64] at 128x128 and [1 96 4 96] at 192x192: its channel count changes with the input size, so it is not a feature map; candidates: conv1 (stride 2), stage1 (stride 2), up (stride 8/3), conv2 (stride 4), stage2 (stride 4), stage2_nhwc (stride 4, NHWC)"}},
		{tensor: "win", err: []string{"tensor win has shape [1024 4 2 2] at 128x128", "is not the batch size 1", "candidates: conv1"}},
		{tensor: "pooled", err: []string{"globally pooled"}},
		{tensor: "logits", err: []string{"rank 2", "a feature map has rank 4"}},
		{tensor: "w1", err: []string{"not computed from the image"}},
		{tensor: "stage9", err: []string{`tensor "stage9" does not exist`, "stage1"}},
	}
	for _, c := range cases {
		fi, err := CheckFeature(p, c.tensor, Options{})
		if c.err == nil {
			if err != nil {
				t.Errorf("%s: %v", c.tensor, err)
			} else if fi.StrideText != c.stride || fi.Channels != c.channels || fi.NHWC != c.nhwc || fi.Type != "float32" {
				t.Errorf("%s: %+v, want stride %s, %d channels, nhwc %v", c.tensor, fi, c.stride, c.channels, c.nhwc)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted as %+v", c.tensor, fi)
			continue
		}
		checkContains(t, c.tensor+": error", err.Error(), c.err)
	}
	// A quantized model: the int32 output of ConvInteger is refused for
	// its type.
	q := writeModel(t, dir, "q.onnx", quantNet())
	if _, err := CheckFeature(q, "conv_int", Options{}); err == nil || !strings.Contains(err.Error(), "element type int32") {
		t.Errorf("conv_int: %v", err)
	}
	if _, err := CheckFeature(q, "x_scale", Options{}); err == nil || !strings.Contains(err.Error(), "scalar") {
		t.Errorf("x_scale: %v", err)
	}
	if fi, err := CheckFeature(q, "stage2q", Options{}); err != nil || fi.StrideText != "4" {
		t.Errorf("stage2q: %+v %v", fi, err)
	}
}
