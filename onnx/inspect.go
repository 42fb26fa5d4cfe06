package onnx

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
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

// Probe is the result of the probe runs on zero inputs of size H×W and
// H2×W2.
type Probe struct {
	H int `json:"h"`
	W int `json:"w"`
	// H2 and W2 are the second probe size; they equal H and W when the
	// model's input size is static.
	H2         int         `json:"h2"`
	W2         int         `json:"w2"`
	Candidates []Candidate `json:"candidates"`
	// Note says why the probe ran at another size than asked (a model of fixed input size).
	Note string `json:"note,omitempty"`
}

// Candidate is a tensor seen during a probe that can serve as a feature
// map (see Inspect). Stride is the input height divided by the tensor height
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
	// StrideText is Stride written exactly: "8", or "8/3" when the
	// input size over the tensor size is not an integer; StrideTextW the
	// same for widths.
	StrideText  string `json:"stride_text"`
	StrideTextW string `json:"stride_text_w"`
	// Shape2 is the shape at the second probe size (nil when the input
	// size is static and only one size was probed).
	Shape2 []int64 `json:"shape2,omitempty"`
	// NHWC marks a channels-last tensor [N,H,W,C]; Shape is then in that
	// order and the channel count is Shape[3].
	NHWC bool `json:"nhwc,omitempty"`
}

// Inspect reads the model at path and describes it. When probeH and probeW
// are positive it also runs the model in onnxruntime (configured by o) on
// zero inputs of that size and, where the input size is free, of 1.5 times
// that size, learning the shape of every tensor computed from the image
// without holding the tensors themselves (see the package documentation).
// It lists the feature candidates: float tensors of rank 4 whose first
// dimension is the batch, whose channel count does not change with the
// input size and whose height and width follow it (NCHW, or NHWC marked
// as such), with their strides, ordered by stride and then by position in
// the graph, so that the deepest tensors come last. Globally pooled
// tensors (1×1), scalars and integer tensors are left out. A model with a
// static input size is probed at that size only, where channels cannot be
// told from spatial dimensions by their behaviour: a tensor is then taken
// as NCHW when its last two dimensions divide the input size.
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
		note := ""
		if in, err := ImageInput(m); err == nil && in.StaticH > 0 && in.StaticW > 0 && (in.StaticH != probeH || in.StaticW != probeW) {
			note = fmt.Sprintf("the model's input size is fixed at %dx%d, so the probe ran at that size, not %dx%d", in.StaticH, in.StaticW, probeH, probeW)
			probeH, probeW = in.StaticH, in.StaticW
		}
		p, err := probe(m, probeH, probeW, o)
		if err != nil {
			return nil, err
		}
		p.Note = note
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
	ti.Type = ElemTypeName(tt.GetElemType())
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
	var l nameList
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
				if a.GetName() == "to" && !featureType(int32(a.GetI())) {
					skip = true
				}
			}
		}
		for i, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			data[out] = true
			if !skip && (op != "TopK" || i != 1) {
				l.add(out)
			}
		}
	}
	return l.names
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
		sizes := fmt.Sprintf("%dx%d", r.Probe.H, r.Probe.W)
		if r.Probe.H2 != 0 && (r.Probe.H2 != r.Probe.H || r.Probe.W2 != r.Probe.W) {
			sizes += fmt.Sprintf(" and %dx%d", r.Probe.H2, r.Probe.W2)
		}
		fmt.Fprintf(w, "\ncandidate feature tensors (probe %s; shapes at %dx%d; deepest last)\n", sizes, r.Probe.H, r.Probe.W)
		if r.Probe.Note != "" {
			fmt.Fprintf(w, "note: %s\n", r.Probe.Note)
		}
		p("tensor\top\tnode\tshape\tstride\tlayout\n")
		for _, c := range r.Probe.Candidates {
			st := c.StrideText
			if st == "" {
				st = strconv.FormatFloat(c.Stride, 'g', 4, 64)
			}
			if c.StrideTextW != "" && c.StrideTextW != c.StrideText {
				st += "x" + c.StrideTextW
			}
			name := c.Name
			if c.Output {
				name += " (output)"
			}
			layout := "NCHW"
			if c.NHWC {
				layout = "NHWC"
			}
			p("%s\t%s\t%d\t%s\t%s\t%s\n", name, c.Op, c.Node, dimsString(c.Shape), st, layout)
		}
		if len(r.Probe.Candidates) == 0 {
			p("(none)\t\t\t\t\t\n")
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
