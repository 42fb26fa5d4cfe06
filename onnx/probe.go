package onnx

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
)

// A probe runs the model on zero inputs to learn the shape of every tensor
// computed from the image. It does not expose the tensors themselves as
// graph outputs, which would keep all of them alive until the end of the run
// (gigabytes for a segmentation backbone at 512x1024): each probed tensor T
// gets a Shape node, and the graph outputs are those small int64 vectors
// only. onnxruntime then frees T once its consumers ran, so a probe holds
// about what a plain forward pass holds (see shapeMarkers for the order).
// Element types come from a second, weightless session that is created but
// never run (see tensorTypes), so scalars, quantized integers and float16
// tensors never reach the onnxruntime_go conversion of outputs, which
// cannot return scalars or float16 values.

// probeResult holds what a probe learnt.
type probeResult struct {
	names  []string    // probed tensors, in graph order
	node   []int       // position of each one's producer
	op     []string    // and its operator
	sizes  [][2]int    // probed input sizes (h, w): one or two
	shapes [][][]int64 // shapes[k][i]: shape of names[i] at sizes[k]
	types  map[string]int32
	batch  int
	index  map[string]int
}

// probeHeldHook, when set (by tests), is called after each probe run with
// the bytes of the run's outputs, all held at once.
var probeHeldHook func(bytes int64)

// secondSize is the second probe size for h×w: 1.5 times larger, so that a
// tensor whose size follows the input grows by a visible amount.
func secondSize(h int) int { return h + (h+1)/2 }

// runProbe probes m at h×w and, where the input height or width is not
// static, at a second, larger size.
func runProbe(m *Model, h, w int, o Options) (*probeResult, error) {
	g := m.Proto.GetGraph()
	ins := RealInputs(g)
	if len(ins) == 0 {
		return nil, fmt.Errorf("onnx: the model has no inputs")
	}
	names := imageTensors(g, ins[0].GetName())
	pr := &probeResult{names: names, index: map[string]int{}}
	where := map[string]int{}
	for i, n := range g.GetNode() {
		for _, out := range n.GetOutput() {
			if _, ok := where[out]; out != "" && !ok {
				where[out] = i
			}
		}
	}
	for i, name := range names {
		pr.index[name] = i
		j := where[name]
		pr.node = append(pr.node, j)
		pr.op = append(pr.op, g.Node[j].GetOpType())
	}
	mm, markers := shapeMarkers(m, names)
	s, err := newSession(mm, markers, o, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	in := s.InputLayout()
	n, c := max(in.StaticBatch, 1), s.channels()
	pr.batch = n
	pr.sizes = [][2]int{{h, w}}
	h2, w2 := h, w
	if in.StaticH == 0 {
		h2 = secondSize(h)
	}
	if in.StaticW == 0 {
		w2 = secondSize(w)
	}
	if h2 != h || w2 != w {
		pr.sizes = append(pr.sizes, [2]int{h2, w2})
	}
	for _, sz := range pr.sizes {
		x := make([]float32, n*c*sz[0]*sz[1])
		if err := s.checkInput(x, n, c, sz[0], sz[1]); err != nil {
			return nil, fmt.Errorf("%w (probe size %dx%d)", err, sz[0], sz[1])
		}
		outs, err := s.Run(x, n, c, sz[0], sz[1])
		if err != nil {
			return nil, fmt.Errorf("onnx: probe at %dx%d: %w", sz[0], sz[1], err)
		}
		shapes := make([][]int64, len(names))
		var held int64
		for i, out := range outs {
			held += 8 * int64(len(out.Data))
			shapes[i] = make([]int64, len(out.Data))
			for k, v := range out.Data {
				shapes[i][k] = int64(v)
			}
		}
		if probeHeldHook != nil {
			probeHeldHook(held)
		}
		pr.shapes = append(pr.shapes, shapes)
	}
	var rank4 []string
	for i, name := range names {
		if len(pr.shapes[0][i]) == 4 {
			rank4 = append(rank4, name)
		}
	}
	pr.types = tensorTypes(m, rank4)
	return pr, nil
}

// shapeMarkers returns a copy of m whose graph outputs are, for each of
// names, the shape of that tensor (an int64 vector) computed by a Shape
// node, and the names of those outputs.
// Nodes that feed no marker are pruned.
func shapeMarkers(m *Model, names []string) (*Model, []string) {
	mm := shallowCopy(m)
	g := mm.Proto.Graph
	prefix := uniquePrefix(g, "lmpseg_probe_shape_")
	marker := map[string]string{}
	markers := make([]string, len(names))
	for i, n := range names {
		markers[i] = prefix + strconv.Itoa(i)
		marker[n] = markers[i]
	}
	// The Shape nodes go after all others, the one of the last tensor
	// first. onnxruntime orders execution by a depth-first search back
	// from the graph's leaves, taking the last leaf first: so the shape of
	// each tensor is taken right after the nodes it needs have run, and
	// the tensor can be freed when its other consumers are done (with the
	// Shape nodes in graph order, onnxruntime ran all of them at the end
	// and held every tensor: BenchmarkProbeMemory measures it).
	var tail []*pb.NodeProto
	for _, n := range g.Node {
		for _, out := range n.GetOutput() {
			if mk, ok := marker[out]; ok {
				tail = append(tail, &pb.NodeProto{Name: mk, OpType: "Shape", Input: []string{out}, Output: []string{mk}})
				delete(marker, out)
			}
		}
	}
	slices.Reverse(tail)
	g.Node = append(g.Node, tail...)
	g.Output = nil
	for _, mk := range markers {
		g.Output = append(g.Output, TensorValueInfo(mk, int32(pb.TensorProto_INT64), []int64{0}, nil))
	}
	prune(g, markers)
	return mm, markers
}

// uniquePrefix returns p, lengthened with underscores until no value or node
// of g starts with it.
func uniquePrefix(g *pb.GraphProto, p string) string {
	names := TensorNames(g)
	for _, n := range g.GetNode() {
		names = append(names, n.GetName())
	}
	for {
		clash := false
		for _, n := range names {
			if strings.HasPrefix(n, p) {
				clash = true
				break
			}
		}
		if !clash {
			return p
		}
		p += "_"
	}
}

// integerOps produce integer tensors; tensorTypes falls back on them when
// onnxruntime cannot say.
var integerOps = map[string]bool{
	"ConvInteger": true, "MatMulInteger": true, "QuantizeLinear": true, "DynamicQuantizeLinear": true,
	"QLinearConv": true, "QLinearMatMul": true, "QLinearAdd": true, "QLinearMul": true,
}

// tensorTypes returns the element type of each of names: from the graph's
// value_info when it records one, else as onnxruntime infers it in a session
// that is created but never run, on a copy of m whose large and external
// initializers are turned into graph inputs (so no weights are read). A
// name whose type stays unknown is absent from the result.
func tensorTypes(m *Model, names []string) map[string]int32 {
	g0 := m.Proto.GetGraph()
	types := map[string]int32{}
	for _, vs := range [][]*pb.ValueInfoProto{g0.GetValueInfo(), g0.GetOutput()} {
		for _, v := range vs {
			if et := v.GetType().GetTensorType().GetElemType(); et != 0 {
				types[v.GetName()] = et
			}
		}
	}
	var rest []string
	for _, n := range names {
		if _, ok := types[n]; !ok {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return types
	}
	mm := shallowCopy(m)
	g := mm.Proto.Graph
	isInput := map[string]bool{}
	for _, v := range g.Input {
		isInput[v.GetName()] = true
	}
	var keep []*pb.TensorProto
	for _, t := range g.Initializer {
		if t.GetDataLocation() != pb.TensorProto_EXTERNAL && numel(t.GetDims()) <= 64 {
			keep = append(keep, t)
			continue
		}
		if !isInput[t.GetName()] {
			g.Input = append(g.Input, TensorValueInfo(t.GetName(), t.GetDataType(), append([]int64{}, t.GetDims()...), nil))
		}
	}
	g.Initializer = keep
	g.Output = nil
	for _, n := range rest {
		g.Output = append(g.Output, &pb.ValueInfoProto{Name: n})
	}
	prune(g, rest)
	b, err := mm.Marshal()
	if err == nil {
		var outs []ort.InputOutputInfo
		if _, outs, err = ort.GetInputOutputInfoWithONNXData(b); err == nil {
			for _, o := range outs {
				if o.OrtValueType == ort.ONNXTypeTensor {
					types[o.Name] = int32(o.DataType)
				}
			}
			return types
		}
	}
	// onnxruntime could not create the session: fall back on operators
	// known to give integers.
	for _, n := range g0.GetNode() {
		if integerOps[n.GetOpType()] {
			for _, o := range n.GetOutput() {
				if _, ok := types[o]; !ok && o != "" {
					types[o] = int32(pb.TensorProto_INT32)
				}
			}
		}
	}
	return types
}

// fraction is p/q in lowest terms, q > 0.
type fraction struct{ p, q int64 }

func newFraction(p, q int64) fraction {
	a, b := p, q
	for b != 0 {
		a, b = b, a%b
	}
	return fraction{p / a, q / a}
}

func (f fraction) float() float64 { return float64(f.p) / float64(f.q) }

func (f fraction) String() string {
	if f.q == 1 {
		return strconv.FormatInt(f.p, 10)
	}
	return strconv.FormatInt(f.p, 10) + "/" + strconv.FormatInt(f.q, 10)
}

// scaleOf returns the stride of a tensor dimension of size t[k] at input
// size in[k] (one or two probes). With two sizes the dimension must grow with
// the input: the stride is in/t when that ratio is the same at both sizes,
// else the integer s (a power of two when one fits) for which each t is
// in/s rounded down or up (padding). With one size the ratio must be an
// integer.
func scaleOf(in, t []int64) (fraction, bool) {
	for _, v := range t {
		if v <= 0 {
			return fraction{}, false
		}
	}
	r0 := newFraction(in[0], t[0])
	if len(in) == 1 || in[1] == in[0] {
		if t[len(t)-1] != t[0] || r0.q != 1 || t[0] > in[0] {
			return fraction{}, false
		}
		return r0, true
	}
	if t[1] <= t[0] {
		return fraction{}, false
	}
	if r1 := newFraction(in[1], t[1]); r1 == r0 {
		return r0, true
	}
	best := int64(0)
	for s := int64(1); s <= in[0]; s++ {
		fits := true
		for k := range in {
			lo, hi := in[k]/s, (in[k]+s-1)/s
			if t[k] != lo && t[k] != hi {
				fits = false
				break
			}
		}
		if !fits {
			continue
		}
		if best == 0 || (s&(s-1) == 0 && best&(best-1) != 0) {
			best = s
		}
	}
	if best == 0 {
		return fraction{}, false
	}
	return fraction{best, 1}, true
}

// classify decides whether probed tensor i is a feature map. It returns the
// candidate, or the reason it is none.
func (pr *probeResult) classify(i int) (Candidate, string) {
	name := pr.names[i]
	at := func(k int) string {
		return fmt.Sprintf("%s at %dx%d", dimsString(pr.shapes[k][i]), pr.sizes[k][0], pr.sizes[k][1])
	}
	shapes := make([][]int64, len(pr.sizes))
	for k := range pr.sizes {
		shapes[k] = pr.shapes[k][i]
	}
	s0 := shapes[0]
	if len(s0) != 4 {
		if len(s0) == 0 {
			return Candidate{}, "is a scalar; a feature map has shape [N C H W]"
		}
		return Candidate{}, fmt.Sprintf("has shape %s (rank %d); a feature map has rank 4", at(0), len(s0))
	}
	if et, ok := pr.types[name]; ok && !featureType(et) {
		return Candidate{}, fmt.Sprintf("has element type %s; a feature map is float32 or float16", ElemTypeName(et))
	}
	for k, s := range shapes {
		if len(s) != 4 {
			return Candidate{}, fmt.Sprintf("changes rank with the input size (%s, %s)", at(0), at(k))
		}
		if s[0] != int64(pr.batch) {
			return Candidate{}, fmt.Sprintf("has shape %s: its first dimension %d is not the batch size %d", at(k), s[0], pr.batch)
		}
	}
	both := ""
	if len(pr.sizes) > 1 {
		both = " and " + at(1)
	}
	col := func(d int) []int64 {
		c := make([]int64, len(shapes))
		for k, s := range shapes {
			c[k] = s[d]
		}
		return c
	}
	inH := make([]int64, len(pr.sizes))
	inW := make([]int64, len(pr.sizes))
	for k, sz := range pr.sizes {
		inH[k], inW[k] = int64(sz[0]), int64(sz[1])
	}
	constant := func(d int) bool {
		c := col(d)
		return c[len(c)-1] == c[0]
	}
	try := func(ch, hd, wd int) (fraction, fraction, bool) {
		if !constant(ch) {
			return fraction{}, fraction{}, false
		}
		sh, okH := scaleOf(inH, col(hd))
		sw, okW := scaleOf(inW, col(wd))
		return sh, sw, okH && okW
	}
	c := Candidate{Name: name, Op: pr.op[i], Node: pr.node[i], Shape: s0}
	if len(shapes) > 1 {
		c.Shape2 = shapes[1]
	}
	sh, sw, ok := try(1, 2, 3)
	if ok && s0[2] == 1 && s0[3] == 1 {
		ok = false
	}
	if !ok {
		// Channels last: at one size only, equal strides are asked for
		// too, since nothing else tells [N,H,W,C] from [N,C,H,W].
		if sh, sw, ok = try(3, 1, 2); ok && (s0[1] == 1 && s0[2] == 1 || len(shapes) == 1 && sh != sw) {
			ok = false
		}
		c.NHWC = ok
	}
	if !ok {
		switch {
		case len(shapes) > 1 && !constant(1) && !constant(3):
			return Candidate{}, fmt.Sprintf("has shape %s%s: its channel count changes with the input size, so it is not a feature map", at(0), both)
		case s0[2] == 1 && s0[3] == 1 && (len(shapes) == 1 || constant(2) && constant(3)):
			return Candidate{}, fmt.Sprintf("has shape %s%s: it is globally pooled, not a spatial feature map", at(0), both)
		case len(shapes) > 1:
			return Candidate{}, fmt.Sprintf("has shape %s%s: its height and width do not scale with the input size, so it is not a feature map", at(0), both)
		}
		return Candidate{}, fmt.Sprintf("has shape %s: its height and width do not divide the input size", at(0))
	}
	c.Stride, c.StrideW = sh.float(), sw.float()
	c.StrideText, c.StrideTextW = sh.String(), sw.String()
	return c, ""
}

// featureType reports whether a tensor of element type et can be a feature
// map.
func featureType(et int32) bool {
	return et == int32(pb.TensorProto_FLOAT) || et == int32(pb.TensorProto_FLOAT16)
}

// candidates returns the feature candidates of the probe ordered by stride
// and then by position in the graph.
func (pr *probeResult) candidates(isOut map[string]bool) []Candidate {
	var cs []Candidate
	for i := range pr.names {
		c, why := pr.classify(i)
		if why != "" {
			continue
		}
		c.Output = isOut[c.Name]
		cs = append(cs, c)
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Stride != b.Stride {
			return a.Stride < b.Stride
		}
		return a.Node < b.Node
	})
	return cs
}

// probe runs the probe of Inspect.
func probe(m *Model, h, w int, o Options) (*Probe, error) {
	pr, err := runProbe(m, h, w, o)
	if err != nil {
		return nil, err
	}
	isOut := map[string]bool{}
	for _, v := range m.Proto.GetGraph().GetOutput() {
		isOut[v.GetName()] = true
	}
	last := pr.sizes[len(pr.sizes)-1]
	return &Probe{H: h, W: w, H2: last[0], W2: last[1], Candidates: pr.candidates(isOut)}, nil
}

// FeatureInfo describes a tensor that can carry a head: what CheckFeature
// found.
type FeatureInfo struct {
	Name string `json:"name"`
	// Shape is the tensor's shape at the probe size H×W, in the order
	// of the tensor (NHWC when NHWC is set).
	Shape    []int64 `json:"shape"`
	H        int     `json:"h"`
	W        int     `json:"w"`
	Channels int     `json:"channels"`
	// Stride and StrideW are the input size over the tensor size;
	// StrideText writes Stride exactly ("16", or "8/3").
	Stride     float64 `json:"stride"`
	StrideW    float64 `json:"stride_w"`
	StrideText string  `json:"stride_text"`
	NHWC       bool    `json:"nhwc,omitempty"`
	Type       string  `json:"type"`
}

// FeatureProbeSize is the input size CheckFeature probes a model with a
// free input size at (the second probe is 1.5 times larger).
const FeatureProbeSize = 128

// CheckFeature says whether tensor of the model at path can carry a head:
// a float tensor of rank 4 whose first dimension is the batch, whose channel
// count does not change with the input size and whose height and width
// follow it. The model is probed at FeatureProbeSize×FeatureProbeSize and
// 1.5 times that, or at its static input size. The error says why a tensor
// is not a feature map and lists the candidates.
func CheckFeature(path string, tensor string, o Options) (FeatureInfo, error) {
	m, err := Load(path)
	if err != nil {
		return FeatureInfo{}, err
	}
	return checkFeature(m, tensor, o)
}

// CheckFeatureOf is CheckFeature for a model already loaded.
func CheckFeatureOf(m *Model, tensor string, o Options) (FeatureInfo, error) {
	return checkFeature(m, tensor, o)
}

func checkFeature(m *Model, tensor string, o Options) (FeatureInfo, error) {
	g := m.Proto.GetGraph()
	if !hasValue(g, tensor) {
		return FeatureInfo{}, missingTensorError(g, tensor)
	}
	h, w := FeatureProbeSize, FeatureProbeSize
	if ins := RealInputs(g); len(ins) == 1 {
		if info, _, err := imageInput(ins[0]); err == nil {
			if info.StaticH > 0 {
				h = info.StaticH
			}
			if info.StaticW > 0 {
				w = info.StaticW
			}
		}
	}
	pr, err := runProbe(m, h, w, o)
	if err != nil {
		return FeatureInfo{}, err
	}
	cands := pr.candidates(nil)
	list := func() string {
		if len(cands) == 0 {
			return "the model has no feature candidates"
		}
		var s []string
		for _, c := range cands {
			t := c.Name + " (stride " + c.StrideText
			if c.NHWC {
				t += ", NHWC"
			}
			s = append(s, t+")")
		}
		const most = 12
		if len(s) > most {
			s = append([]string{"..."}, s[len(s)-most:]...)
		}
		return "candidates: " + strings.Join(s, ", ")
	}
	i, ok := pr.index[tensor]
	if !ok {
		return FeatureInfo{}, fmt.Errorf("onnx: tensor %s is not computed from the image data (it is an input, an initializer or derived from shapes only), so it is not a feature map; %s", tensor, list())
	}
	c, why := pr.classify(i)
	if why != "" {
		return FeatureInfo{}, fmt.Errorf("onnx: tensor %s %s; %s", tensor, why, list())
	}
	fi := FeatureInfo{Name: tensor, Shape: c.Shape, H: h, W: w, Stride: c.Stride, StrideW: c.StrideW, StrideText: c.StrideText, NHWC: c.NHWC, Type: "float32"}
	if et, ok := pr.types[tensor]; ok {
		fi.Type = ElemTypeName(et)
	}
	fi.Channels = int(c.Shape[1])
	if c.NHWC {
		fi.Channels = int(c.Shape[3])
	}
	return fi, nil
}
