package onnx

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// shuffledNet returns buildNet(s) with its nodes in an order that is not
// topological (onnxruntime still runs such models): the classifier first,
// then the stages from the deepest to the first.
func shuffledNet(s netSpec) *pb.ModelProto {
	mp := buildNet(s)
	slices.Reverse(mp.Graph.Node)
	return mp
}

func TestTopoSort(t *testing.T) {
	cases := []struct {
		name  string
		order []int // permutation of buildNet's 9 nodes
		want  string
	}{
		{"sorted", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, "conv1_node stage1_relu conv2_node stage2_relu conv3_node stage3_relu gap flat fc"},
		{"reversed", []int{8, 7, 6, 5, 4, 3, 2, 1, 0}, "conv1_node stage1_relu conv2_node stage2_relu conv3_node stage3_relu gap flat fc"},
		// The extra Shape node (index 9) reads only the input: placed
		// first, it stays first (stable: valid positions are kept).
		{"independent first", []int{9, 0, 1, 2, 3, 4, 5, 6, 7, 8}, "shape conv1_node stage1_relu conv2_node stage2_relu conv3_node stage3_relu gap flat fc"},
		{"one swap", []int{1, 0, 2, 3, 9, 4, 5, 6, 7, 8}, "conv1_node stage1_relu conv2_node stage2_relu shape conv3_node stage3_relu gap flat fc"},
	}
	for _, c := range cases {
		mp := buildNet(netSpec{channels: []int{4, 6, 8}, extraInt: len(c.order) == 10})
		nodes := mp.Graph.Node
		perm := make([]*pb.NodeProto, len(c.order))
		for i, j := range c.order {
			perm[i] = nodes[j]
		}
		mp.Graph.Node = perm
		if err := SortNodes(mp.Graph); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := strings.Join(nodeOps(mp.Graph), " "); got != c.want {
			t.Errorf("%s: order %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTopoSortCycle(t *testing.T) {
	mp := buildNet(netSpec{channels: []int{4, 6}})
	// conv1 reads stage2: a cycle conv1 -> stage1 -> conv2 -> stage2 -> conv1.
	mp.Graph.Node[0].Input[0] = "stage2"
	err := SortNodes(mp.Graph)
	if err == nil || !strings.Contains(err.Error(), "cycle") || !strings.Contains(err.Error(), "conv1_node") {
		t.Errorf("cycle: %v", err)
	}
	p := writeModel(t, t.TempDir(), "cycle.onnx", mp)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("Load of a cyclic graph: %v", err)
	}
}

// TestTopoSortSubgraph checks that a node whose subgraph reads an outer
// value is placed after the producer of that value.
func TestTopoSortSubgraph(t *testing.T) {
	mp := buildNet(netSpec{channels: []int{4}})
	g := mp.Graph
	body := &pb.GraphProto{Name: "then",
		Node:   []*pb.NodeProto{{Name: "inner", OpType: "Identity", Input: []string{"stage1"}, Output: []string{"inner_out"}}},
		Output: []*pb.ValueInfoProto{FloatValueInfo("inner_out", nil)},
	}
	g.Initializer = append(g.Initializer, &pb.TensorProto{Name: "cond", DataType: int32(pb.TensorProto_BOOL), Int32Data: []int32{1}})
	ifNode := &pb.NodeProto{Name: "if", OpType: "If", Input: []string{"cond"}, Output: []string{"branch"},
		Attribute: []*pb.AttributeProto{
			{Name: "then_branch", Type: pb.AttributeProto_GRAPH, G: body},
			{Name: "else_branch", Type: pb.AttributeProto_GRAPH, G: body},
		}}
	g.Node = append([]*pb.NodeProto{ifNode}, g.Node...)
	if err := SortNodes(g); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(nodeOps(g), " "); got != "conv1_node stage1_relu if gap flat fc" {
		t.Errorf("order %q", got)
	}
}

// TestUnsortedModel runs Load, Cut, Merge, Inspect and a backbone on a model
// whose nodes are not in topological order.
func TestUnsortedModel(t *testing.T) {
	spec := netSpec{channels: []int{4, 6, 8}}
	// Cut and prune work on an unsorted model held in memory.
	m := &Model{Proto: shuffledNet(spec)}
	cut, err := Cut(m, "stage2")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(nodeOps(cut.Proto.Graph), " "); got != "conv1_node stage1_relu conv2_node stage2_relu" {
		t.Errorf("cut of an unsorted model keeps %q", got)
	}
	nodes, inits := headNodes("head_")
	merged, err := Merge(m, nodes, inits, []*pb.ValueInfoProto{FloatValueInfo("head_logits", nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(nodeOps(merged.Proto.Graph), " "); !strings.HasPrefix(got, "conv1_node stage1_relu conv2_node stage2_relu ") || strings.Contains(got, "conv3") {
		t.Errorf("merge of an unsorted model keeps %q", got)
	}
	// Load sorts.
	dir := t.TempDir()
	p := writeModel(t, dir, "shuffled.onnx", shuffledNet(spec))
	lm, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeOps(lm.Proto.Graph); got[0] != "conv1_node" || got[len(got)-1] != "fc" {
		t.Errorf("Load keeps order %v", got)
	}
	needRuntime(t)
	r, err := Inspect(p, 32, 32, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Probe.Candidates) != 6 {
		t.Errorf("probe of an unsorted model lists %d candidates, want the 6 of conv1..stage3", len(r.Probe.Candidates))
	}
	// A cut saved from the unsorted model runs in onnxruntime and agrees
	// with the sorted model.
	cp := filepath.Join(dir, "cut.onnx")
	if err := cut.Save(cp); err != nil {
		t.Fatal(err)
	}
	b1 := openBackbone(t, cp, Options{})
	b2 := openBackbone(t, writeModel(t, dir, "sorted.onnx", buildNet(spec)), Options{Feature: "stage2"})
	x := ramp(3 * 32 * 32)
	f1, _, err := b1.Run(x, 1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	f2, _, err := b2.Run(x, 1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(f1, f2); d != 0 {
		t.Errorf("unsorted cut differs from sorted model by %g", d)
	}
}

func TestTopoSortSubgraphCycle(t *testing.T) {
	mp := buildNet(netSpec{channels: []int{4}})
	body := &pb.GraphProto{Name: "then",
		Node: []*pb.NodeProto{
			{Name: "a", OpType: "Identity", Input: []string{"b_out"}, Output: []string{"a_out"}},
			{Name: "b", OpType: "Identity", Input: []string{"a_out"}, Output: []string{"b_out"}},
		},
		Output: []*pb.ValueInfoProto{FloatValueInfo("a_out", nil)},
	}
	mp.Graph.Node = append(mp.Graph.Node, &pb.NodeProto{Name: "if", OpType: "If", Input: []string{"cond"}, Output: []string{"branch"},
		Attribute: []*pb.AttributeProto{{Name: "then_branch", Type: pb.AttributeProto_GRAPH, G: body}}})
	err := SortNodes(mp.Graph)
	want := "onnx: in the subgraph of node if (If) attribute then_branch: the graph has a cycle ("
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "a (Identity) -> b (Identity)") && !strings.Contains(err.Error(), "b (Identity) -> a (Identity)") {
		t.Errorf("error %v\nwant %s", err, want)
	}
}
