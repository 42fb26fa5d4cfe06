package onnx

import (
	"slices"
	"sort"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

func nodeOps(g *pb.GraphProto) []string {
	var s []string
	for _, n := range g.Node {
		s = append(s, n.Name)
	}
	return s
}

func initNames(g *pb.GraphProto) []string {
	var s []string
	for _, t := range g.Initializer {
		s = append(s, t.Name)
	}
	sort.Strings(s)
	return s
}

func TestCut(t *testing.T) {
	spec := netSpec{channels: []int{4, 6, 8}, extraInt: true}
	mp := buildNet(spec)
	mp.Graph.ValueInfo = []*pb.ValueInfoProto{
		FloatValueInfo("stage1", []int64{0, 4, 0, 0}),
		FloatValueInfo("conv2", []int64{0, 6, 0, 0}),
		FloatValueInfo("stage3", []int64{0, 8, 0, 0}),
	}
	m := &Model{Proto: mp, Path: "/some/where/m.onnx"}
	cases := []struct {
		tensor    string
		nodes     string
		inits     string
		valueInfo string
		outShape  string // shape kept from value_info, "" for unknown
	}{
		{"stage1", "conv1_node stage1_relu", "b1 w1", "", "[? 4 ? ?]"},
		{"conv2", "conv1_node stage1_relu conv2_node", "b1 b2 w1 w2", "stage1", "[? 6 ? ?]"},
		{"stage2", "conv1_node stage1_relu conv2_node stage2_relu", "b1 b2 w1 w2", "stage1 conv2", ""},
		{"logits", "conv1_node stage1_relu conv2_node stage2_relu conv3_node stage3_relu gap flat fc", "b1 b2 b3 fc_b fc_w w1 w2 w3", "stage1 conv2 stage3", "[batch 5]"},
		{"image_shape", "shape", "", "", "[4]"},
	}
	for _, c := range cases {
		cut, err := Cut(m, c.tensor)
		if err != nil {
			t.Errorf("%s: %v", c.tensor, err)
			continue
		}
		g := cut.Proto.Graph
		if got := strings.Join(nodeOps(g), " "); got != c.nodes {
			t.Errorf("%s: nodes %q, want %q", c.tensor, got, c.nodes)
		}
		if got := strings.Join(initNames(g), " "); got != c.inits {
			t.Errorf("%s: initializers %q, want %q", c.tensor, got, c.inits)
		}
		var vi []string
		for _, v := range g.ValueInfo {
			vi = append(vi, v.Name)
		}
		if got := strings.Join(vi, " "); got != c.valueInfo {
			t.Errorf("%s: value_info %q, want %q", c.tensor, got, c.valueInfo)
		}
		if len(g.Output) != 1 || g.Output[0].Name != c.tensor {
			t.Errorf("%s: outputs %v", c.tensor, g.Output)
		} else if c.outShape != "" {
			if got := shapeString(tensorInfo(g.Output[0]).Shape); got != c.outShape {
				t.Errorf("%s: output shape %s, want %s", c.tensor, got, c.outShape)
			}
		}
		if len(g.Input) != 1 || g.Input[0].Name != "image" {
			t.Errorf("%s: inputs %v", c.tensor, g.Input)
		}
		if cut.Path != m.Path || len(cut.Proto.MetadataProps) != 1 || Opset(cut.Proto) != 17 {
			t.Errorf("%s: path, metadata or opset not kept", c.tensor)
		}
	}
	if len(mp.Graph.Node) != 10 || len(mp.Graph.Output) != 2 {
		t.Error("Cut changed its input model")
	}
	_, err := Cut(m, "stage")
	if err == nil || !strings.Contains(err.Error(), `tensor "stage" does not exist`) || !strings.Contains(err.Error(), "stage1, stage2, stage3") {
		t.Errorf("missing tensor: %v", err)
	}
	_, err = Cut(m, "conv_2")
	if err == nil || !strings.Contains(err.Error(), "nearest names: conv2") {
		t.Errorf("misspelt tensor: %v", err)
	}
}

func TestNearest(t *testing.T) {
	names := []string{"backbone.layer4", "backbone.layer3", "classifier.out", "input", "/features/16/Add_output_0",
		"out", "/m/backbone/backbone.1/Add_output_0", "/m/backbone/backbone.16/backbone.16.2/Mul_output_0"}
	cases := []struct {
		q    string
		k    int
		want string
	}{
		{"layer4", 1, "backbone.layer4"},
		{"backbone.layr4", 2, "backbone.layer4 backbone.layer3"},
		{"/features/16/Add", 1, "/features/16/Add_output_0"},
		{"inptu", 1, "input"},
		{"x", 0, ""},
		{"/m/backbone/backbone.16/Mul_output_0", 1, "/m/backbone/backbone.16/backbone.16.2/Mul_output_0"},
		{"out", 2, "out classifier.out"},
	}
	for _, c := range cases {
		if got := strings.Join(Nearest(c.q, names, c.k), " "); got != c.want {
			t.Errorf("Nearest(%q, %d) = %q, want %q", c.q, c.k, got, c.want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d, want 3", d)
	}
}

func TestExposeOutputs(t *testing.T) {
	mp := buildNet(netSpec{channels: []int{4, 6}})
	mp.Graph.ValueInfo = []*pb.ValueInfoProto{FloatValueInfo("stage1", []int64{0, 4, 0, 0})}
	m := &Model{Proto: mp}
	e, err := ExposeOutputs(m, "stage1", "logits", "conv2", "stage1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range e.Proto.Graph.Output {
		got = append(got, o.Name+":"+tensorInfo(o).Type)
	}
	if s := strings.Join(got, " "); s != "logits:float32 stage1:float32 conv2:float32" {
		t.Errorf("outputs %s", s)
	}
	if len(e.Proto.Graph.ValueInfo) != 0 {
		t.Errorf("exposed tensor still in value_info: %v", e.Proto.Graph.ValueInfo)
	}
	if len(e.Proto.Graph.Node) != len(mp.Graph.Node) {
		t.Error("ExposeOutputs removed nodes")
	}
	if _, err := ExposeOutputs(m, "stage9"); err == nil || !strings.Contains(err.Error(), "nearest names") {
		t.Errorf("missing tensor: %v", err)
	}
}

// headNodes returns a 1x1 convolution head from "stage2" (6 channels) to
// 3 classes named "head_logits", prefixed with p.
func headNodes(p string) ([]*pb.NodeProto, []*pb.TensorProto) {
	r := lcg(99)
	w := floatTensor(p+"w", []int64{3, 6, 1, 1}, &r)
	b := floatTensor(p+"b", []int64{3}, &r)
	n := &pb.NodeProto{Name: p + "conv", OpType: "Conv", Input: []string{"stage2", w.Name, b.Name}, Output: []string{p + "logits"},
		Attribute: []*pb.AttributeProto{intsAttr("kernel_shape", 1, 1)}}
	return []*pb.NodeProto{n}, []*pb.TensorProto{w, b}
}

func TestMerge(t *testing.T) {
	spec := netSpec{channels: []int{4, 6, 8}}
	mp := buildNet(spec)
	m := &Model{Proto: mp}
	cut, err := Cut(m, "stage2")
	if err != nil {
		t.Fatal(err)
	}
	nodes, inits := headNodes("head_")
	outs := []*pb.ValueInfoProto{FloatValueInfo("head_logits", []int64{0, 3, 0, 0})}
	merged, err := Merge(cut, nodes, inits, outs)
	if err != nil {
		t.Fatal(err)
	}
	g := merged.Proto.Graph
	if got := strings.Join(nodeOps(g), " "); got != "conv1_node stage1_relu conv2_node stage2_relu head_conv" {
		t.Errorf("merged nodes %q", got)
	}
	if len(g.Output) != 1 || g.Output[0].Name != "head_logits" || Opset(merged.Proto) != 17 || merged.Proto.IrVersion != 8 {
		t.Errorf("merged outputs %v, opset %d, ir %d", g.Output, Opset(merged.Proto), merged.Proto.IrVersion)
	}
	// Merging into the uncut model prunes the classifier too.
	merged2, err := Merge(m, nodes, inits, outs)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged2.Proto.Graph.Node) != 5 || len(merged2.Proto.Graph.Initializer) != 6 {
		t.Errorf("merge into the full model kept %d nodes and %d initializers", len(merged2.Proto.Graph.Node), len(merged2.Proto.Graph.Initializer))
	}
	// The merged model runs and equals a Go 1x1 convolution of the features.
	if _, err := InitRuntime(""); err == nil {
		res, f, sh := runMerged(t, merged, mp, spec, 2, 24, 16)
		hw := int(sh[2] * sh[3])
		wt, bs := rawFloats(inits[0]), rawFloats(inits[1])
		want := make([]float32, 2*3*hw)
		for i := 0; i < 2; i++ {
			for o := 0; o < 3; o++ {
				for q := 0; q < hw; q++ {
					s := float64(bs[o])
					for c := 0; c < 6; c++ {
						s += float64(wt[o*6+c]) * float64(f[(i*6+c)*hw+q])
					}
					want[(i*3+o)*hw+q] = float32(s)
				}
			}
		}
		if !slices.Equal(res[0].Shape, []int64{2, 3, sh[2], sh[3]}) || maxAbsDiff(res[0].Data, want) > 1e-4 {
			t.Errorf("merged model: shape %v, diff %g", res[0].Shape, maxAbsDiff(res[0].Data, want))
		}
	}

	low := buildNet(netSpec{channels: []int{4, 6}, opset: 10})
	lowCut, _ := Cut(&Model{Proto: low}, "stage2")
	bad := []struct {
		name  string
		bb    *Model
		nodes []*pb.NodeProto
		inits []*pb.TensorProto
		outs  []*pb.ValueInfoProto
		want  string
	}{
		{"init clash", cut, nodes, []*pb.TensorProto{floatTensor("w1", []int64{1}, new(lcg))}, outs, `initializer "w1" clashes`},
		{"output clash", cut, []*pb.NodeProto{{Name: "x", OpType: "Relu", Input: []string{"stage2"}, Output: []string{"stage1"}}}, nil, outs, `output "stage1" of node "x"`},
		{"node name clash", cut, []*pb.NodeProto{{Name: "conv1_node", OpType: "Relu", Input: []string{"stage2"}, Output: []string{"y"}}}, nil, outs, `node name "conv1_node"`},
		{"missing input", cut, nodes, inits[:1], outs, `input "head_b" of node "head_conv"`},
		{"order", cut, []*pb.NodeProto{
			{Name: "b", OpType: "Relu", Input: []string{"a_out"}, Output: []string{"b_out"}},
			{Name: "a", OpType: "Relu", Input: []string{"stage2"}, Output: []string{"a_out"}},
		}, nil, []*pb.ValueInfoProto{FloatValueInfo("b_out", nil)}, `input "a_out" of node "b"`},
		{"output not produced", cut, nodes, inits, []*pb.ValueInfoProto{FloatValueInfo("nothing", nil)}, `output "nothing" is not produced`},
		{"no outputs", cut, nodes, inits, nil, "at least one output"},
		{"low opset", lowCut, nodes, inits, outs, "opset 10"},
	}
	for _, c := range bad {
		_, err := Merge(c.bb, c.nodes, c.inits, c.outs)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "onnx: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if len(cut.Proto.Graph.Node) != 4 {
		t.Error("Merge changed the backbone")
	}
}
