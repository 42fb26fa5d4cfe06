package lift

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// ToONNX writes the lifted nodes back as ONNX nodes with the net's current
// (trained) weights, from tensor input (the tensor the net was lifted
// from) to tensor output. The other inputs of the net (Inputs()[1:]) and,
// when the shape subgraph reads it, the model's image input are read
// under their names in the model, so the nodes belong in a graph that
// computes them: onnx.Merge of the model (or its Cut) and these nodes.
// Intermediate tensors, node names and initializers are named with prefix
// and the model's names. Batch norms stay BatchNormalization nodes with
// their running statistics; the shape subgraph is written as it was, so
// the sizes stay dynamic; a Resize given sizes takes its batch and channel
// entries from its input (the class count may have changed).
func (net *Net) ToONNX(input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto, error) {
	return net.toONNX(input, output, prefix, nil)
}

func (net *Net) toONNX(input, output, prefix string, fold func(n *pb.NodeProto) (*value, bool)) ([]*pb.NodeProto, []*pb.TensorProto, error) {
	if input == "" || output == "" || input == output {
		return nil, nil, fmt.Errorf("lift: ToONNX: input %q and output %q must be two names", input, output)
	}
	produced := map[string]bool{}
	for _, nd := range net.nodes {
		produced[nd.out] = true
	}
	nm := func(name string) string {
		switch {
		case name == "":
			return ""
		case name == net.from:
			return input
		case name == net.output:
			return output
		case produced[name]:
			return prefix + name
		}
		if _, ok := net.inits[name]; ok {
			return prefix + name
		}
		return name
	}
	// The small nodes written are those the written Resize nodes read,
	// directly or through other small nodes; the others fed weights or
	// constant operands, which are written as initializers.
	smallNeed := map[string]bool{}
	for k := len(net.nodes) - 1; k >= 0; k-- {
		nd := net.nodes[k]
		switch {
		case nd.kind == kResize:
			for _, in := range nd.pn.GetInput()[1:] {
				smallNeed[in] = true
			}
		case nd.kind == kSmall && smallNeed[nd.out]:
			for _, in := range nd.pn.GetInput() {
				smallNeed[in] = true
			}
		}
	}
	var nodes []*pb.NodeProto
	var inits []*pb.TensorProto
	done := map[string]bool{}
	addInit := func(t *pb.TensorProto) {
		if !done[t.Name] {
			done[t.Name] = true
			inits = append(inits, t)
		}
	}
	constInit := func(name string) error {
		if _, ok := net.inits[name]; !ok || done[prefix+name] {
			return nil
		}
		v, err := net.smallValue(name)
		if err != nil {
			return err
		}
		addInit(encodeValue(prefix+name, v))
		return nil
	}
	param := func(p *graph.Param, dims ...int) string {
		addInit(onnx.FloatTensor(prefix+p.Name, onnx.Dims(dims...), p.Data))
		return prefix + p.Name
	}
	for k, nd := range net.nodes {
		n := nd.pn
		name := n.GetName()
		if name == "" {
			name = fmt.Sprintf("%s_%d", n.GetOpType(), k)
		}
		name = prefix + name
		out := []string{nm(nd.out)}
		clone := func() *pb.NodeProto {
			c := proto.Clone(n).(*pb.NodeProto)
			c.Name = name
			for i, in := range c.Input {
				c.Input[i] = nm(in)
			}
			c.Output = out
			return c
		}
		switch nd.kind {
		case kSmall:
			if !smallNeed[nd.out] {
				continue
			}
			if fold != nil {
				if v, ok := fold(n); ok {
					addInit(encodeValue(nm(nd.out), v))
					continue
				}
			}
			for _, in := range n.GetInput() {
				if err := constInit(in); err != nil {
					return nil, nil, err
				}
			}
			nodes = append(nodes, clone())
		case kAlias:
			nodes = append(nodes, onnx.Node("Identity", name, []string{nm(nd.in[0])}, out))
		case kMulti:
			for _, in := range nd.in {
				if t, ok := net.constT[in]; ok {
					v, err := net.constOperand(in, t)
					if err != nil {
						return nil, nil, err
					}
					addInit(encodeValue(prefix+in, v))
				}
			}
			nodes = append(nodes, clone())
		case kResize:
			c := clone()
			for _, in := range n.GetInput()[1:] {
				if err := constInit(in); err != nil {
					return nil, nil, err
				}
			}
			if nd.sizes != "" && attr(n, "axes") == nil && net.opset >= 11 {
				// sizes' = Concat(Shape(X)[0:2], sizes[2:4])
				x, s := c.Input[0], c.Input[3]
				sh, nc, hw, ns := name+"_shape", name+"_nc", name+"_hw", name+"_sizes"
				i0, i2, i4 := name+"_i0", name+"_i2", name+"_i4"
				addInit(onnx.Int64Vector(i0, 0))
				addInit(onnx.Int64Vector(i2, 2))
				addInit(onnx.Int64Vector(i4, 4))
				nodes = append(nodes,
					onnx.Node("Shape", sh, []string{x}, []string{sh}),
					onnx.Node("Slice", nc, []string{sh, i0, i2}, []string{nc}),
					onnx.Node("Slice", hw, []string{s, i2, i4}, []string{hw}),
					onnx.Node("Concat", ns, []string{nc, hw}, []string{ns}, onnx.AttrInt("axis", 0)))
				c.Input[3] = ns
			}
			nodes = append(nodes, c)
		case kLayer:
			in := nm(nd.in[0])
			switch l := nd.layer.(type) {
			case *graph.GConv2d:
				s := l.Spec
				ins := []string{in, param(l.Weight, s.OutC, s.InC/s.Groups, s.KH, s.KW)}
				if l.Bias != nil {
					ins = append(ins, param(l.Bias, s.OutC))
				}
				nodes = append(nodes, onnx.Node("Conv", name, ins, out,
					onnx.AttrInts("kernel_shape", int64(s.KH), int64(s.KW)),
					onnx.AttrInts("strides", int64(s.StrideH), int64(s.StrideW)),
					onnx.AttrInts("pads", int64(s.PadT), int64(s.PadL), int64(s.PadB), int64(s.PadR)),
					onnx.AttrInts("dilations", int64(s.DilH), int64(s.DilW)),
					onnx.AttrInt("group", int64(s.Groups))))
			case *graph.BatchNorm2d:
				ins := []string{in, param(l.Weight, l.C), param(l.Bias, l.C), param(l.RunningMean, l.C), param(l.RunningVar, l.C)}
				nodes = append(nodes, onnx.Node("BatchNormalization", name, ins, out,
					onnx.AttrFloat("epsilon", float32(l.Eps)), onnx.AttrFloat("momentum", float32(1-l.Momentum))))
			case *graph.Clip:
				if net.opset < 11 {
					nodes = append(nodes, onnx.Node("Clip", name, []string{in}, out, onnx.AttrFloat("min", l.Min), onnx.AttrFloat("max", l.Max)))
					break
				}
				ins := []string{in, "", ""}
				for i, v := range []float32{l.Min, l.Max} {
					if !math.IsInf(float64(v), 0) {
						t := fmt.Sprintf("%s_%s", name, []string{"min", "max"}[i])
						addInit(onnx.FloatTensor(t, nil, []float32{v}))
						ins[i+1] = t
					}
				}
				for len(ins) > 1 && ins[len(ins)-1] == "" {
					ins = ins[:len(ins)-1]
				}
				nodes = append(nodes, onnx.Node("Clip", name, ins, out))
			case *graph.GlobalAvgPool:
				nodes = append(nodes, onnx.Node("GlobalAveragePool", name, []string{in}, out))
			default: // Relu, Sigmoid, HardSigmoid, HardSwish, AveragePool, MaxPool
				c := clone()
				c.Input = []string{in}
				nodes = append(nodes, c)
			}
		}
	}
	return nodes, inits, nil
}

// constOperand returns the value of a constant operand of Mul or Add with
// its dimensions in the model.
func (net *Net) constOperand(name string, t *graph.Tensor) (*value, error) {
	if v, err := net.smallValue(name); err == nil {
		return v, nil
	}
	// A constant computed by nodes outside the net: write the broadcast
	// NCHW tensor.
	v := &value{dims: []int64{int64(t.N), int64(t.C), int64(t.H), int64(t.W)}, dtype: int32(pb.TensorProto_FLOAT)}
	for _, x := range t.Data {
		v.v = append(v.v, float64(x))
	}
	return v, nil
}

// Model returns the tail as an ONNX model of its own, with the net's
// current weights: its graph inputs are Inputs() (float, NCHW of free
// size) and its output is Output(). Reads of the image input's size are
// folded to the constant shape batch x C x H x W of the image size set
// (Options.H, SetImageSize). opset, IR version and opset imports are the
// source model's.
func (net *Net) Model(src *onnx.Model, batch int) (*onnx.Model, error) {
	if src == nil || src.Proto == nil {
		return nil, errors.New("lift: Model: nil source model")
	}
	out := net.output
	fold := func(n *pb.NodeProto) (*value, bool) {
		if n.GetOpType() != "Shape" || n.GetInput()[0] != net.image || net.image == net.from {
			return nil, false
		}
		for _, in := range net.inputs {
			if in == net.image {
				return nil, false
			}
		}
		return shapeValue(n, []int64{int64(batch), int64(net.imgC), int64(net.imgH), int64(net.imgW)}), true
	}
	nodes, inits, err := net.toONNX(net.from, out, "tail/", fold)
	if err != nil {
		return nil, err
	}
	g := &pb.GraphProto{Name: "lifted_tail", Node: nodes, Initializer: inits}
	for _, in := range net.inputs {
		g.Input = append(g.Input, onnx.TensorValueInfo(in, int32(pb.TensorProto_FLOAT), []int64{-1, -1, -1, -1}, nil))
	}
	g.Output = []*pb.ValueInfoProto{onnx.TensorValueInfo(out, int32(pb.TensorProto_FLOAT), []int64{-1, -1, -1, -1}, nil)}
	mp := &pb.ModelProto{IrVersion: src.Proto.GetIrVersion(), OpsetImport: src.Proto.GetOpsetImport(), ProducerName: "lmpseg-lift", Graph: g}
	if err := onnx.SortNodes(g); err != nil {
		return nil, err
	}
	return &onnx.Model{Proto: mp}, nil
}

// Checkpoint format (integers little-endian): magic "LMPLIFT\x00",
// version uint32 (1), uint32 tensor count, then per tensor uint32 name
// length, name, uint64 value count, float32 values; uint32 CRC-32 (IEEE)
// of everything before it. The tensors are Params() then Buffers().
const (
	ckptMagic   = "LMPLIFT\x00"
	ckptVersion = 1
)

// ErrCheckpoint is wrapped by the errors of UnmarshalBinary.
var ErrCheckpoint = errors.New("lift: bad checkpoint")

// MarshalBinary encodes the parameters and buffers of the net (not the
// gradients).
func (net *Net) MarshalBinary() ([]byte, error) {
	ts := append(append([]*graph.Param(nil), net.params...), net.bufs...)
	b := append([]byte(nil), ckptMagic...)
	b = binary.LittleEndian.AppendUint32(b, ckptVersion)
	b = graph.AppendParams(b, ts)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// UnmarshalBinary loads a checkpoint of MarshalBinary into the net, which
// must have been lifted the same way (the same tensors, names and sizes,
// in order). Corrupt data or a checkpoint of another net gives an error
// wrapping ErrCheckpoint and leaves the net unchanged.
func (net *Net) UnmarshalBinary(data []byte) error {
	if len(data) < len(ckptMagic)+12 || string(data[:len(ckptMagic)]) != ckptMagic {
		return fmt.Errorf("%w: missing magic header", ErrCheckpoint)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrCheckpoint)
	}
	r := body[len(ckptMagic):]
	next := func(n uint64) ([]byte, bool) {
		if n > uint64(len(r)) {
			return nil, false
		}
		v := r[:n]
		r = r[n:]
		return v, true
	}
	v, _ := next(4)
	if ver := binary.LittleEndian.Uint32(v); ver != ckptVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, ver, ckptVersion)
	}
	ts := append(append([]*graph.Param(nil), net.params...), net.bufs...)
	c, ok := next(4)
	if !ok {
		return fmt.Errorf("%w: truncated", ErrCheckpoint)
	}
	if n := binary.LittleEndian.Uint32(c); int(n) != len(ts) {
		return fmt.Errorf("%w: %d tensors, this net has %d", ErrCheckpoint, n, len(ts))
	}
	raws := make([][]byte, len(ts))
	for i, p := range ts {
		l, ok := next(4)
		if !ok {
			return fmt.Errorf("%w: truncated", ErrCheckpoint)
		}
		name, ok := next(uint64(binary.LittleEndian.Uint32(l)))
		if !ok {
			return fmt.Errorf("%w: truncated", ErrCheckpoint)
		}
		cnt, ok := next(8)
		if !ok {
			return fmt.Errorf("%w: truncated", ErrCheckpoint)
		}
		count := binary.LittleEndian.Uint64(cnt)
		if string(name) != p.Name || count != uint64(len(p.Data)) {
			return fmt.Errorf("%w: tensor %d is %q with %d values, this net has %q with %d", ErrCheckpoint, i, name, count, p.Name, len(p.Data))
		}
		if raws[i], ok = next(4 * count); !ok {
			return fmt.Errorf("%w: truncated", ErrCheckpoint)
		}
	}
	if len(r) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCheckpoint, len(r))
	}
	for i, p := range ts {
		for j := range p.Data {
			p.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raws[i][4*j:]))
		}
	}
	return nil
}
