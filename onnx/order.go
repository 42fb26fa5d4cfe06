package onnx

import (
	"container/heap"
	"fmt"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// SortNodes puts the nodes of g, and of every subgraph it holds, in
// topological order, in place: each node after the nodes producing the
// values it reads. The sort is stable: among the nodes that may run next,
// the one that came first keeps its place, so that a graph already in
// topological order is left unchanged. A node with subgraphs is treated as
// reading every name its subgraphs read, which places it after the
// producers of the outer-scope values they use. A graph with a cycle is
// left unchanged and gives an error that names the nodes of one cycle.
func SortNodes(g *pb.GraphProto) error {
	return sortGraph(g, "")
}

func sortGraph(g *pb.GraphProto, scope string) error {
	if g == nil {
		return nil
	}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			sub := scope + "node " + nodeLabel(n) + " attribute " + a.GetName() + ": "
			if err := sortGraph(a.GetG(), sub); err != nil {
				return err
			}
			for _, sg := range a.GetGraphs() {
				if err := sortGraph(sg, sub); err != nil {
					return err
				}
			}
		}
	}
	order, err := topoOrder(g)
	if err != nil {
		if scope != "" {
			return fmt.Errorf("onnx: in the subgraph of %s%s", scope, strings.TrimPrefix(err.Error(), "onnx: "))
		}
		return err
	}
	if order == nil {
		return nil
	}
	nodes := make([]*pb.NodeProto, len(order))
	for i, j := range order {
		nodes[i] = g.Node[j]
	}
	g.Node = nodes
	return nil
}

// nodeLabel names a node in messages: its name and operator.
func nodeLabel(n *pb.NodeProto) string {
	if n.GetName() == "" {
		return "(" + n.GetOpType() + ")"
	}
	return n.GetName() + " (" + n.GetOpType() + ")"
}

// nodeDeps returns, for each node of g, the indices of the other nodes of g
// that produce a value it reads (subgraph reads included), and reports
// whether the graph order already is topological.
func nodeDeps(g *pb.GraphProto) ([][]int, bool) {
	prod := map[string]int{}
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if _, ok := prod[o]; o != "" && !ok {
				prod[o] = i
			}
		}
	}
	deps := make([][]int, len(g.GetNode()))
	sorted := true
	for i, n := range g.GetNode() {
		seen := map[int]bool{}
		for _, in := range nodeInputs(n) {
			j, ok := prod[in]
			if !ok || j == i || seen[j] {
				continue
			}
			seen[j] = true
			deps[i] = append(deps[i], j)
			if j > i {
				sorted = false
			}
		}
	}
	return deps, sorted
}

// topoOrder returns the stable topological order of the nodes of g (not of
// its subgraphs) as indices, or nil when the graph order already is one.
func topoOrder(g *pb.GraphProto) ([]int, error) {
	deps, sorted := nodeDeps(g)
	if sorted {
		return nil, nil
	}
	n := len(deps)
	indeg := make([]int, n)
	users := make([][]int, n)
	for i, ds := range deps {
		indeg[i] = len(ds)
		for _, j := range ds {
			users[j] = append(users[j], i)
		}
	}
	ready := &intHeap{}
	for i := range n {
		if indeg[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]int, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		for _, u := range users[i] {
			if indeg[u]--; indeg[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(order) < n {
		return nil, cycleError(g, deps, indeg, n-len(order))
	}
	return order, nil
}

// cycleError describes one cycle among the nodes left with a positive
// in-degree by Kahn's algorithm: following unresolved dependencies from any
// of them must come back to a node already visited.
func cycleError(g *pb.GraphProto, deps [][]int, indeg []int, left int) error {
	start := -1
	for i, d := range indeg {
		if d > 0 {
			start = i
			break
		}
	}
	pos := map[int]int{}
	var path []int
	for i := start; ; {
		if p, ok := pos[i]; ok {
			path = path[p:]
			break
		}
		pos[i] = len(path)
		path = append(path, i)
		next := -1
		for _, j := range deps[i] {
			if indeg[j] > 0 {
				next = j
				break
			}
		}
		if next < 0 { // cannot happen: a node left over has an unresolved input
			break
		}
		i = next
	}
	// path lists each node followed by a node it reads from; print it in
	// data-flow order.
	names := make([]string, 0, len(path)+1)
	for k := len(path) - 1; k >= 0; k-- {
		names = append(names, nodeLabel(g.Node[path[k]]))
	}
	names = append(names, names[0])
	return fmt.Errorf("onnx: the graph has a cycle (%s), so it is not a valid ONNX model; %d nodes can never run", strings.Join(names, " -> "), left)
}

// intHeap is a min-heap of node indices.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
