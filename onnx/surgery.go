package onnx

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// MinOpset is the lowest default-domain opset that Merge accepts: Resize, which the
// exported models use, has its present form from opset 11 (export gives it roi and scales
// there, and moves the classes last around Softmax before opset 13).
const MinOpset = 11

// TensorNames returns the names of every value of the graph: inputs,
// initializers and node outputs, without duplicates, in graph order.
func TensorNames(g *pb.GraphProto) []string {
	var l nameList
	for _, v := range g.GetInput() {
		l.add(v.GetName())
	}
	for _, t := range g.GetInitializer() {
		l.add(t.GetName())
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			l.add(o)
		}
	}
	return l.names
}

// nameList collects distinct non-empty names in the order first added.
type nameList struct {
	seen  map[string]bool
	names []string
}

// add appends s unless it is empty or was added before (even if it has
// since been taken off names).
func (l *nameList) add(s string) {
	if s == "" || l.seen[s] {
		return
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[s] = true
	l.names = append(l.names, s)
}

// missingTensorError says that name is not a value of g and lists the
// nearest existing names.
func missingTensorError(g *pb.GraphProto, name string) error {
	near := Nearest(name, TensorNames(g), 5)
	if len(near) == 0 {
		return fmt.Errorf("onnx: tensor %q does not exist in the graph", name)
	}
	return fmt.Errorf("onnx: tensor %q does not exist in the graph; nearest names: %s", name, strings.Join(near, ", "))
}

// Nearest returns at most k names of candidates closest to name, ignoring
// case: first names that contain name, then names that contain its
// characters in order (name with parts left out), each by length; then the
// rest by edit distance.
func Nearest(name string, candidates []string, k int) []string {
	type cand struct {
		s    string
		tier int
		dist int
	}
	cs := make([]cand, 0, len(candidates))
	ln := strings.ToLower(name)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		switch {
		case ln != "" && strings.Contains(lc, ln):
			cs = append(cs, cand{c, 0, len(lc) - len(ln)})
		case ln != "" && isSubsequence(ln, lc):
			cs = append(cs, cand{c, 1, len(lc) - len(ln)})
		default:
			cs = append(cs, cand{c, 2, editDistance(ln, lc)})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].tier != cs[j].tier {
			return cs[i].tier < cs[j].tier
		}
		if cs[i].dist != cs[j].dist {
			return cs[i].dist < cs[j].dist
		}
		return cs[i].s < cs[j].s
	})
	if len(cs) > k {
		cs = cs[:k]
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.s
	}
	return out
}

// isSubsequence reports whether the bytes of a appear in b in order.
func isSubsequence(a, b string) bool {
	i := 0
	for j := 0; j < len(b) && i < len(a); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}

// editDistance is the Levenshtein distance between a and b over bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nodeInputs returns the values a node reads: its inputs and, for nodes with
// subgraphs, every name the subgraphs read (outer-scope references included).
func nodeInputs(n *pb.NodeProto) []string {
	in := append([]string(nil), n.GetInput()...)
	for _, a := range n.GetAttribute() {
		gs := a.GetGraphs()
		if a.GetG() != nil {
			gs = append(gs, a.GetG())
		}
		for _, g := range gs {
			for _, sn := range g.GetNode() {
				in = append(in, nodeInputs(sn)...)
			}
			for _, o := range g.GetOutput() {
				in = append(in, o.GetName())
			}
		}
	}
	return in
}

// prune removes from g (in place) the nodes, initializers and value_info
// entries that do not feed any of outputs. Real graph inputs are kept. The
// nodes may be in any order: the producers of needed values are followed
// until none is left, and the kept nodes keep their relative order.
func prune(g *pb.GraphProto, outputs []string) {
	prod := map[string][]int{}
	for i, n := range g.Node {
		for _, o := range n.GetOutput() {
			if o != "" {
				prod[o] = append(prod[o], i)
			}
		}
	}
	// need (work.seen) is every value needed; work.names those whose
	// producers are still to visit.
	need := map[string]bool{}
	work := nameList{seen: need}
	for _, o := range outputs {
		work.add(o)
	}
	keep := make([]bool, len(g.Node))
	for len(work.names) > 0 {
		name := work.names[len(work.names)-1]
		work.names = work.names[:len(work.names)-1]
		for _, i := range prod[name] {
			if keep[i] {
				continue
			}
			keep[i] = true
			for _, in := range nodeInputs(g.Node[i]) {
				work.add(in)
			}
		}
	}
	nodes := g.Node[:0:0]
	for i, n := range g.Node {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Node = nodes
	inits := map[string]bool{}
	var keptInit []*pb.TensorProto
	for _, t := range g.Initializer {
		if need[t.GetName()] {
			keptInit = append(keptInit, t)
			inits[t.GetName()] = true
		}
	}
	allInit := map[string]bool{}
	for _, t := range g.Initializer {
		allInit[t.GetName()] = true
	}
	g.Initializer = keptInit
	var sparse []*pb.SparseTensorProto
	for _, s := range g.SparseInitializer {
		if need[s.GetValues().GetName()] {
			sparse = append(sparse, s)
		}
	}
	g.SparseInitializer = sparse
	var ins []*pb.ValueInfoProto
	for _, v := range g.Input {
		// Inputs that shadow an initializer (IR < 4 style) follow the
		// initializer; real inputs are always kept.
		if !allInit[v.GetName()] || inits[v.GetName()] {
			ins = append(ins, v)
		}
	}
	g.Input = ins
	isOut := map[string]bool{}
	for _, o := range outputs {
		isOut[o] = true
	}
	var vi []*pb.ValueInfoProto
	for _, v := range g.ValueInfo {
		if need[v.GetName()] && !isOut[v.GetName()] {
			vi = append(vi, v)
		}
	}
	g.ValueInfo = vi
}

// valueInfoFor returns a value description for name: a copy of the graph
// output or value_info entry with that name when there is one, else a float
// tensor of unknown shape.
func valueInfoFor(g *pb.GraphProto, name string) *pb.ValueInfoProto {
	for _, v := range g.GetOutput() {
		if v.GetName() == name {
			return proto.Clone(v).(*pb.ValueInfoProto)
		}
	}
	for _, v := range g.GetValueInfo() {
		if v.GetName() == name && v.GetType() != nil {
			return proto.Clone(v).(*pb.ValueInfoProto)
		}
	}
	return FloatValueInfo(name, nil)
}

// FloatValueInfo returns a ValueInfoProto of a float tensor. dims holds the
// dimensions (a value <= 0 is an unknown dimension); nil dims leaves the
// shape, and so the rank, unknown.
func FloatValueInfo(name string, dims []int64) *pb.ValueInfoProto {
	return TensorValueInfo(name, int32(pb.TensorProto_FLOAT), dims, nil)
}

// TensorValueInfo returns a ValueInfoProto of a tensor with element type
// elem. Dimension i is dims[i] when positive, else the symbolic name
// params[i] when given, else unknown. nil dims leaves the shape unknown.
func TensorValueInfo(name string, elem int32, dims []int64, params []string) *pb.ValueInfoProto {
	tt := &pb.TypeProto_Tensor{ElemType: elem}
	if dims != nil {
		sh := &pb.TensorShapeProto{}
		for i, d := range dims {
			dim := &pb.TensorShapeProto_Dimension{}
			switch {
			case d > 0:
				dim.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			case i < len(params) && params[i] != "":
				dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: params[i]}
			}
			sh.Dim = append(sh.Dim, dim)
		}
		tt.Shape = sh
	}
	return &pb.ValueInfoProto{
		Name: name,
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}},
	}
}

// Cut returns a new model whose single output is tensor, which may be any
// graph output or intermediate value of m. Nodes, initializers and
// value_info entries that do not feed tensor are pruned; metadata, opsets
// and the source path (for external data) are kept. The nodes of m may be
// in any order; those of the result are in topological order. m is not
// changed.
func Cut(m *Model, tensor string) (*Model, error) {
	if m == nil || m.Proto.GetGraph() == nil {
		return nil, errors.New("onnx: cut of a model without a graph")
	}
	g0 := m.Proto.GetGraph()
	if !hasValue(g0, tensor) {
		return nil, missingTensorError(g0, tensor)
	}
	out := proto.Clone(m.Proto).(*pb.ModelProto)
	g := out.Graph
	vi := valueInfoFor(g0, tensor)
	prune(g, []string{tensor})
	g.Output = []*pb.ValueInfoProto{vi}
	if err := SortNodes(g); err != nil {
		return nil, err
	}
	return &Model{Proto: out, Path: m.Path}, nil
}

// hasValue reports whether name is an input, initializer or node output of g.
func hasValue(g *pb.GraphProto, name string) bool {
	if name == "" {
		return false
	}
	for _, v := range g.GetInput() {
		if v.GetName() == name {
			return true
		}
	}
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			return true
		}
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == name {
				return true
			}
		}
	}
	return false
}

// ExposeOutputs returns a copy of m in which each of names is also a graph
// output (after the existing outputs, in the order given; names that already
// are outputs are left where they are). Intermediate values get the type
// recorded in value_info when present, otherwise a float tensor of unknown
// shape. m is not changed.
func ExposeOutputs(m *Model, names ...string) (*Model, error) {
	if m == nil || m.Proto.GetGraph() == nil {
		return nil, errors.New("onnx: expose outputs of a model without a graph")
	}
	g0 := m.Proto.GetGraph()
	for _, n := range names {
		if !hasValue(g0, n) {
			return nil, missingTensorError(g0, n)
		}
	}
	out := proto.Clone(m.Proto).(*pb.ModelProto)
	g := out.Graph
	isOut := map[string]bool{}
	for _, o := range g.Output {
		isOut[o.GetName()] = true
	}
	for _, n := range names {
		if isOut[n] {
			continue
		}
		isOut[n] = true
		g.Output = append(g.Output, valueInfoFor(g0, n))
	}
	var vi []*pb.ValueInfoProto
	for _, v := range g.ValueInfo {
		if !isOut[v.GetName()] {
			vi = append(vi, v)
		}
	}
	g.ValueInfo = vi
	return &Model{Proto: out, Path: m.Path}, nil
}

// Merge appends the head nodes and initializers to (a copy of) backbone and
// makes outputs the graph outputs. The head nodes must be in topological
// order; the backbone's may be in any order, and the result is sorted. It
// checks that new initializer and node output names do not clash with the
// backbone's or with each other, that every node input is produced before it
// is read, and that every output is produced. Backbone nodes and
// initializers that no longer feed an output are pruned. The backbone's IR
// version, opset imports and metadata are kept; its default-domain opset must
// be at least MinOpset.
func Merge(backbone *Model, nodes []*pb.NodeProto, inits []*pb.TensorProto, outputs []*pb.ValueInfoProto) (*Model, error) {
	if backbone == nil || backbone.Proto.GetGraph() == nil {
		return nil, errors.New("onnx: merge into a model without a graph")
	}
	if v := Opset(backbone.Proto); v < MinOpset {
		return nil, fmt.Errorf("onnx: the backbone imports opset %d of the default domain; at least %d is needed", v, MinOpset)
	}
	if len(outputs) == 0 {
		return nil, errors.New("onnx: merge needs at least one output")
	}
	out := proto.Clone(backbone.Proto).(*pb.ModelProto)
	g := out.Graph
	avail := map[string]bool{}
	for _, n := range TensorNames(g) {
		avail[n] = true
	}
	nodeNames := map[string]bool{}
	for _, n := range g.Node {
		if n.GetName() != "" {
			nodeNames[n.GetName()] = true
		}
	}
	for _, t := range inits {
		if t == nil || t.GetName() == "" {
			return nil, errors.New("onnx: merge: an initializer has no name")
		}
		if avail[t.GetName()] {
			return nil, fmt.Errorf("onnx: merge: initializer %q clashes with an existing tensor name", t.GetName())
		}
		avail[t.GetName()] = true
	}
	for _, n := range nodes {
		if n == nil {
			return nil, errors.New("onnx: merge: nil node")
		}
		if n.GetName() != "" {
			if nodeNames[n.GetName()] {
				return nil, fmt.Errorf("onnx: merge: node name %q clashes with an existing node", n.GetName())
			}
			nodeNames[n.GetName()] = true
		}
		for _, in := range n.GetInput() {
			if in != "" && !avail[in] {
				return nil, fmt.Errorf("onnx: merge: input %q of node %q (%s) is not produced by the backbone, an initializer or an earlier node", in, n.GetName(), n.GetOpType())
			}
		}
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if avail[o] {
				return nil, fmt.Errorf("onnx: merge: output %q of node %q (%s) clashes with an existing tensor name", o, n.GetName(), n.GetOpType())
			}
			avail[o] = true
		}
	}
	var outNames []string
	for _, o := range outputs {
		if o == nil || !avail[o.GetName()] {
			return nil, fmt.Errorf("onnx: merge: output %q is not produced by the graph", o.GetName())
		}
		outNames = append(outNames, o.GetName())
	}
	for _, n := range nodes {
		g.Node = append(g.Node, proto.Clone(n).(*pb.NodeProto))
	}
	for _, t := range inits {
		g.Initializer = append(g.Initializer, proto.Clone(t).(*pb.TensorProto))
	}
	g.Output = nil
	for _, o := range outputs {
		g.Output = append(g.Output, proto.Clone(o).(*pb.ValueInfoProto))
	}
	prune(g, outNames)
	if err := SortNodes(g); err != nil {
		return nil, err
	}
	return &Model{Proto: out, Path: backbone.Path}, nil
}
