package onnx

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
)

// Report describes an ONNX model: what Inspect found.
type Report struct {
	Path            string            `json:"path"`
	IRVersion       int64             `json:"ir_version"`
	Opsets          []OpsetInfo       `json:"opsets"`
	Producer        string            `json:"producer"`
	ProducerVersion string            `json:"producer_version,omitempty"`
	Inputs          []TensorInfo      `json:"inputs"`
	Outputs         []TensorInfo      `json:"outputs"`
	Nodes           int               `json:"nodes"`
	Ops             []OpCount         `json:"ops"`
	Params          int64             `json:"parameters"`
	ParamBytes      int64             `json:"parameter_bytes"`
	ExternalBytes   int64             `json:"external_bytes"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Probe           *Probe            `json:"probe,omitempty"`
}

// OpsetInfo is one opset import.
type OpsetInfo struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// TensorInfo describes a graph input or output. Shape holds one entry per
// dimension: its size, its symbolic name, or "?" when unknown; it is nil
// when the rank is unknown.
type TensorInfo struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []string `json:"shape"`
}

// OpCount is the number of nodes of one operator type.
type OpCount struct {
	Op    string `json:"op"`
	Count int    `json:"count"`
}

// Probe is the result of one forward pass on a dummy input.
type Probe struct {
	H          int         `json:"h"`
	W          int         `json:"w"`
	Candidates []Candidate `json:"candidates"`
}

// Candidate is a rank-4 float tensor seen during a probe: a possible
// feature tensor. Stride is the input height divided by the tensor height
// (StrideW the same for widths). Node is the position of the producing
// node in the graph (-1 for a graph input).
type Candidate struct {
	Name    string  `json:"name"`
	Op      string  `json:"op"`
	Node    int     `json:"node"`
	Shape   []int64 `json:"shape"`
	Stride  float64 `json:"stride"`
	StrideW float64 `json:"stride_w"`
	Output  bool    `json:"graph_output,omitempty"`
}

// Inspect reads the model at path and describes it. When probeH and probeW
// are positive it also runs one forward pass in onnxruntime (configured by
// o) on a zero input of that size with every intermediate tensor exposed,
// and lists each rank-4 float tensor with its shape and stride relative to
// the input, ordered by stride and then by position in the graph, so that
// the deepest tensors (those just before a classifier) come last. Globally
// pooled tensors (1×1) are left out: they are no spatial feature maps.
func Inspect(path string, probeH, probeW int, o Options) (*Report, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	r := Describe(m)
	r.Path = path
	if probeH > 0 || probeW > 0 {
		if probeH <= 0 || probeW <= 0 {
			return nil, fmt.Errorf("onnx: bad probe size %dx%d", probeH, probeW)
		}
		p, err := probe(m, probeH, probeW, o)
		if err != nil {
			return nil, err
		}
		r.Probe = p
	}
	return r, nil
}

// Describe returns the static part of the report of m (no probe).
func Describe(m *Model) *Report {
	mp := m.Proto
	g := mp.GetGraph()
	r := &Report{
		Path:            m.Path,
		IRVersion:       mp.GetIrVersion(),
		Producer:        mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
		Nodes:           len(g.GetNode()),
	}
	for _, op := range mp.GetOpsetImport() {
		d := op.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		r.Opsets = append(r.Opsets, OpsetInfo{Domain: d, Version: op.GetVersion()})
	}
	for _, v := range RealInputs(g) {
		r.Inputs = append(r.Inputs, tensorInfo(v))
	}
	for _, v := range g.GetOutput() {
		r.Outputs = append(r.Outputs, tensorInfo(v))
	}
	hist := map[string]int{}
	for _, n := range g.GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		hist[op]++
	}
	for op, c := range hist {
		r.Ops = append(r.Ops, OpCount{op, c})
	}
	sort.Slice(r.Ops, func(i, j int) bool {
		if r.Ops[i].Count != r.Ops[j].Count {
			return r.Ops[i].Count > r.Ops[j].Count
		}
		return r.Ops[i].Op < r.Ops[j].Op
	})
	for _, t := range g.GetInitializer() {
		n := numel(t.GetDims())
		r.Params += n
		b := n * int64(elemSize(t.GetDataType()))
		r.ParamBytes += b
		if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
			r.ExternalBytes += b
		}
	}
	if len(mp.GetMetadataProps()) > 0 {
		r.Metadata = map[string]string{}
		for _, kv := range mp.GetMetadataProps() {
			r.Metadata[kv.GetKey()] = kv.GetValue()
		}
	}
	return r
}

func numel(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0
		}
		n *= d
	}
	return n
}

// elemSize is the size in bytes of one element of an ONNX data type (0 for
// strings and unknown types).
func elemSize(t int32) int {
	switch pb.TensorProto_DataType(t) {
	case pb.TensorProto_FLOAT, pb.TensorProto_INT32, pb.TensorProto_UINT32:
		return 4
	case pb.TensorProto_DOUBLE, pb.TensorProto_INT64, pb.TensorProto_UINT64, pb.TensorProto_COMPLEX64:
		return 8
	case pb.TensorProto_FLOAT16, pb.TensorProto_BFLOAT16, pb.TensorProto_INT16, pb.TensorProto_UINT16:
		return 2
	case pb.TensorProto_INT8, pb.TensorProto_UINT8, pb.TensorProto_BOOL:
		return 1
	case pb.TensorProto_COMPLEX128:
		return 16
	}
	if t >= 17 && t <= 20 { // float8 variants
		return 1
	}
	return 0
}

func tensorInfo(v *pb.ValueInfoProto) TensorInfo {
	ti := TensorInfo{Name: v.GetName(), Type: "?"}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		if v.GetType() != nil {
			ti.Type = "non-tensor"
		}
		return ti
	}
	ti.Type = elemTypeName(tt.GetElemType())
	if sh := tt.GetShape(); sh != nil {
		ti.Shape = []string{}
		for _, d := range sh.GetDim() {
			switch {
			case d.GetDimValue() > 0:
				ti.Shape = append(ti.Shape, strconv.FormatInt(d.GetDimValue(), 10))
			case d.GetDimParam() != "":
				ti.Shape = append(ti.Shape, d.GetDimParam())
			default:
				ti.Shape = append(ti.Shape, "?")
			}
		}
	}
	return ti
}

// probe runs m once on a zero input of size h×w with every node output
// exposed and collects the rank-4 float tensors.
func probe(m *Model, h, w int, o Options) (*Probe, error) {
	g := m.Proto.GetGraph()
	type pos struct {
		node int
		op   string
	}
	where := map[string]pos{}
	for i, n := range g.GetNode() {
		for _, out := range n.GetOutput() {
			if out != "" {
				where[out] = pos{i, n.GetOpType()}
			}
		}
	}
	var input string
	if ins := RealInputs(g); len(ins) > 0 {
		input = ins[0].GetName()
	}
	names := imageTensors(g, input)
	isOut := map[string]bool{}
	for _, v := range g.GetOutput() {
		isOut[v.GetName()] = true
	}
	s, err := newSession(m, names, o, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	n, c := 1, s.channels()
	if len(s.inDims) == 4 && s.inDims[0] > 0 {
		n = int(s.inDims[0])
	}
	x := make([]float32, n*c*h*w)
	if err := s.checkInput(x, n, c, h, w); err != nil {
		return nil, fmt.Errorf("%w (probe size %dx%d)", err, h, w)
	}
	shapes, err := s.runShapes(x, n, c, h, w)
	if err != nil {
		return nil, err
	}
	p := &Probe{H: h, W: w}
	for i, name := range names {
		sh := shapes[i]
		if !sh.float || len(sh.shape) != 4 || sh.shape[2] <= 0 || sh.shape[3] <= 0 {
			continue
		}
		if sh.shape[2] == 1 && sh.shape[3] == 1 && h*w > 1 {
			continue // globally pooled: not a spatial feature map
		}
		ps := where[name]
		p.Candidates = append(p.Candidates, Candidate{
			Name: name, Op: ps.op, Node: ps.node, Shape: sh.shape,
			Stride:  float64(h) / float64(sh.shape[2]),
			StrideW: float64(w) / float64(sh.shape[3]),
			Output:  isOut[name],
		})
	}
	sort.SliceStable(p.Candidates, func(i, j int) bool {
		a, b := p.Candidates[i], p.Candidates[j]
		if a.Stride != b.Stride {
			return a.Stride < b.Stride
		}
		return a.Node < b.Node
	})
	return p, nil
}

// nonFloatOps produce tensors that are never float feature maps.
var nonFloatOps = map[string]bool{
	"Shape": true, "Size": true, "ArgMax": true, "ArgMin": true, "NonZero": true,
	"Equal": true, "Less": true, "Greater": true, "LessOrEqual": true, "GreaterOrEqual": true,
	"And": true, "Or": true, "Not": true, "Xor": true, "IsNaN": true, "IsInf": true,
	"Constant": true, "ConstantOfShape": true, "Range": true,
}

// imageTensors returns, in graph order, the node outputs that carry image
// data: those computed from the input other than through its shape (Shape
// and Size cut the dependence), leaving out outputs that cannot be float
// feature maps. Shape arithmetic, constants and scalars derived from them,
// which onnxruntime_go cannot always return, are thereby not exposed.
func imageTensors(g *pb.GraphProto, input string) []string {
	data := map[string]bool{input: true}
	seen := map[string]bool{}
	var names []string
	nodes := g.GetNode()
	if order, err := topoOrder(g); err == nil && order != nil {
		nodes = make([]*pb.NodeProto, len(order))
		for i, j := range order {
			nodes[i] = g.Node[j]
		}
	}
	for _, n := range nodes {
		op := n.GetOpType()
		if op == "Shape" || op == "Size" {
			continue
		}
		fromData := false
		for _, in := range nodeInputs(n) {
			if data[in] {
				fromData = true
				break
			}
		}
		if !fromData {
			continue
		}
		skip := nonFloatOps[op]
		if op == "Cast" {
			for _, a := range n.GetAttribute() {
				if a.GetName() == "to" && a.GetI() != int64(pb.TensorProto_FLOAT) {
					skip = true
				}
			}
		}
		for i, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			data[out] = true
			if skip || (op == "TopK" && i == 1) || seen[out] {
				continue
			}
			seen[out] = true
			names = append(names, out)
		}
	}
	return names
}

type shapeOf struct {
	float bool
	shape []int64
}

// runShapes runs the session and returns the element kind and shape of
// each output, dropping the data.
func (s *Session) runShapes(x []float32, n, c, h, w int) ([]shapeOf, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, fmt.Errorf("onnx: run on a closed session")
	}
	in, err := ort.NewTensor(ort.NewShape(int64(n), int64(c), int64(h), int64(w)), x)
	if err != nil {
		return nil, fmt.Errorf("onnx: input tensor: %s", trimLines(err.Error()))
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(s.outputs))
	err = s.sess.Run([]ort.Value{in}, outs)
	defer destroyAll(outs)
	if err != nil {
		return nil, fmt.Errorf("onnx: probe run on a batch of shape [%d %d %d %d]: %s", n, c, h, w, ortMessage(err))
	}
	res := make([]shapeOf, len(outs))
	for i, v := range outs {
		if v == nil {
			continue
		}
		_, isF := v.(*ort.Tensor[float32])
		res[i] = shapeOf{float: isF, shape: []int64(v.GetShape().Clone())}
	}
	return res, nil
}

// Print writes the report as aligned text tables.
func (r *Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("model\t%s\n", r.Path)
	p("ir version\t%d\n", r.IRVersion)
	var ops []string
	for _, o := range r.Opsets {
		ops = append(ops, fmt.Sprintf("%s %d", o.Domain, o.Version))
	}
	p("opsets\t%s\n", strings.Join(ops, ", "))
	prod := r.Producer
	if r.ProducerVersion != "" {
		prod += " " + r.ProducerVersion
	}
	if prod == "" {
		prod = "-"
	}
	p("producer\t%s\n", prod)
	p("nodes\t%d\n", r.Nodes)
	p("parameters\t%d (%s", r.Params, humanBytes(r.ParamBytes))
	if r.ExternalBytes > 0 {
		p(", %s in external data", humanBytes(r.ExternalBytes))
	}
	p(")\n")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	p("\tname\ttype\tshape\n")
	for _, t := range r.Inputs {
		p("input\t%s\t%s\t%s\n", t.Name, t.Type, shapeString(t.Shape))
	}
	for _, t := range r.Outputs {
		p("output\t%s\t%s\t%s\n", t.Name, t.Type, shapeString(t.Shape))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	p("op\tcount\n")
	for _, o := range r.Ops {
		p("%s\t%d\n", o.Op, o.Count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Metadata) > 0 {
		fmt.Fprintln(w)
		keys := make([]string, 0, len(r.Metadata))
		for k := range r.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p("metadata\tvalue\n")
		for _, k := range keys {
			v := r.Metadata[k]
			if len(v) > 60 {
				v = v[:57] + "..."
			}
			p("%s\t%s\n", k, strings.ReplaceAll(v, "\n", " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Probe != nil {
		fmt.Fprintf(w, "\ncandidate feature tensors (probe %dx%d; deepest last)\n", r.Probe.H, r.Probe.W)
		p("tensor\top\tnode\tshape\tstride\n")
		for _, c := range r.Probe.Candidates {
			st := strconv.FormatFloat(c.Stride, 'g', 4, 64)
			if c.StrideW != c.Stride {
				st += "x" + strconv.FormatFloat(c.StrideW, 'g', 4, 64)
			}
			name := c.Name
			if c.Output {
				name += " (output)"
			}
			p("%s\t%s\t%d\t%s\t%s\n", name, c.Op, c.Node, dimsString(c.Shape), st)
		}
		if len(r.Probe.Candidates) == 0 {
			p("(none)\t\t\t\t\n")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func shapeString(s []string) string {
	if s == nil {
		return "unknown"
	}
	return "[" + strings.Join(s, " ") + "]"
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
