package lift

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// Options control Lift.
type Options struct {
	// Output is the tensor the tail ends at; "" selects the model's first
	// graph output.
	Output string
	// H and W are the image size the shape subgraph is evaluated for (the
	// training crop): they are needed only when the tail reads the size of
	// the model's image input (a final Resize to the input size does). 0
	// uses the input's static size; SetImageSize changes it later.
	H, W int
	// Classes is the class count of the tail's output; 0 keeps the
	// model's. When it differs from the model's, or ResetClassifier is
	// set, the convolutions producing the class scores (the last Conv
	// before the output, through Resize, Identity and Dropout, on every
	// branch of an Add) are replaced by freshly initialised ones (Kaiming
	// normal weights drawn with Seed, zero biases).
	Classes         int
	ResetClassifier bool
	Seed            int64
	// FreezeBN keeps every batch norm in inference mode: running
	// statistics are used and not updated, and gamma and beta are not
	// trained (they are not among Params).
	FreezeBN bool
	// InputGrad makes Backward compute and return the gradient with
	// respect to the first input; otherwise Backward returns nil and the
	// work is skipped.
	InputGrad bool
	// Threads is the number of goroutines of the convolutions, batch
	// norms and resizes (0: graph's default).
	Threads int
	// Dropout, when positive, adds a channel dropout (graph.Dropout2d)
	// with that probability in front of each convolution producing the
	// class scores, active in training only: torchvision's heads train
	// with one, which their exported inference graphs no longer hold.
	// SetDropoutSeed restarts its generator.
	Dropout float64
	// DropFinalResize ends the tail before the Resize (and Identity)
	// nodes that produce the output, so that the net returns the
	// low-resolution class scores for graph.PixelCE, which upsamples them
	// itself.
	DropFinalResize bool
}

// ErrUnsupported is wrapped by the errors of Lift for a tail that holds an
// operator (or an attribute of one) outside the supported set.
var ErrUnsupported = errors.New("lift: unsupported operator")

type kind int

const (
	kSmall  kind = iota // shape subgraph: evaluated on small values
	kLayer              // a graph.Layer over one float input
	kMulti              // a graph.MultiLayer over several float inputs
	kAlias              // Identity, Dropout: the output is the input
	kResize             // an Interp whose output size comes from small values
)

type node struct {
	pn    *pb.NodeProto
	kind  kind
	layer graph.Layer
	multi graph.MultiLayer
	conv  *graph.GConv2d
	bn    *graph.BatchNorm2d
	in    []string // the float inputs (operands of a MultiLayer may be constants)
	out   string
	// frozen: a batch norm kept in inference mode.
	frozen bool
	// classifier: a convolution replaced by a fresh one.
	classifier bool
	// dropout: a channel dropout added in front of a classifier.
	dropout bool
	// resize: the names of the scales and sizes inputs ("" when absent).
	scales, sizes string
	interp        *graph.Interp
	// pass[i] says whether input i wants a gradient; run whether Backward
	// visits the node.
	pass []bool
	run  bool
}

// Net is the lifted tail of a model: the part of its graph from the
// tensor Lift was given to the output, as graph layers initialised with
// the model's weights. It is a DAG of nodes in the model's topological
// order; a tensor read by several nodes accumulates their gradients.
//
// Inputs lists the frozen tensors the tail reads: the tensor it was lifted
// from, then every other tensor of the frozen part that a lifted node reads
// (LR-ASPP's low-level feature), in the order the graph first reads them.
// ForwardInputs takes them in that order; Forward is ForwardInputs for a
// tail with one input.
//
// A Net keeps the activations of its last forward pass for Backward, so it
// is not safe for concurrent use. Input tensors of the wrong channel count
// or size are programmer errors: Forward panics with a message starting
// with "graph:" or "lift:".
type Net struct {
	from, output string
	inputs       []string
	image        string
	imgC         int
	imgH, imgW   int
	opset        int64
	dir          string
	nodes        []*node
	consts       map[string]*value
	constT       map[string]*graph.Tensor
	inits        map[string]*pb.TensorProto
	params, bufs []*graph.Param
	inputGrad    bool
	threads      int

	vals  map[string]*graph.Tensor
	small map[string]*value
	ran   bool
}

// floatOps are the operators lifted to layers.
var floatOps = map[string]bool{
	"Conv": true, "BatchNormalization": true, "Relu": true, "Clip": true, "HardSigmoid": true, "HardSwish": true,
	"Sigmoid": true, "Mul": true, "Add": true, "Concat": true, "Resize": true, "GlobalAveragePool": true,
	"AveragePool": true, "MaxPool": true, "ReduceMean": true, "Dropout": true, "Identity": true,
}

// SupportedOps returns the operators Lift handles, sorted: the layers and
// the shape subgraph's.
func SupportedOps() []string {
	var ops []string
	for op := range floatOps {
		ops = append(ops, op)
	}
	for op := range smallOps {
		if !floatOps[op] {
			ops = append(ops, op)
		}
	}
	slices.Sort(ops)
	return ops
}

// builder holds what Lift learns about the graph.
type builder struct {
	m       *onnx.Model
	g       *pb.GraphProto
	o       Options
	opset   int64
	dir     string
	inits   map[string]*pb.TensorProto
	prod    map[string]int
	isInput map[string]bool
	smallM  map[string]bool
	static  map[string]*value
}

func (b *builder) nodeLabel(i int) string {
	n := b.g.Node[i]
	if n.GetName() != "" {
		return fmt.Sprintf("%q (%s)", n.GetName(), n.GetOpType())
	}
	return fmt.Sprintf("#%d (%s) producing %q", i, n.GetOpType(), n.GetOutput())
}

// isSmall reports whether name is a constant or a value of the shape
// subgraph.
func (b *builder) isSmall(name string) bool {
	if v, ok := b.smallM[name]; ok {
		return v
	}
	b.smallM[name] = false // cycles cannot happen; guards recursion
	r := false
	if _, ok := b.inits[name]; ok {
		r = true
	} else if i, ok := b.prod[name]; ok {
		n := b.g.Node[i]
		switch {
		case n.GetOpType() == "Shape" || n.GetOpType() == "Constant":
			r = true
		case smallOps[n.GetOpType()]:
			r = true
			for _, in := range n.GetInput() {
				if in != "" && !b.isSmall(in) {
					r = false
				}
			}
		}
	}
	b.smallM[name] = r
	return r
}

// cachedInit returns the value of name from cache or, failing that, the
// initializer of that name in inits decoded (external data under dir) and
// stored in cache. ok is false when name is in neither; a decoding error
// is returned with ok true and nothing cached.
func cachedInit(cache map[string]*value, inits map[string]*pb.TensorProto, dir, name string) (v *value, ok bool, err error) {
	if v, ok := cache[name]; ok {
		return v, true, nil
	}
	t, ok := inits[name]
	if !ok {
		return nil, false, nil
	}
	if v, err = decodeTensor(t, dir); err != nil {
		return nil, true, err
	}
	cache[name] = v
	return v, true, nil
}

// staticValue evaluates a constant small value (one that reads no tensor
// shape).
func (b *builder) staticValue(name string) (*value, error) {
	if v, ok, err := cachedInit(b.static, b.inits, b.dir, name); ok {
		return v, err
	}
	i, ok := b.prod[name]
	if !ok || !b.isSmall(name) {
		return nil, fmt.Errorf("lift: %q is not a constant", name)
	}
	n := b.g.Node[i]
	if n.GetOpType() == "Shape" {
		return nil, fmt.Errorf("lift: %q depends on a tensor's shape, a constant is needed", name)
	}
	ins := make([]*value, len(n.GetInput()))
	for k, in := range n.GetInput() {
		if in == "" {
			continue
		}
		v, err := b.staticValue(in)
		if err != nil {
			return nil, err
		}
		ins[k] = v
	}
	v, err := evalSmall(n, ins, b.opset, b.dir)
	if err != nil {
		return nil, err
	}
	b.static[name] = v
	return v, nil
}

// Lift lifts the part of m's graph between tensor from and the output
// (o.Output, or the first graph output) into a Net initialised with the
// model's weights. Every node the output needs that depends on from is
// lifted, with the shape subgraph feeding them. An operator outside the
// supported set (SupportedOps) is refused before anything is built, with
// an error wrapping ErrUnsupported that names the node and operator and
// lists tensors from which lifting would work. m is not changed.
func Lift(m *onnx.Model, from string, o Options) (*Net, error) {
	if m == nil || m.Proto.GetGraph() == nil {
		return nil, errors.New("lift: nil model")
	}
	g := m.Proto.GetGraph()
	b := &builder{m: m, g: g, o: o, opset: onnx.Opset(m.Proto), dir: m.Dir(), inits: map[string]*pb.TensorProto{},
		prod: map[string]int{}, isInput: map[string]bool{}, smallM: map[string]bool{}, static: map[string]*value{}}
	for _, t := range g.GetInitializer() {
		b.inits[t.GetName()] = t
	}
	for i, n := range g.GetNode() {
		for _, out := range n.GetOutput() {
			if out != "" {
				b.prod[out] = i
			}
		}
	}
	for _, v := range onnx.RealInputs(g) {
		b.isInput[v.GetName()] = true
	}
	output := o.Output
	if output == "" {
		if len(g.GetOutput()) == 0 {
			return nil, errors.New("lift: the model has no outputs")
		}
		output = g.GetOutput()[0].GetName()
	}
	if o.DropFinalResize {
		for {
			i, ok := b.prod[output]
			if !ok || (g.Node[i].GetOpType() != "Resize" && g.Node[i].GetOpType() != "Identity") || len(g.Node[i].GetInput()) == 0 {
				break
			}
			output = g.Node[i].GetInput()[0]
		}
	}
	var names []string
	for _, n := range onnx.TensorNames(g) {
		if _, ok := b.inits[n]; !ok {
			names = append(names, n)
		}
	}
	for _, t := range []struct{ what, name string }{{"from", from}, {"output", output}} {
		_, isNode := b.prod[t.name]
		if !isNode && !b.isInput[t.name] {
			near := onnx.Nearest(t.name, names, 5)
			return nil, fmt.Errorf("lift: %s tensor %q is not a graph input or node output; nearest names: %s", t.what, t.name, strings.Join(near, ", "))
		}
	}
	if from == output {
		return nil, fmt.Errorf("lift: from and output are both %q: nothing to lift; lift from a tensor the layers before it read", from)
	}
	// needed: the nodes the output needs.
	need, seen := b.reach(output)
	if !seen[from] {
		return nil, fmt.Errorf("lift: the output %q does not depend on %q, so nothing between them can be lifted; lift from a tensor the output is computed from", output, from)
	}
	// The frozen part is what computing from needs (onnx.Cut(m, from));
	// every other node the output needs is lifted, with the shape
	// subgraph that feeds it.
	anc := b.ancestors(from)
	incl := make([]bool, len(g.Node))
	var addSmall func(name string)
	addSmall = func(name string) {
		i, ok := b.prod[name]
		if !ok || incl[i] {
			return
		}
		incl[i] = true
		n := g.Node[i]
		if n.GetOpType() == "Shape" {
			return
		}
		for _, in := range n.GetInput() {
			if in != "" && b.isSmall(in) {
				addSmall(in)
			}
		}
	}
	for i, n := range g.Node {
		if !need[i] || anc[i] {
			continue
		}
		incl[i] = true
		for _, in := range n.GetInput() {
			if in != "" && b.isSmall(in) {
				addSmall(in)
			}
		}
	}
	// dep: the values the lifted nodes compute.
	dep := map[string]bool{}
	for i, n := range g.Node {
		if incl[i] {
			for _, out := range n.GetOutput() {
				dep[out] = true
			}
		}
	}
	// Refuse unsupported operators up front.
	for i, n := range g.Node {
		if !incl[i] {
			continue
		}
		if len(n.GetOutput()) == 0 || n.GetOutput()[0] == "" {
			return nil, fmt.Errorf("lift: node %s has no output", b.nodeLabel(i))
		}
		if n.GetOpType() != "Constant" && (len(n.GetInput()) == 0 || n.GetInput()[0] == "") {
			return nil, fmt.Errorf("lift: node %s has no first input", b.nodeLabel(i))
		}
		op := n.GetOpType()
		small := len(n.GetOutput()) > 0 && b.isSmall(n.GetOutput()[0])
		if (small && !smallOps[op]) || (!small && !floatOps[op]) || n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			return nil, b.unsupported(i, "operator not in the supported set", need, output)
		}
	}
	net := &Net{from: from, output: output, opset: b.opset, dir: b.dir, consts: map[string]*value{}, constT: map[string]*graph.Tensor{},
		inits: b.inits, inputGrad: o.InputGrad, threads: o.Threads, inputs: []string{from}}
	if ins := onnx.RealInputs(g); len(ins) > 0 {
		net.image = ins[0].GetName()
		net.imgC = 3
		if sh := ins[0].GetType().GetTensorType().GetShape(); sh != nil && len(sh.GetDim()) == 4 {
			if c := sh.GetDim()[1].GetDimValue(); c > 0 {
				net.imgC = int(c)
			}
			net.imgH, net.imgW = int(sh.GetDim()[2].GetDimValue()), int(sh.GetDim()[3].GetDimValue())
		}
	}
	if o.H > 0 && o.W > 0 {
		net.imgH, net.imgW = o.H, o.W
	}
	classifiers, cerr := b.classifiers(output, dep)
	reset := o.ResetClassifier
	if o.Classes > 0 && cerr == nil {
		for _, ci := range classifiers {
			if len(g.Node[ci].GetInput()) < 2 {
				continue
			}
			// The weight as the Conv reads it: an initializer, or one computed from
			// constants (a float16 initializer through Cast).
			w, err := b.staticValue(g.Node[ci].GetInput()[1])
			if err == nil && len(w.dims) > 0 && w.dims[0] != int64(o.Classes) {
				reset = true
			}
		}
	}
	if o.Classes < 0 {
		return nil, fmt.Errorf("lift: %d classes", o.Classes)
	}
	if (reset || o.Classes > 0) && cerr != nil {
		return nil, cerr
	}
	if o.Dropout != 0 && (!(o.Dropout > 0 && o.Dropout < 1) || cerr != nil) {
		if cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("lift: dropout %v outside (0, 1)", o.Dropout)
	}
	isScores := map[int]bool{}
	for _, ci := range classifiers {
		isScores[ci] = true
	}
	isClassifier := map[int]bool{}
	if reset {
		for _, ci := range classifiers {
			isClassifier[ci] = true
		}
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x11f7))
	// floatVal: the float values the net computes or receives.
	floatVal := map[string]bool{from: true}
	addInput := func(name string) {
		if !slices.Contains(net.inputs, name) {
			net.inputs = append(net.inputs, name)
		}
		floatVal[name] = true
	}
	// Float inputs from the frozen part become inputs of the net, in the
	// order the graph first reads them.
	for i, n := range g.Node {
		if !incl[i] || b.isSmall(n.GetOutput()[0]) {
			continue
		}
		for _, in := range n.GetInput() {
			if in != "" && !dep[in] && !b.isSmall(in) {
				addInput(in)
			}
		}
	}
	for i, n := range g.Node {
		if !incl[i] {
			continue
		}
		for k, out := range n.GetOutput() {
			if k > 0 && out != "" && seenUse(g, out, incl, output) {
				return nil, b.unsupported(i, fmt.Sprintf("its output %d (%q) is used", k, out), need, output)
			}
		}
		out := n.GetOutput()[0]
		if b.isSmall(out) {
			if n.GetOpType() == "Shape" {
				src := n.GetInput()[0]
				if !floatVal[src] && src != net.image {
					return nil, b.unsupported(i, fmt.Sprintf("it reads the shape of %q, a tensor of the frozen part", src), need, output)
				}
				if src == net.image && (net.imgH < 1 || net.imgW < 1) {
					return nil, fmt.Errorf("lift: node %s reads the size of the image input %q, which is not static: set Options.H and W", b.nodeLabel(i), src)
				}
			}
			net.nodes = append(net.nodes, &node{pn: n, kind: kSmall, out: out})
			continue
		}
		nd, err := b.build(i, net, floatVal, isClassifier[i], rng)
		if err != nil {
			return nil, err
		}
		if isScores[i] && o.Dropout > 0 {
			// Channel dropout in front of the classifier, as torchvision's
			// heads train (the exported graph lost it).
			in := nd.in[0]
			dout := in + "#dropout" + strconv.Itoa(i)
			pn := onnx.Node("Identity", n.GetName()+"#dropout", []string{in}, []string{dout})
			d := &node{pn: pn, kind: kLayer, layer: graph.NewDropout2d(o.Dropout, uint64(o.Seed)), in: []string{in}, out: dout, dropout: true}
			net.nodes = append(net.nodes, d)
			nd.in[0] = dout
			floatVal[dout] = true
		}
		floatVal[out] = true
		net.nodes = append(net.nodes, nd)
	}
	if !floatVal[output] {
		return nil, fmt.Errorf("lift: the output %q is not a float tensor of the tail", output)
	}
	// Parameter names are the model's initializer names, made unique
	// where two nodes read the same one.
	used := map[string]int{}
	for _, p := range append(append([]*graph.Param(nil), net.params...), net.bufs...) {
		if k := used[p.Name]; k > 0 {
			used[p.Name]++
			p.Name = fmt.Sprintf("%s.%d", p.Name, k)
		} else {
			used[p.Name] = 1
		}
	}
	net.plan()
	return net, nil
}

// ancestors marks the nodes that computing name needs.
func (b *builder) ancestors(name string) []bool {
	anc, _ := b.reach(name)
	return anc
}

// reach marks the nodes that computing name needs and returns them with
// the set of tensor names met on the way (name and every input of those
// nodes).
func (b *builder) reach(name string) (anc []bool, seen map[string]bool) {
	anc = make([]bool, len(b.g.Node))
	work := []string{name}
	seen = map[string]bool{name: true}
	for len(work) > 0 {
		v := work[len(work)-1]
		work = work[:len(work)-1]
		i, ok := b.prod[v]
		if !ok || anc[i] {
			continue
		}
		anc[i] = true
		for _, in := range b.g.Node[i].GetInput() {
			if in != "" && !seen[in] {
				seen[in] = true
				work = append(work, in)
			}
		}
	}
	return anc, seen
}

func nodeDepends(n *pb.NodeProto, dep map[string]bool) bool {
	for _, in := range n.GetInput() {
		if dep[in] {
			return true
		}
	}
	return false
}

// seenUse reports whether value name is read by an included node or is the
// output.
func seenUse(g *pb.GraphProto, name string, incl []bool, output string) bool {
	if name == output {
		return true
	}
	for i, n := range g.Node {
		if incl[i] && slices.Contains(n.GetInput(), name) {
			return true
		}
	}
	return false
}

// unsupported returns the error refusing node i and lists tensors from
// which lifting would work: float values computed at or after node i from
// which node i is part of the frozen side and every lifted node's operator
// is supported (judged by operator only).
func (b *builder) unsupported(i int, why string, need []bool, output string) error {
	g := b.g
	var cands []string
	for j := i; j < len(g.Node) && len(cands) < 5; j++ {
		if !need[j] {
			continue
		}
		for _, x := range g.Node[j].GetOutput() {
			if x == "" || x == output || b.isSmall(x) {
				continue
			}
			anc := b.ancestors(x)
			if !anc[i] {
				continue
			}
			ok := true
			for k, n := range g.Node {
				if need[k] && !anc[k] && !floatOps[n.GetOpType()] && !smallOps[n.GetOpType()] {
					ok = false
					break
				}
			}
			if ok {
				cands = append(cands, x)
			}
		}
	}
	if len(cands) == 0 {
		return fmt.Errorf("%w: node %s: %s; no tensor after it can be lifted from", ErrUnsupported, b.nodeLabel(i), why)
	}
	return fmt.Errorf("%w: node %s: %s; lifting would work from: %s", ErrUnsupported, b.nodeLabel(i), why, strings.Join(cands, ", "))
}

// classifiers returns the convolutions that produce the class scores: the
// last Conv before output through Resize, Identity and Dropout, on both
// branches of an Add.
func (b *builder) classifiers(output string, dep map[string]bool) ([]int, error) {
	var find func(name string) ([]int, error)
	find = func(name string) ([]int, error) {
		i, ok := b.prod[name]
		if !ok || !dep[name] {
			return nil, fmt.Errorf("lift: no Conv producing the class scores between the lifted input and %q", output)
		}
		n := b.g.Node[i]
		switch n.GetOpType() {
		case "Conv":
			return []int{i}, nil
		case "Resize", "Identity", "Dropout":
			if len(n.GetInput()) == 0 {
				break
			}
			return find(n.GetInput()[0])
		case "Add":
			if len(n.GetInput()) != 2 {
				break
			}
			var all []int
			for _, in := range n.GetInput() {
				if b.isSmall(in) {
					return nil, fmt.Errorf("lift: the class scores pass through %s, which adds a constant: the classifier cannot be replaced", b.nodeLabel(i))
				}
				c, err := find(in)
				if err != nil {
					return nil, err
				}
				all = append(all, c...)
			}
			return all, nil
		}
		return nil, fmt.Errorf("lift: the class scores come from %s, not a Conv: the classifier cannot be replaced", b.nodeLabel(i))
	}
	return find(output)
}

func pads4(n *pb.NodeProto, what string) ([4]int, error) {
	var p [4]int
	switch ap := attrString(n, "auto_pad", "NOTSET"); ap {
	case "NOTSET", "VALID", "":
	default:
		return p, fmt.Errorf("auto_pad %s", ap)
	}
	pads := attrInts(n, "pads")
	if pads == nil {
		return p, nil
	}
	if len(pads) != 4 {
		return p, fmt.Errorf("%d pads for a 2-D %s", len(pads), what)
	}
	// ONNX order: top, left, bottom, right.
	for k := range p {
		p[k] = int(pads[k])
	}
	return p, nil
}

func pair(v []int64, def int) (int, int, error) {
	switch len(v) {
	case 0:
		return def, def, nil
	case 2:
		return int(v[0]), int(v[1]), nil
	}
	return 0, 0, fmt.Errorf("%d values where 2 are needed (only 2-D is lifted)", len(v))
}

// strideDilation reads the strides and the dilations of a convolution or
// pooling node, 1 by default; an error names the attribute.
func strideDilation(n *pb.NodeProto) (sh, sw, dh, dw int, err error) {
	if sh, sw, err = pair(attrInts(n, "strides"), 1); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("strides: %w", err)
	}
	if dh, dw, err = pair(attrInts(n, "dilations"), 1); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("dilations: %w", err)
	}
	return sh, sw, dh, dw, nil
}

// tensor4 returns v as an NCHW tensor under right-aligned broadcasting.
func tensor4(v *value) (*graph.Tensor, error) {
	if len(v.dims) > 4 {
		return nil, fmt.Errorf("constant of rank %d", len(v.dims))
	}
	d := [4]int{1, 1, 1, 1}
	for k, x := range v.dims {
		d[4-len(v.dims)+k] = int(x)
	}
	t := graph.NewTensor(d[0], d[1], d[2], d[3])
	copy(t.Data, v.f32())
	return t, nil
}

// build turns included node i into a lifted node.
func (b *builder) build(i int, net *Net, floatVal map[string]bool, reset bool, rng *rand.Rand) (*node, error) {
	n := b.g.Node[i]
	op := n.GetOpType()
	in := n.GetInput()
	nd := &node{pn: n, out: n.GetOutput()[0]}
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: node %s: %s", ErrUnsupported, b.nodeLabel(i), fmt.Sprintf(format, args...))
	}
	if len(in) == 0 || (op != "Mul" && op != "Add" && !floatVal[in[0]]) {
		return nil, refuse("its first input is not a float tensor of the tail")
	}
	constF := func(name, what string) (*value, error) {
		v, err := b.staticValue(name)
		if err != nil {
			return nil, refuse("%s: %v", what, err)
		}
		if v.isInt {
			return nil, refuse("%s %q is not a float tensor", what, name)
		}
		return v, nil
	}
	nd.in = []string{in[0]}
	switch op {
	case "Identity", "Dropout":
		nd.kind = kAlias
	case "Relu":
		nd.kind, nd.layer = kLayer, &graph.ReLU{}
	case "Sigmoid":
		nd.kind, nd.layer = kLayer, &graph.Sigmoid{}
	case "HardSwish":
		nd.kind, nd.layer = kLayer, &graph.HardSwish{}
	case "HardSigmoid":
		nd.kind, nd.layer = kLayer, &graph.HardSigmoid{Alpha: attrFloat(n, "alpha", 0.2), Beta: attrFloat(n, "beta", 0.5)}
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if b.opset < 11 {
			lo, hi = attrFloat(n, "min", lo), attrFloat(n, "max", hi)
		} else {
			for k, p := range []*float32{&lo, &hi} {
				if len(in) > k+1 && in[k+1] != "" {
					v, err := constF(in[k+1], "clip bound")
					if err != nil {
						return nil, err
					}
					if len(v.v) != 1 {
						return nil, refuse("clip bound of %d values", len(v.v))
					}
					*p = float32(v.v[0])
				}
			}
		}
		nd.kind, nd.layer = kLayer, graph.NewClip(lo, hi)
	case "GlobalAveragePool":
		nd.kind, nd.layer = kLayer, &graph.GlobalAvgPool{}
	case "ReduceMean":
		axes := attrInts(n, "axes")
		if b.opset >= 18 && len(in) > 1 && in[1] != "" {
			v, err := b.staticValue(in[1])
			if err != nil {
				return nil, refuse("axes: %v", err)
			}
			axes = v.ints()
		}
		set := map[int64]bool{}
		for _, a := range axes {
			if a < 0 {
				a += 4
			}
			set[a] = true
		}
		if len(set) != 2 || !set[2] || !set[3] || attrInt(n, "keepdims", 1) != 1 {
			return nil, refuse("only a mean over H and W keeping the dimensions is lifted (axes %v, keepdims %d)", axes, attrInt(n, "keepdims", 1))
		}
		nd.kind, nd.layer = kLayer, &graph.GlobalAvgPool{}
	case "AveragePool", "MaxPool":
		kh, kw, err := pair(attrInts(n, "kernel_shape"), 0)
		if err != nil || kh < 1 {
			return nil, refuse("kernel_shape %v", attrInts(n, "kernel_shape"))
		}
		sh, sw, dh, dw, err := strideDilation(n)
		if err != nil {
			return nil, refuse("%v", err)
		}
		p, err := pads4(n, op)
		if err != nil {
			return nil, refuse("%v", err)
		}
		s := graph.PoolSpec{KH: kh, KW: kw, StrideH: sh, StrideW: sw, PadT: p[0], PadL: p[1], PadB: p[2], PadR: p[3],
			DilH: dh, DilW: dw, CeilMode: attrInt(n, "ceil_mode", 0) != 0, CountIncludePad: attrInt(n, "count_include_pad", 0) != 0}
		if op == "AveragePool" {
			if dh != 1 || dw != 1 {
				return nil, refuse("dilated average pooling")
			}
			nd.layer = &graph.AvgPool2d{Spec: s}
		} else {
			nd.layer = &graph.MaxPool2d{Spec: s}
		}
		nd.kind = kLayer
	case "Mul", "Add":
		if len(in) != 2 {
			return nil, refuse("%d inputs", len(in))
		}
		nd.in = nil
		for _, x := range in {
			if !floatVal[x] {
				v, err := constF(x, "operand")
				if err != nil {
					return nil, err
				}
				t, err := tensor4(v)
				if err != nil {
					return nil, refuse("%v", err)
				}
				net.constT[x] = t
			}
			nd.in = append(nd.in, x)
		}
		nd.kind = kMulti
		if op == "Mul" {
			nd.multi = &graph.Mul{}
		} else {
			nd.multi = &graph.Add{}
		}
	case "Concat":
		if ax := attrInt(n, "axis", 1); ax != 1 && ax != -3 {
			return nil, refuse("concatenation along axis %d (only channels are lifted)", ax)
		}
		nd.in = nil
		for _, x := range in {
			if !floatVal[x] {
				return nil, refuse("input %q is not a float tensor of the tail", x)
			}
			nd.in = append(nd.in, x)
		}
		nd.kind, nd.multi = kMulti, &graph.Concat{}
	case "BatchNormalization":
		if attrInt(n, "training_mode", 0) != 0 || attrInt(n, "spatial", 1) != 1 {
			return nil, refuse("training_mode or non-spatial batch norm")
		}
		if len(in) < 5 {
			return nil, refuse("%d inputs", len(in))
		}
		var vs [4]*value
		for k := range vs {
			v, err := constF(in[k+1], "batch-norm parameter")
			if err != nil {
				return nil, err
			}
			vs[k] = v
		}
		c := len(vs[0].v)
		for _, v := range vs {
			if len(v.v) != c {
				return nil, refuse("batch-norm parameters of different sizes")
			}
		}
		bn := graph.NewBatchNorm2d(nd.out, c)
		bn.Eps = float64(attrFloat(n, "epsilon", 1e-5))
		bn.Momentum = 1 - float64(attrFloat(n, "momentum", 0.9))
		bn.Threads = b.o.Threads
		for k, p := range []*graph.Param{bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar} {
			copy(p.Data, vs[k].f32())
			p.Name = in[k+1]
		}
		nd.kind, nd.layer, nd.bn, nd.frozen = kLayer, bn, bn, b.o.FreezeBN
		if !nd.frozen {
			net.params = append(net.params, bn.Weight, bn.Bias)
		}
		net.bufs = append(net.bufs, bn.RunningMean, bn.RunningVar)
	case "Conv":
		if len(in) < 2 {
			return nil, refuse("no weight")
		}
		w, err := constF(in[1], "weight")
		if err != nil {
			return nil, err
		}
		if len(w.dims) != 4 {
			return nil, refuse("a weight of rank %d (only 2-D convolutions are lifted)", len(w.dims))
		}
		var bias *value
		if len(in) > 2 && in[2] != "" {
			if bias, err = constF(in[2], "bias"); err != nil {
				return nil, err
			}
		}
		groups := int(attrInt(n, "group", 1))
		kh, kw := int(w.dims[2]), int(w.dims[3])
		if ks := attrInts(n, "kernel_shape"); ks != nil && (len(ks) != 2 || int(ks[0]) != kh || int(ks[1]) != kw) {
			return nil, refuse("kernel_shape %v for a weight of shape %v", ks, w.dims)
		}
		sh, sw, dh, dw, err := strideDilation(n)
		if err != nil {
			return nil, refuse("%v", err)
		}
		p, err := pads4(n, "convolution")
		if err != nil {
			return nil, refuse("%v", err)
		}
		outC := int(w.dims[0])
		if reset {
			if b.o.Classes > 0 {
				outC = b.o.Classes
			}
		}
		s := graph.ConvSpec{InC: int(w.dims[1]) * groups, OutC: outC, Groups: groups, KH: kh, KW: kw, StrideH: sh, StrideW: sw,
			PadT: p[0], PadL: p[1], PadB: p[2], PadR: p[3], DilH: dh, DilW: dw, Bias: bias != nil}
		if groups < 1 || s.InC%groups != 0 || outC%groups != 0 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || min(p[0], p[1], p[2], p[3]) < 0 {
			return nil, refuse("bad geometry %+v", s)
		}
		c := graph.NewGConv2d(nd.out, s)
		c.Threads = b.o.Threads
		c.Weight.Name = in[1]
		if c.Bias != nil {
			c.Bias.Name = in[2]
		}
		if reset {
			std := math.Sqrt(2 / float64(int(w.dims[1])*kh*kw))
			for k := range c.Weight.Data {
				c.Weight.Data[k] = float32(rng.NormFloat64() * std)
			}
			nd.classifier = true
		} else {
			if len(w.v) != len(c.Weight.Data) || (bias != nil && len(bias.v) != s.OutC) {
				return nil, refuse("weight of shape %v and %d biases", w.dims, len(bias.v))
			}
			copy(c.Weight.Data, w.f32())
			if bias != nil {
				copy(c.Bias.Data, bias.f32())
			}
		}
		nd.kind, nd.layer, nd.conv = kLayer, c, c
		net.params = append(net.params, c.Params()...)
	case "Resize":
		mode := attrString(n, "mode", "nearest")
		coord := attrString(n, "coordinate_transformation_mode", "half_pixel")
		if b.opset < 11 {
			coord = "asymmetric"
		}
		if mode != "nearest" && mode != "linear" {
			return nil, refuse("mode %q (linear and nearest are lifted)", mode)
		}
		if !slices.Contains(graph.InterpModes, coord) {
			return nil, refuse("coordinate_transformation_mode %q (lifted: %s)", coord, strings.Join(graph.InterpModes, ", "))
		}
		if attrInt(n, "antialias", 0) != 0 {
			return nil, refuse("antialiased resize")
		}
		if p := attrString(n, "keep_aspect_ratio_policy", "stretch"); p != "stretch" {
			return nil, refuse("keep_aspect_ratio_policy %q", p)
		}
		if ax := attrInts(n, "axes"); ax != nil && !slices.Equal(ax, []int64{2, 3}) && !slices.Equal(ax, []int64{-2, -1}) {
			return nil, refuse("axes %v", ax)
		}
		nm := attrString(n, "nearest_mode", "round_prefer_floor")
		switch nm {
		case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
		default:
			return nil, refuse("nearest_mode %q", nm)
		}
		if b.opset < 11 {
			if len(in) > 1 {
				nd.scales = in[1]
			}
		} else {
			if len(in) > 2 {
				nd.scales = in[2]
			}
			if len(in) > 3 {
				nd.sizes = in[3]
			}
		}
		if nd.scales == "" && nd.sizes == "" {
			return nil, refuse("neither scales nor sizes")
		}
		nd.interp = &graph.Interp{Linear: mode == "linear", Coord: coord, NearestMode: nm, Threads: b.o.Threads}
		nd.kind, nd.layer = kResize, nd.interp
	default:
		return nil, refuse("operator not in the supported set")
	}
	return nd, nil
}

// plan decides which gradients flow: a value wants a gradient when it is
// the first input and InputGrad is set, or when a node with parameters or
// an input that wants one produces it.
func (net *Net) plan() {
	want := map[string]bool{net.from: net.inputGrad}
	for _, nd := range net.nodes {
		if nd.kind == kSmall {
			continue
		}
		nd.pass = make([]bool, len(nd.in))
		any := nd.layer != nil && len(nd.layer.Params()) > 0 && !nd.frozen
		for k, x := range nd.in {
			nd.pass[k] = want[x]
			any = any || want[x]
		}
		nd.run = any
		want[nd.out] = any
		if nd.conv != nil {
			nd.conv.SkipInputGrad = !nd.pass[0]
		}
	}
}

// Inputs returns the names of the frozen tensors the net reads, in the
// order ForwardInputs takes them: the tensor it was lifted from first.
func (net *Net) Inputs() []string { return append([]string(nil), net.inputs...) }

// Output returns the name of the tensor the net computes.
func (net *Net) Output() string { return net.output }

// SetImageSize sets the image size h x w the shape subgraph reads when the
// tail uses the size of the model's image input (see Options.H).
func (net *Net) SetImageSize(h, w int) { net.imgH, net.imgW = h, w }

// SetThreads sets the goroutine count of the convolutions and batch norms.
func (net *Net) SetThreads(n int) {
	net.threads = n
	for _, nd := range net.nodes {
		if nd.conv != nil {
			nd.conv.Threads = n
		}
		if nd.bn != nil {
			nd.bn.Threads = n
		}
		if nd.interp != nil {
			nd.interp.Threads = n
		}
	}
}

// Params returns the trainable parameters in node order, named after the
// model's initializers.
func (net *Net) Params() []*graph.Param { return net.params }

// Buffers returns the batch-norm running means and variances.
func (net *Net) Buffers() []*graph.Param { return net.bufs }

// ZeroGrad sets every parameter gradient to zero.
func (net *Net) ZeroGrad() {
	for _, p := range net.params {
		clear(p.Grad)
	}
}

// Forward is ForwardInputs for a net with one input. It panics when the
// net has more inputs.
func (net *Net) Forward(x *graph.Tensor, train bool) *graph.Tensor {
	if len(net.inputs) != 1 {
		panic(fmt.Sprintf("lift: Forward on a net with %d inputs (%s): use ForwardInputs", len(net.inputs), strings.Join(net.inputs, ", ")))
	}
	return net.ForwardInputs([]*graph.Tensor{x}, train)
}

// ForwardInputs runs the net on the frozen tensors xs, given in the order
// of Inputs. In training mode batch norms use batch statistics and update
// their running ones (unless Options.FreezeBN). It panics on a wrong
// number of inputs or shapes the layers refuse.
func (net *Net) ForwardInputs(xs []*graph.Tensor, train bool) *graph.Tensor {
	if len(xs) != len(net.inputs) {
		panic(fmt.Sprintf("lift: %d inputs given, the net reads %d (%s)", len(xs), len(net.inputs), strings.Join(net.inputs, ", ")))
	}
	net.vals = map[string]*graph.Tensor{}
	net.small = map[string]*value{}
	for k, name := range net.inputs {
		net.vals[name] = xs[k]
	}
	for _, nd := range net.nodes {
		if err := net.step(nd, xs[0].N, train); err != nil {
			panic(err.Error())
		}
	}
	net.ran = true
	return net.vals[net.output]
}

// smallValue returns the small value of name: computed in this pass or a
// constant.
func (net *Net) smallValue(name string) (*value, error) {
	if name == "" {
		return nil, nil
	}
	if v, ok := net.small[name]; ok {
		return v, nil
	}
	if v, ok, err := cachedInit(net.consts, net.inits, net.dir, name); ok {
		return v, err
	}
	return nil, fmt.Errorf("lift: small value %q missing", name)
}

func (net *Net) floatValue(name string) *graph.Tensor {
	if t, ok := net.vals[name]; ok {
		return t
	}
	if t, ok := net.constT[name]; ok {
		return t
	}
	panic(fmt.Sprintf("lift: tensor %q missing", name))
}

func (net *Net) step(nd *node, batch int, train bool) error {
	switch nd.kind {
	case kSmall:
		n := nd.pn
		if n.GetOpType() == "Shape" {
			src := n.GetInput()[0]
			var dims []int64
			if t, ok := net.vals[src]; ok {
				dims = []int64{int64(t.N), int64(t.C), int64(t.H), int64(t.W)}
			} else {
				dims = []int64{int64(batch), int64(net.imgC), int64(net.imgH), int64(net.imgW)}
			}
			net.small[nd.out] = shapeValue(n, dims)
			return nil
		}
		ins := make([]*value, len(n.GetInput()))
		for k, in := range n.GetInput() {
			v, err := net.smallValue(in)
			if err != nil {
				return err
			}
			ins[k] = v
		}
		v, err := evalSmall(n, ins, net.opset, net.dir)
		if err != nil {
			return err
		}
		net.small[nd.out] = v
	case kAlias:
		net.vals[nd.out] = net.floatValue(nd.in[0])
	case kLayer:
		net.vals[nd.out] = nd.layer.Forward(net.floatValue(nd.in[0]), train && !nd.frozen)
	case kMulti:
		xs := make([]*graph.Tensor, len(nd.in))
		for k, x := range nd.in {
			xs[k] = net.floatValue(x)
		}
		net.vals[nd.out] = nd.multi.ForwardN(xs, train)
	case kResize:
		x := net.floatValue(nd.in[0])
		h, w, sh, sw, err := net.resizeSize(nd, x)
		if err != nil {
			return err
		}
		nd.interp.H, nd.interp.W, nd.interp.ScaleH, nd.interp.ScaleW = h, w, sh, sw
		net.vals[nd.out] = nd.interp.Forward(x, train)
	}
	return nil
}

// resizeSize returns the output size of a Resize and the scales its
// coordinate transformation uses (0 when sizes are given).
func (net *Net) resizeSize(nd *node, x *graph.Tensor) (h, w int, sh, sw float64, err error) {
	name := nd.pn.GetName()
	scales, err := net.smallValue(nd.scales)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if scales != nil && len(scales.v) > 0 {
		s := scales.v
		if len(s) == 4 {
			if s[0] != 1 || s[1] != 1 {
				return 0, 0, 0, 0, fmt.Errorf("lift: resize %q scales the batch or channels (%v)", name, s)
			}
			s = s[2:]
		}
		if len(s) != 2 || !(s[0] > 0) || !(s[1] > 0) {
			return 0, 0, 0, 0, fmt.Errorf("lift: resize %q: scales %v", name, scales.v)
		}
		// ONNX: output size floor(input size * scale), in float32 as
		// onnxruntime computes it.
		h = int(float32(x.H) * float32(s[0]))
		w = int(float32(x.W) * float32(s[1]))
		return h, w, s[0], s[1], nil
	}
	sizes, err := net.smallValue(nd.sizes)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if sizes == nil || (len(sizes.v) != 4 && len(sizes.v) != 2) {
		return 0, 0, 0, 0, fmt.Errorf("lift: resize %q: no usable scales or sizes", name)
	}
	s := sizes.v[len(sizes.v)-2:]
	// The batch and channel entries of sizes are ignored: they follow the
	// input (the class count may have changed).
	return int(s[0]), int(s[1]), 0, 0, nil
}

// Backward propagates the gradient dy of the output of the last
// ForwardInputs through every lifted layer, accumulating the parameter
// gradients (gradients of a tensor read by several nodes are summed). It
// returns the gradient with respect to the first input when
// Options.InputGrad was set, else nil.
func (net *Net) Backward(dy *graph.Tensor) *graph.Tensor {
	if !net.ran {
		panic("lift: Backward before Forward")
	}
	grads := map[string]*graph.Tensor{net.output: dy}
	acc := func(name string, g *graph.Tensor) {
		if g == nil {
			return
		}
		old, ok := grads[name]
		if !ok {
			grads[name] = g
			return
		}
		if !old.SameShape(g) {
			panic(fmt.Sprintf("lift: gradient of %q: shapes differ", name))
		}
		sum := old.Clone()
		for k, v := range g.Data {
			sum.Data[k] += v
		}
		grads[name] = sum
	}
	for k := len(net.nodes) - 1; k >= 0; k-- {
		nd := net.nodes[k]
		if nd.kind == kSmall || !nd.run {
			continue
		}
		g := grads[nd.out]
		if g == nil {
			continue
		}
		switch nd.kind {
		case kAlias:
			if nd.pass[0] {
				acc(nd.in[0], g)
			}
		case kLayer, kResize:
			dx := nd.layer.Backward(g)
			if nd.pass[0] {
				acc(nd.in[0], dx)
			}
		case kMulti:
			dxs := nd.multi.BackwardN(g)
			for i, x := range nd.in {
				if nd.pass[i] {
					acc(x, dxs[i])
				}
			}
		}
	}
	if net.inputGrad {
		return grads[net.from]
	}
	return nil
}

// CheckTrainShape reports whether a training forward pass over a batch of
// n works: a batch norm in training mode needs more than one value per
// channel, and one after a global pooling (torchvision's ASPP pooling
// branch) sees only n. It returns an error naming the batch norm when n
// is too small; larger spatial sizes are assumed to give enough values.
func (net *Net) CheckTrainShape(n int) error {
	if n < 1 {
		return fmt.Errorf("lift: a training batch of %d", n)
	}
	pooled := map[string]bool{}
	for _, nd := range net.nodes {
		if nd.kind == kSmall {
			continue
		}
		p := len(nd.in) > 0
		for _, in := range nd.in {
			if _, isConst := net.constT[in]; !isConst {
				p = p && pooled[in]
			}
		}
		switch l := nd.layer.(type) {
		case *graph.GlobalAvgPool:
			p = true
		case *graph.BatchNorm2d:
			if p && n < 2 && !nd.frozen {
				return fmt.Errorf("lift: batch norm %q follows a global pooling: in training it needs a batch of 2 or more, not %d (or Options.FreezeBN)", l.Weight.Name, n)
			}
		case *graph.Interp:
			p = false
		case *graph.GConv2d:
			s := l.Spec
			p = p && s.KH == 1 && s.KW == 1 && s.PadT+s.PadL+s.PadB+s.PadR == 0
		}
		pooled[nd.out] = p
	}
	return nil
}

// SetDropoutSeed restarts the generators of the dropouts Options.Dropout
// added, so that a resumed run draws the same masks.
func (net *Net) SetDropoutSeed(seed uint64) {
	for _, nd := range net.nodes {
		if nd.dropout {
			nd.layer = graph.NewDropout2d(nd.layer.(*graph.Dropout2d).P, seed)
		}
	}
}

// Describe returns a one-line summary of the net: its inputs, output,
// number of lifted nodes by kind and of parameter values.
func (net *Net) Describe() string {
	layers, small := 0, 0
	for _, nd := range net.nodes {
		if nd.kind == kSmall {
			small++
		} else {
			layers++
		}
	}
	values := 0
	for _, p := range net.params {
		values += len(p.Data)
	}
	var reset []string
	for _, nd := range net.nodes {
		if nd.classifier {
			reset = append(reset, nd.conv.Weight.Name)
		}
	}
	s := fmt.Sprintf("lifted %d nodes (%d shape nodes) from %s to %s; %d parameter tensors, %d values",
		layers, small, strings.Join(net.inputs, " + "), net.output, len(net.params), values)
	if len(reset) > 0 {
		s += "; new classifier " + strings.Join(reset, ", ")
	}
	return s
}

// CheckInputs reports whether xs can be passed to ForwardInputs: one
// tensor per input, of equal batch size, and with the channel count of
// every convolution or batch norm that reads an input directly. It returns
// an error naming the input otherwise. Sizes too small for a kernel are
// not checked.
func (net *Net) CheckInputs(xs []*graph.Tensor) error {
	if len(xs) != len(net.inputs) {
		return fmt.Errorf("lift: %d inputs given, the net reads %d (%s)", len(xs), len(net.inputs), strings.Join(net.inputs, ", "))
	}
	idx := map[string]int{}
	for k, name := range net.inputs {
		idx[name] = k
		if xs[k] == nil || len(xs[k].Data) != xs[k].Len() || xs[k].Len() == 0 {
			return fmt.Errorf("lift: input %q is empty or inconsistent", name)
		}
		if xs[k].N != xs[0].N {
			return fmt.Errorf("lift: input %q holds %d images, %q %d", name, xs[k].N, net.inputs[0], xs[0].N)
		}
	}
	for _, nd := range net.nodes {
		for _, in := range nd.in {
			k, ok := idx[in]
			if !ok {
				continue
			}
			want := 0
			switch l := nd.layer.(type) {
			case *graph.GConv2d:
				want = l.Spec.InC
			case *graph.BatchNorm2d:
				want = l.C
			}
			if want > 0 && xs[k].C != want {
				return fmt.Errorf("lift: input %q has %d channels, node %q reads %d", in, xs[k].C, nd.pn.GetName(), want)
			}
		}
	}
	return nil
}
