package infer

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// Output kinds an OutputPlan decides between.
const (
	// KindScores is per-class scores (logits or probabilities): the class is their argmax.
	KindScores = "scores"
	// KindBinary is one channel holding a foreground probability (after a Sigmoid) or logit:
	// the pixel is foreground (class 1) where the value exceeds the threshold, else
	// background (class 0).
	KindBinary = "binary"
	// KindLabels is a label map of class indices.
	KindLabels = "labels"
)

// Output layouts.
const (
	LayoutNCHW = "nchw" // [N, C, H, W]: the class axis is 1
	LayoutNHWC = "nhwc" // [N, H, W, C]: the class axis is 3 (TensorFlow, tf2onnx)
)

// OutputOptions override what the output adapter decides from the model (the flags --output,
// --output-layout and --binary-threshold).
type OutputOptions struct {
	// Name picks the model output to use; "" lets the adapter choose.
	Name string
	// Layout is "nchw" or "nhwc" for a rank-4 output; "" decides from the model.
	Layout string
	// Threshold, when ThresholdSet, replaces the binary threshold (0.5 for a Sigmoid
	// probability, 0 for a logit).
	Threshold    float64
	ThresholdSet bool
}

// Validate checks the options' values.
func (o OutputOptions) Validate() error {
	switch o.Layout {
	case "", LayoutNCHW, LayoutNHWC:
	default:
		return fmt.Errorf("infer: --output-layout %q: want nchw or nhwc", o.Layout)
	}
	if o.ThresholdSet && (math.IsNaN(o.Threshold) || math.IsInf(o.Threshold, 0)) {
		return fmt.Errorf("infer: --binary-threshold %v: want a finite number", o.Threshold)
	}
	return nil
}

// OutputPlan is what the output adapter decided about one model output from its declaration
// (rank, element type, static and symbolic sizes), the nodes producing it and the model's
// metadata, and why.
type OutputPlan struct {
	Name     string   `json:"name"`
	Elem     string   `json:"elem_type,omitempty"` // declared element type, "" when not declared
	Shape    []string `json:"shape"`               // declared dims: size, symbolic name or "?"; nil when the rank is unknown
	Producer string   `json:"producer,omitempty"`  // op type of the node producing it
	// Kind is KindScores, KindBinary or KindLabels; "" when the output cannot be read as a
	// segmentation (Err says why).
	Kind string `json:"kind,omitempty"`
	// Layout is LayoutNCHW or LayoutNHWC for a rank-4 output, "" for rank 3 or when it is
	// decided from the shape of the first result.
	Layout string `json:"layout,omitempty"`
	// Classes is the class count when known before running (2 for a binary output), else 0.
	Classes int `json:"classes,omitempty"`
	// Sigmoid says a binary output is a probability; Threshold is the foreground threshold.
	Sigmoid   bool    `json:"sigmoid,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// Why lists the evidence for the decisions.
	Why []string `json:"why,omitempty"`
	// Err says why the output cannot be used, or that a choice needs a flag.
	Err error `json:"-"`
	// Error is Err's message, for JSON.
	Error string `json:"error,omitempty"`

	// decided at plan time from the graph: used when the layout is left to the first result
	rank     int    // declared rank, 0 unknown
	inputHW  [2]int // static input size, 0 when dynamic
	metaK    int    // class count from metadata, 0 unknown
	knownInt bool   // declared integer element type
}

// String describes the plan in one line.
func (p OutputPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", p.Name, shapeText(p.Shape))
	if p.Elem != "" {
		fmt.Fprintf(&b, " %s", p.Elem)
	}
	if p.Producer != "" {
		fmt.Fprintf(&b, " from %s", p.Producer)
	}
	b.WriteString(": ")
	if p.Err != nil {
		b.WriteString(p.Err.Error())
		return b.String()
	}
	switch p.Kind {
	case KindBinary:
		what := "logit"
		if p.Sigmoid {
			what = "probability"
		}
		fmt.Fprintf(&b, "binary %s, foreground where > %g", what, p.Threshold)
	case KindScores:
		b.WriteString("class scores")
		if p.Classes > 0 {
			fmt.Fprintf(&b, ", %d classes", p.Classes)
		}
	case KindLabels:
		b.WriteString("label map")
	}
	if p.Layout != "" {
		fmt.Fprintf(&b, ", %s", strings.ToUpper(p.Layout))
	} else if p.rank != 3 && p.Kind != "" {
		b.WriteString(", layout from the first result")
	}
	if len(p.Why) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(p.Why, "; "))
	}
	return b.String()
}

func shapeText(s []string) string {
	if s == nil {
		return "[rank unknown]"
	}
	return "[" + strings.Join(s, " ") + "]"
}

// PlanOutputs decides, for every graph output of m, how it would be read as a segmentation
// output. md (may be nil) supplies the class count and lmpseg's output kind.
func PlanOutputs(m *onnx.Model, md *Metadata, o OutputOptions) []OutputPlan {
	g := m.Proto.GetGraph()
	pr := newProducers(g, onnx.Opset(m.Proto))
	in := inputInfo(g)
	var plans []OutputPlan
	for _, v := range g.GetOutput() {
		plans = append(plans, planOutput(v, pr, in, md, o))
	}
	return plans
}

// ChooseOutput picks the plan of the segmentation output among plans: the one o.Name names,
// the only one, or the only one left when the outputs named aux... (auxiliary heads) and those
// that cannot be read are set aside. It returns the plan and why it was chosen; where it cannot
// choose, the error names --output.
func ChooseOutput(plans []OutputPlan, o OutputOptions) (OutputPlan, string, error) {
	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = p.Name
	}
	list := func(ps []OutputPlan) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.Name + " " + shapeText(p.Shape)
		}
		return strings.Join(s, ", ")
	}
	pick := func(p OutputPlan, why string) (OutputPlan, string, error) {
		if p.Err != nil {
			return p, why, fmt.Errorf("infer: output %s: %w", p.Name, p.Err)
		}
		return p, why, nil
	}
	if len(plans) == 0 {
		return OutputPlan{}, "", errors.New("infer: the model has no outputs")
	}
	if o.Name != "" {
		for _, p := range plans {
			if p.Name == o.Name {
				return pick(p, "named by --output")
			}
		}
		return OutputPlan{}, "", fmt.Errorf("infer: --output %q: the model's outputs are %s", o.Name, strings.Join(names, ", "))
	}
	if len(plans) == 1 {
		return pick(plans[0], "the model's only output")
	}
	var usable, main []OutputPlan
	for _, p := range plans {
		if p.Err == nil {
			usable = append(usable, p)
			if !auxName(p.Name) {
				main = append(main, p)
			}
		}
	}
	switch {
	case len(usable) == 1:
		return pick(usable[0], "the only output that reads as a segmentation")
	case len(main) == 1:
		return pick(main[0], "the other outputs are named as auxiliary")
	case len(usable) == 0:
		return OutputPlan{}, "", fmt.Errorf("infer: no output of the model reads as a segmentation (%s); give --output NAME, with --output-layout if needed", list(plans))
	}
	return OutputPlan{}, "", fmt.Errorf("infer: the model has %d outputs that could be the segmentation (%s); give --output NAME to pick one", len(usable), list(usable))
}

var auxRe = regexp.MustCompile(`(?i)(^|[^a-z])aux`)

// auxName reports whether an output's name marks an auxiliary head (aux, aux_out, seg_aux1).
func auxName(name string) bool { return auxRe.MatchString(name) }

// producers indexes a graph's nodes by the tensors they produce.
type producers struct {
	node  map[string]*pb.NodeProto
	init  map[string]bool
	opset int64
}

func newProducers(g *pb.GraphProto, opset int64) *producers {
	p := &producers{node: map[string]*pb.NodeProto{}, init: map[string]bool{}, opset: opset}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			p.node[o] = n
		}
	}
	for _, t := range g.GetInitializer() {
		p.init[t.GetName()] = true
	}
	return p
}

// chain is what walking back from an output through axis-preserving nodes found.
type chain struct {
	classAxis int    // axis of the output holding the classes, -1 unknown
	anchor    string // the node that fixed classAxis, for the reasons
	sigmoid   bool   // a Sigmoid on the way (before the anchor or any node that mixes values)
	argmax    bool   // an ArgMax on the way
}

// passThrough are ops whose first non-constant input has the axes of the output.
var passThrough = map[string]bool{
	"Identity": true, "Cast": true, "Resize": true, "Upsample": true, "Relu": true, "LeakyRelu": true,
	"Clip": true, "Tanh": true, "Add": true, "Sub": true, "Mul": true, "Div": true, "Dropout": true,
	"QuantizeLinear": true, "DequantizeLinear": true, "Slice": true, "Concat": true, "Pad": true,
	"Neg": true, "Exp": true, "Log": true, "Abs": true, "Where": true, "Sigmoid": true, "HardSigmoid": true,
}

// channelFirst are ops whose output is NCHW by the ONNX definition: axis 1 is the channel axis.
var channelFirst = map[string]bool{
	"Conv": true, "ConvTranspose": true, "ConvInteger": true, "QLinearConv": true, "BatchNormalization": true,
	"InstanceNormalization": true, "MaxPool": true, "AveragePool": true, "LpPool": true,
	"GlobalAveragePool": true, "GlobalMaxPool": true, "DepthToSpace": true, "SpaceToDepth": true,
}

func intAttr(n *pb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

func intsAttr(n *pb.NodeProto, name string) []int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetInts()
		}
	}
	return nil
}

// walk follows tensor name (of rank rank, 0 unknown) back through axis-preserving nodes to one
// that fixes the class axis: a Conv-like node (axis 1), a Softmax, LogSoftmax or ArgMax (its
// axis), composing the Transposes met on the way.
func (p *producers) walk(name string, rank int) chain {
	c := chain{classAxis: -1}
	// perms[i] maps axes of the tensor after Transpose i (outermost last) to its input.
	var perms [][]int64
	axisAtOutput := func(a int) int {
		for i := len(perms) - 1; i >= 0; i-- {
			j := slices.Index(perms[i], int64(a))
			if j < 0 {
				return -1
			}
			a = j
		}
		return a
	}
	for steps := 0; steps < 64; steps++ {
		n := p.node[name]
		if n == nil {
			return c
		}
		op := n.GetOpType()
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			return c
		}
		switch {
		case op == "Softmax" || op == "LogSoftmax" || op == "ArgMax":
			def := int64(1)
			if op == "ArgMax" {
				def = 0
			} else if p.opset >= 13 {
				def = -1
			}
			a := intAttr(n, "axis", def)
			r := rank
			if op == "ArgMax" && intAttr(n, "keepdims", 1) == 0 && r > 0 {
				r++
			}
			if a < 0 {
				if r == 0 {
					return c
				}
				a += int64(r)
			}
			c.argmax = op == "ArgMax"
			if op == "ArgMax" && intAttr(n, "keepdims", 1) == 0 {
				return c // the class axis is gone
			}
			c.classAxis, c.anchor = axisAtOutput(int(a)), fmt.Sprintf("%s over axis %d", op, a)
			return c
		case channelFirst[op]:
			c.classAxis, c.anchor = axisAtOutput(1), op+" output (NCHW by definition)"
			if len(perms) > 0 {
				c.anchor += " then Transpose"
			}
			return c
		case op == "Transpose":
			perm := intsAttr(n, "perm")
			if perm == nil {
				return c
			}
			perms = append(perms, perm)
		case op == "Sigmoid" || op == "HardSigmoid":
			c.sigmoid = true
		case passThrough[op]:
		default:
			return c
		}
		// Follow the first input that a node computes (not a constant operand).
		next := ""
		for _, in := range n.GetInput() {
			if _, isNode := p.node[in]; isNode && in != "" && !p.init[in] {
				next = in
				break
			}
		}
		if next == "" {
			return c
		}
		name = next
	}
	return c
}

// inputDims is the declared image input: its dim names by role.
type inputDims struct {
	hw    [2]int    // static H and W, 0 when dynamic
	names [2]string // symbolic names of H and W
}

func inputInfo(g *pb.GraphProto) inputDims {
	var d inputDims
	ins := onnx.RealInputs(g)
	if len(ins) == 0 {
		return d
	}
	dims := ins[0].GetType().GetTensorType().GetShape().GetDim()
	if len(dims) != 4 {
		return d
	}
	h, w := 2, 3
	small := func(x *pb.TensorShapeProto_Dimension) bool { return x.GetDimValue() > 0 && x.GetDimValue() <= 4 }
	if small(dims[3]) && !small(dims[1]) {
		h, w = 1, 2
	}
	d.hw = [2]int{int(dims[h].GetDimValue()), int(dims[w].GetDimValue())}
	d.names = [2]string{dims[h].GetDimParam(), dims[w].GetDimParam()}
	return d
}

// StaticInputHW returns the model's image input H and W when both are fixed numbers (of an
// NCHW input, or of an NHWC one: [N, H, W, C] with a static C of at most 4).
func StaticInputHW(m *onnx.Model) [2]int {
	d := inputInfo(m.Proto.GetGraph())
	if d.hw[0] > 0 && d.hw[1] > 0 {
		return d.hw
	}
	return [2]int{}
}

var classDimRe = regexp.MustCompile(`(?i)^(num_?|n_?)?(class(es)?|cls|labels|categories|k)$`)

// elemName names an element type as onnx.ElemTypeName does, but an
// undefined type as "".
func elemName(t int32) string {
	if pb.TensorProto_DataType(t) == pb.TensorProto_UNDEFINED {
		return ""
	}
	return onnx.ElemTypeName(t)
}

// planOutput decides about one graph output.
func planOutput(v *pb.ValueInfoProto, pr *producers, in inputDims, md *Metadata, o OutputOptions) (p OutputPlan) {
	tt := v.GetType().GetTensorType()
	p = OutputPlan{Name: v.GetName(), Elem: elemName(tt.GetElemType()), inputHW: in.hw, knownInt: onnx.IntElemType(tt.GetElemType())}
	if md != nil {
		p.metaK = len(md.Classes)
	}
	if n := pr.node[p.Name]; n != nil {
		p.Producer = n.GetOpType()
	}
	var dims []*pb.TensorShapeProto_Dimension
	if sh := tt.GetShape(); sh != nil {
		dims = sh.GetDim()
		p.rank = len(dims)
		p.Shape = make([]string, len(dims))
		for i, d := range dims {
			switch {
			case d.GetDimValue() > 0:
				p.Shape[i] = strconv.FormatInt(d.GetDimValue(), 10)
			case d.GetDimParam() != "":
				p.Shape[i] = d.GetDimParam()
			default:
				p.Shape[i] = "?"
			}
		}
	}
	ch := pr.walk(p.Name, p.rank)
	defer func() {
		if p.Err != nil {
			p.Error = p.Err.Error()
			p.Kind = ""
		}
	}()
	if p.rank != 0 && p.rank != 3 && p.rank != 4 {
		p.Err = fmt.Errorf("rank %d; a segmentation output is [N,K,H,W] or [N,H,W,K] scores, or an [N,1,H,W], [N,H,W,1] or [N,H,W] label map", p.rank)
		return p
	}
	lmpKind := ""
	if md != nil {
		lmpKind = md.Output
	}
	// The kind, as far as the declaration and the nodes tell.
	switch {
	case p.knownInt:
		p.Kind = KindLabels
		p.Why = append(p.Why, "integer elements")
	case lmpKind == "labels" || ch.argmax:
		p.Kind = KindLabels
		if ch.argmax {
			p.Why = append(p.Why, "computed by ArgMax")
		} else {
			p.Why = append(p.Why, "lmpseg.output says labels")
		}
	case p.rank == 3 && ch.sigmoid:
		p.Kind, p.Sigmoid = KindBinary, true
		p.Why = append(p.Why, "a rank-3 Sigmoid output")
	case p.rank == 3:
		p.Kind = KindLabels
		p.Why = append(p.Why, "rank 3")
	default:
		p.Kind = KindScores
	}
	if p.rank == 0 && p.Kind != KindLabels {
		p.Why = append(p.Why, "rank not declared: read from the first result")
	}
	// The layout of a rank-4 output.
	if p.rank == 4 || p.rank == 0 {
		switch {
		case o.Layout != "":
			p.Layout = o.Layout
			p.Why = append(p.Why, "--output-layout "+o.Layout)
		case lmpKind == "logits" || lmpKind == "probs" || lmpKind == "labels":
			p.Layout = LayoutNCHW
			p.Why = append(p.Why, "an lmpseg export (NCHW)")
		case ch.classAxis == 1 || ch.classAxis == 3:
			p.Layout = map[int]string{1: LayoutNCHW, 3: LayoutNHWC}[ch.classAxis]
			p.Why = append(p.Why, fmt.Sprintf("class axis %d from %s", ch.classAxis, ch.anchor))
		case p.rank == 0:
			// decided from the first result
		default:
			lay, why, err := layoutFromDims(dims, in, p.metaK)
			if err != nil {
				p.Err = err
				return p
			}
			p.Layout = lay
			p.Why = append(p.Why, why)
		}
	}
	// The class count and the binary case.
	if p.rank == 4 {
		axis := 1
		if p.Layout == LayoutNHWC {
			axis = 3
		}
		if k := int(dims[axis].GetDimValue()); k > 0 {
			if p.Kind == KindLabels && k != 1 {
				p.Err = fmt.Errorf("a label map with %d values per pixel (%s); a label map has one", k, strings.ToUpper(p.Layout))
				return p
			}
			if p.Kind == KindScores {
				p.Classes = k
				if k == 1 {
					p.Kind = KindBinary
					p.Why = append(p.Why, "one channel")
				}
			}
		}
	}
	if p.Kind == KindBinary || (p.Kind == KindScores && p.Classes == 0) {
		p.Sigmoid = p.Sigmoid || ch.sigmoid
		p.Threshold = 0
		if p.Sigmoid {
			p.Threshold = 0.5
		}
		if o.ThresholdSet {
			p.Threshold = o.Threshold
		}
	}
	if p.Kind == KindBinary {
		p.Classes = 2
		if p.Sigmoid {
			p.Why = append(p.Why, "after a Sigmoid")
		} else {
			p.Why = append(p.Why, "no Sigmoid: a logit")
		}
		if o.ThresholdSet {
			p.Why = append(p.Why, "--binary-threshold")
		}
	}
	return p
}

// layoutFromDims decides NCHW or NHWC from the declared dims of a rank-4 output whose nodes do
// not tell: symbolic names (a class-like name, or the input's H and W names), the metadata's
// class count, one static and one dynamic candidate axis, or the static input's aspect ratio.
func layoutFromDims(d []*pb.TensorShapeProto_Dimension, in inputDims, metaK int) (string, string, error) {
	name := func(i int) string { return d[i].GetDimParam() }
	val := func(i int) int { return int(d[i].GetDimValue()) }
	c1, c3 := classDimRe.MatchString(name(1)), classDimRe.MatchString(name(3))
	if c1 != c3 {
		if c1 {
			return LayoutNCHW, fmt.Sprintf("dim 1 is named %q", name(1)), nil
		}
		return LayoutNHWC, fmt.Sprintf("dim 3 is named %q", name(3)), nil
	}
	if in.names[0] != "" && in.names[1] != "" {
		if name(2) == in.names[0] && name(3) == in.names[1] {
			return LayoutNCHW, "dims 2 and 3 are the input's " + in.names[0] + " and " + in.names[1], nil
		}
		if name(1) == in.names[0] && name(2) == in.names[1] {
			return LayoutNHWC, "dims 1 and 2 are the input's " + in.names[0] + " and " + in.names[1], nil
		}
	}
	if metaK > 0 && (val(1) == metaK) != (val(3) == metaK) {
		if val(1) == metaK {
			return LayoutNCHW, fmt.Sprintf("dim 1 is the metadata's %d classes", metaK), nil
		}
		return LayoutNHWC, fmt.Sprintf("dim 3 is the metadata's %d classes", metaK), nil
	}
	if (val(1) > 0) != (val(3) > 0) {
		if val(1) > 0 {
			return LayoutNCHW, "dim 1 is static, dim 3 dynamic", nil
		}
		return LayoutNHWC, "dim 3 is static, dim 1 dynamic", nil
	}
	if val(1) > 0 && val(3) > 0 {
		if lay, ok := layoutByAspect(val(1), val(2), val(3), in.hw); ok {
			return lay, fmt.Sprintf("only the %s reading has the input's %dx%d aspect", strings.ToUpper(lay), in.hw[0], in.hw[1]), nil
		}
		if (val(1) == 1) != (val(3) == 1) {
			if val(1) == 1 {
				return LayoutNCHW, "dim 1 is 1", nil
			}
			return LayoutNHWC, "dim 3 is 1", nil
		}
		return "", "", fmt.Errorf("dims 1 and 3 (%d and %d) are both plausible class counts: give --output-layout nchw or nhwc", val(1), val(3))
	}
	return "", "", errors.New("dims 1 and 3 are both dynamic and no node or name tells which holds the classes: give --output-layout nchw or nhwc")
}

// layoutByAspect reports the one layout of an [N, d1, d2, d3] output whose spatial dims are
// those of the input hw at one of the usual strides (1, 2, 3, 4, 6, 8, 12, 14, 16, 24, 32 or 64;
// each within 1 of the input's size divided by the stride, as convolutions round), if exactly
// one layout's are.
func layoutByAspect(d1, d2, d3 int, hw [2]int) (string, bool) {
	if hw[0] <= 0 || hw[1] <= 0 {
		return "", false
	}
	fits := func(oh, ow int) bool {
		for _, s := range [...]int{1, 2, 3, 4, 6, 8, 12, 14, 16, 24, 32, 64} {
			if math.Abs(float64(oh)-float64(hw[0])/float64(s)) < 1 && math.Abs(float64(ow)-float64(hw[1])/float64(s)) < 1 {
				return true
			}
		}
		return false
	}
	nchw, nhwc := fits(d2, d3), fits(d1, d2)
	switch {
	case nchw && !nhwc:
		return LayoutNCHW, true
	case nhwc && !nchw:
		return LayoutNHWC, true
	}
	return "", false
}

// OutputAdapter turns the chosen output of a run into scores or a label map, as its plan says.
type OutputAdapter struct {
	Plan OutputPlan
	// Chosen says why this output was chosen among the model's.
	Chosen string
}

// NewOutputAdapter plans m's outputs and chooses the segmentation output.
func NewOutputAdapter(m *onnx.Model, md *Metadata, o OutputOptions) (*OutputAdapter, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	p, why, err := ChooseOutput(PlanOutputs(m, md, o), o)
	if err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, m.Path)
	}
	if p.Sigmoid && o.ThresholdSet && !(o.Threshold >= 0 && o.Threshold <= 1) {
		return nil, fmt.Errorf("infer: --binary-threshold %v for the probability output %s: want a value in [0, 1]", o.Threshold, p.Name)
	}
	return &OutputAdapter{Plan: p, Chosen: why}, nil
}

// Convert reads the first image of a run's output out (of an input of size h x w) as scores
// (1 x K x h' x w', NCHW) or a label map (lh x lw). A binary output becomes two-channel scores
// (0, value - threshold), so that its argmax is foreground exactly where the value exceeds the
// threshold, and upsampling and window averaging treat it as any scores.
func (a *OutputAdapter) Convert(out onnx.Output, h, w int) (*graph.Tensor, []int32, int, int, error) {
	p := a.Plan
	s := out.Shape
	isInt := p.knownInt || (out.Type != "" && !strings.HasPrefix(out.Type, "float"))
	kind := p.Kind
	if isInt {
		kind = KindLabels
	}
	if len(s) != 3 && len(s) != 4 {
		return nil, nil, 0, 0, fmt.Errorf("the output %s has shape %v; a segmentation output is [N,K,H,W] or [N,H,W,K] scores, or an [N,1,H,W], [N,H,W,1] or [N,H,W] label map", p.Name, s)
	}
	for _, d := range s {
		if d <= 0 {
			return nil, nil, 0, 0, fmt.Errorf("the output %s has the empty shape %v", p.Name, s)
		}
	}
	if len(s) == 3 {
		lh, lw := int(s[1]), int(s[2])
		plane := out.Data[:lh*lw]
		if kind == KindBinary {
			return binaryScores(plane, lh, lw, p.Threshold), nil, 0, 0, nil
		}
		return nil, toLabels(plane), lh, lw, nil
	}
	lay := p.Layout
	if lay == "" {
		var err error
		if lay, err = runtimeLayout(s, kind, p.metaK, [2]int{h, w}); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("the output %s of shape %v: %w", p.Name, s, err)
		}
	}
	c, oh, ow := int(s[1]), int(s[2]), int(s[3])
	if lay == LayoutNHWC {
		c, oh, ow = int(s[3]), int(s[1]), int(s[2])
	}
	first := out.Data[:c*oh*ow]
	if kind == KindLabels {
		if c != 1 {
			return nil, nil, 0, 0, fmt.Errorf("the label map %s has shape %v: %d values per pixel (%s), want 1", p.Name, s, c, strings.ToUpper(lay))
		}
		return nil, toLabels(first), oh, ow, nil
	}
	if c == 1 {
		return binaryScores(first, oh, ow, p.Threshold), nil, 0, 0, nil
	}
	if lay == LayoutNCHW {
		return &graph.Tensor{N: 1, C: c, H: oh, W: ow, Data: first}, nil, 0, 0, nil
	}
	t := graph.NewTensor(1, c, oh, ow)
	onnx.NHWCToNCHW(t.Data, first, c, oh*ow)
	return t, nil, 0, 0, nil
}

// runtimeLayout decides the layout of a result whose declaration left it open.
func runtimeLayout(s []int64, kind string, metaK int, hw [2]int) (string, error) {
	d1, d3 := int(s[1]), int(s[3])
	if kind == KindLabels {
		switch {
		case d1 == 1:
			return LayoutNCHW, nil
		case d3 == 1:
			return LayoutNHWC, nil
		}
		return "", errors.New("a label map needs a dim of size 1 at axis 1 or 3")
	}
	if metaK > 0 && (d1 == metaK) != (d3 == metaK) {
		if d1 == metaK {
			return LayoutNCHW, nil
		}
		return LayoutNHWC, nil
	}
	if lay, ok := layoutByAspect(d1, int(s[2]), d3, hw); ok {
		return lay, nil
	}
	return "", fmt.Errorf("dims 1 and 3 (%d and %d) are both plausible class counts: give --output-layout nchw or nhwc", d1, d3)
}

// binaryScores returns the scores (0, v - t) of a one-channel map v.
func binaryScores(v []float32, h, w int, t float64) *graph.Tensor {
	s := graph.NewTensor(1, 2, h, w)
	fg := s.Data[h*w:]
	tt := float32(t)
	for i, x := range v {
		fg[i] = x - tt
	}
	return s
}

func toLabels(v []float32) []int32 {
	lab := make([]int32, len(v))
	for i, x := range v {
		lab[i] = int32(x)
	}
	return lab
}
