package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
)

// InputInfo is what a Session decided about its image input: Session.Run
// and Backbone.Run always take NCHW float32 images, which the session turns
// into what the model wants before calling onnxruntime.
type InputInfo struct {
	// Layout is "nchw", or "nhwc" for an input [N,H,W,C] (its last
	// dimension a static channel count of at most 4 and its second one
	// not): images are transposed.
	Layout string
	// ElemType is the input's element type: "float32"; "float16", to
	// which values are rounded; or "uint8", to which values are rounded
	// and clamped to 0..255 (such a model wants the 0..255 pixel values,
	// not normalised ones).
	ElemType string
	// Channels is the static channel count, or 3 when the model leaves
	// it free.
	Channels int
	// StaticBatch, StaticH and StaticW are the static batch size, height
	// and width, 0 where the model leaves them free. A model with a
	// static batch of 1 is run image by image when a larger batch is
	// given, the outputs stacked along their first dimension.
	StaticBatch int
	StaticH     int
	StaticW     int
}

// imageInput describes the input in: its layout and type, and its
// dimensions in NCHW order (-1 where free; nil when the model gives no
// shape).
func imageInput(in *pb.ValueInfoProto) (InputInfo, []int64, error) {
	tt := in.GetType().GetTensorType()
	if tt == nil {
		return InputInfo{}, nil, fmt.Errorf("onnx: input %q is not a tensor", in.GetName())
	}
	info := InputInfo{Layout: "nchw", Channels: 3}
	switch et := tt.GetElemType(); pb.TensorProto_DataType(et) {
	case pb.TensorProto_FLOAT, pb.TensorProto_FLOAT16, pb.TensorProto_UINT8:
		info.ElemType = ElemTypeName(et)
	default:
		return InputInfo{}, nil, fmt.Errorf("onnx: input %q has element type %s; a float32, float16 or uint8 image input is needed", in.GetName(), ElemTypeName(et))
	}
	sh := tt.GetShape()
	if sh == nil {
		return info, nil, nil
	}
	var dims []int64
	for _, d := range sh.GetDim() {
		if v := d.GetDimValue(); v > 0 {
			dims = append(dims, v)
		} else {
			dims = append(dims, -1)
		}
	}
	if len(dims) != 4 {
		return InputInfo{}, nil, fmt.Errorf("onnx: input %q has rank %d; an image input of rank 4 (NCHW or NHWC) is needed", in.GetName(), len(dims))
	}
	small := func(d int64) bool { return d > 0 && d <= 4 }
	nchw := dims
	if small(dims[3]) && !small(dims[1]) {
		info.Layout = "nhwc"
		nchw = []int64{dims[0], dims[3], dims[1], dims[2]}
	}
	if nchw[1] > 0 {
		info.Channels = int(nchw[1])
	}
	pos := func(d int64) int { return int(max(d, 0)) }
	info.StaticBatch, info.StaticH, info.StaticW = pos(nchw[0]), pos(nchw[2]), pos(nchw[3])
	return info, nchw, nil
}

// InputLayout returns what the session decided about its image input.
func (s *Session) InputLayout() InputInfo { return s.info }

// inputValue returns the onnxruntime value of the NCHW float32 batch x in
// the model's layout and element type.
func (s *Session) inputValue(x []float32, n, c, h, w int) (ort.Value, error) {
	shape := ort.NewShape(int64(n), int64(c), int64(h), int64(w))
	if s.info.Layout == "nhwc" {
		shape = ort.NewShape(int64(n), int64(h), int64(w), int64(c))
		t := make([]float32, len(x))
		nchwToNHWC(t, x, n, c, h*w)
		x = t
	}
	var v ort.Value
	var err error
	switch s.info.ElemType {
	case "float32":
		v, err = ort.NewTensor(shape, x)
	case "uint8":
		b := make([]uint8, len(x))
		for i, f := range x {
			b[i] = uint8(math.Round(float64(min(max(f, 0), 255))))
		}
		v, err = ort.NewTensor(shape, b)
	case "float16":
		b := make([]byte, 2*len(x))
		for i, f := range x {
			binary.LittleEndian.PutUint16(b[2*i:], f32ToF16(f))
		}
		v, err = ort.NewCustomDataTensor(shape, b, ort.TensorElementDataTypeFloat16)
	default:
		panic("onnx: input element type " + s.info.ElemType)
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: input tensor: %s", trimLines(err.Error()))
	}
	return v, nil
}

// nchwToNHWC writes the n images of c channels and hw pixels of src, NCHW,
// into dst in NHWC order.
func nchwToNHWC(dst, src []float32, n, c, hw int) {
	for i := range n {
		s := src[i*c*hw : (i+1)*c*hw]
		d := dst[i*c*hw : (i+1)*c*hw]
		for ch := range c {
			plane := s[ch*hw : (ch+1)*hw]
			for p, v := range plane {
				d[p*c+ch] = v
			}
		}
	}
}

// f32ToF16 returns the float16 nearest to f (ties to even), infinite beyond
// the float16 range; NaN stays NaN.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	switch {
	case e >= 31:
		return sign | 0x7c00
	case e <= 0:
		if e < -10 {
			return sign // below half the smallest subnormal
		}
		m := man | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem, half := m&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || rem == half && h&1 == 1 {
			h++ // may carry into the smallest normal: still right
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	if rem := man & 0x1fff; rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent, up to infinity: still right
	}
	return sign | uint16(h)
}

// hasType reports whether one of types is t.
func hasType(types map[string]int32, t int32) bool {
	for _, v := range types {
		if v == t {
			return true
		}
	}
	return false
}

// castFloat16Outputs changes m (a copy the session owns) so that each of
// its graph outputs names whose element type in types is float16 is cast to
// float32 inside the graph, since onnxruntime_go cannot return float16
// outputs. It returns the names to ask onnxruntime for and, per output,
// "float16" for the cast ones ("" for the others).
func castFloat16Outputs(m *Model, names []string, types map[string]int32) (ortNames, outTypes []string) {
	g := m.Proto.GetGraph()
	prefix := uniquePrefix(g, "lmpseg_float32_")
	ortNames = make([]string, len(names))
	outTypes = make([]string, len(names))
	pos := map[string]int{}
	for i, v := range g.Output {
		pos[v.GetName()] = i
	}
	for i, n := range names {
		ortNames[i] = n
		if types[n] != int32(pb.TensorProto_FLOAT16) {
			continue
		}
		c := prefix + strconv.Itoa(i)
		g.Node = append(g.Node, &pb.NodeProto{Name: c, OpType: "Cast", Input: []string{n}, Output: []string{c},
			Attribute: []*pb.AttributeProto{{Name: "to", Type: pb.AttributeProto_INT, I: int64(pb.TensorProto_FLOAT)}}})
		g.Output[pos[n]] = FloatValueInfo(c, nil)
		ortNames[i], outTypes[i] = c, "float16"
	}
	return ortNames, outTypes
}
