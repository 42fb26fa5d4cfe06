package modelgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
)

// Layout of the pattern models: every one computes the same small network,
// only the way its graph is written differs.
const (
	PatternFeature = "feat_s4" // the feature tensor, 16 channels at stride 4
	PatternOutput  = "logits"  // the only graph output, TinyClasses scores at stride 4
	PatternStride  = 4
	PatternH       = 64 // the input size of the fixed-shape pattern
	PatternW       = 128
	// PatternMixChannels is the channel count of the channels-last stage of
	// the channels_last pattern; its NHWC tensor is PatternMixNHWC.
	PatternMixChannels = 24
	PatternMixNHWC     = "mix_biased_nhwc"
)

// A Pattern is one way in which the models users bring are written
// differently from the project's own: a fixed input shape, another layout or
// element type, weights stored in float16 or quantized, nodes out of order,
// an older opset. Model builds it, anew on every call.
type Pattern struct {
	Name  string // short name, usable as a file name
	Doc   string // what differs, in a sentence
	Model func() *pb.ModelProto
}

// patternSpec says how a pattern model departs from the plain network.
type patternSpec struct {
	fixedShape   bool  // input [1,3,PatternH,PatternW]
	batch1       bool  // input [1,3,height,width]
	nhwc         bool  // input [batch,height,width,3]
	uint8In      bool  // input uint8 0..255 (with nhwc), normalised in the graph
	half         bool  // input, weights, computation and output in float16
	halfWeights  bool  // float weights stored as float16, each Cast to float
	quantize     bool  // the second convolution quantized dynamically
	shuffle      bool  // the node list in a shuffled, not topological, order
	opset        int64 // 0: Opset
	channelsLast bool  // a channels-last stage between the second and third convolutions
	mixConv      bool  // the same stage as a 1x1 Conv in NCHW (the reference of channelsLast)
}

// Patterns returns the pattern models, in a fixed order:
//
//   - fixed_shape: input float32 [1,3,64,128];
//   - fixed_batch1: input float32 [1,3,height,width];
//   - nhwc: input float32 [batch,height,width,3], transposed in the graph;
//   - nhwc_uint8: input uint8 [batch,height,width,3] of 0..255 pixels, which
//     the graph casts to float and normalises (Sub, Div) before transposing;
//   - float16_io: input, output, weights and every operation in float16, as
//     a model converted to float16 entirely;
//   - float16_weights: float32 input, weights stored as float16 and Cast to
//     float32 before each Conv, as converted production models keep them;
//   - quant_dynamic: the second convolution quantized as onnxruntime's
//     quantize_dynamic writes it (DynamicQuantizeLinear, ConvInteger with
//     uint8 weights, Cast to float, Mul by the product of the scales, Add of
//     the bias);
//   - unsorted: the nodes in a shuffled order that is not topological;
//   - opset11: the default domain at opset 11 (IR version 6);
//   - channels_last: a Transpose to NHWC after the second convolution, a
//     MatMul there from 16 to PatternMixChannels channels (as a Linear
//     layer of ConvNeXt) and an Add of a bias, giving PatternMixNHWC, and a
//     Transpose back to NCHW.
//
// All compute the same network as nearly as their encoding allows: a
// stride-2 3x3 convolution to 8 channels, a stride-2 3x3 convolution to 16,
// a 3x3 convolution to the feature tensor PatternFeature (16 channels at
// stride 4, each convolution followed by Relu) and a 1x1 classifier to
// TinyClasses scores, PatternOutput, at stride 4. The float inputs are RGB
// normalised with Mean and Std on the 0..255 range; the uint8 input takes
// the pixel values themselves. Unlike the other generated models they carry
// no lmpseg metadata, as models from elsewhere do not.
func Patterns() []Pattern {
	mk := func(name, doc string, s patternSpec) Pattern {
		return Pattern{Name: name, Doc: doc, Model: func() *pb.ModelProto { return patternModel(name, doc, s) }}
	}
	return []Pattern{
		mk("fixed_shape", "fixed input shape [1,3,64,128]", patternSpec{fixedShape: true}),
		mk("fixed_batch1", "fixed batch of 1, dynamic height and width: [1,3,height,width]", patternSpec{batch1: true}),
		mk("nhwc", "channels-last float input [batch,height,width,3]", patternSpec{nhwc: true}),
		mk("nhwc_uint8", "channels-last uint8 input of 0..255 pixels, normalised in the graph (Cast, Sub, Div)", patternSpec{nhwc: true, uint8In: true}),
		mk("float16_io", "float16 input, weights, computation and output", patternSpec{half: true}),
		mk("float16_weights", "weights stored as float16, Cast to float32 before each Conv", patternSpec{halfWeights: true}),
		mk("quant_dynamic", "a dynamically quantized convolution (DynamicQuantizeLinear, ConvInteger, Cast, Mul)", patternSpec{quantize: true}),
		mk("unsorted", "nodes not in topological order", patternSpec{shuffle: true}),
		mk("opset11", "the default domain at opset 11", patternSpec{opset: 11}),
		mk("channels_last", "a channels-last stage (Transpose, MatMul, Transpose) between two convolutions", patternSpec{channelsLast: true}),
	}
}

// PatternModel returns the pattern model called name.
func PatternModel(name string) (*pb.ModelProto, error) {
	for _, p := range Patterns() {
		if p.Name == name {
			return p.Model(), nil
		}
	}
	return nil, fmt.Errorf("modelgen: no pattern %q", name)
}

// patternModel builds the pattern model s.
func patternModel(name, doc string, s patternSpec) *pb.ModelProto {
	rng := newRand(0x9a77)
	b := newBuilder("pattern_" + name)

	elem := pb.TensorProto_FLOAT
	switch {
	case s.half:
		elem = pb.TensorProto_FLOAT16
	case s.uint8In:
		elem = pb.TensorProto_UINT8
	}
	n, h, w := symbol("batch"), symbol("height"), symbol("width")
	oh, ow := symbol("height_s4"), symbol("width_s4")
	switch {
	case s.fixedShape:
		n, h, w = fixed(1), fixed(PatternH), fixed(PatternW)
		oh, ow = fixed(PatternH/PatternStride), fixed(PatternW/PatternStride)
	case s.batch1:
		n = fixed(1)
	}
	in := []dim{n, fixed(3), h, w}
	if s.nhwc {
		in = []dim{n, h, w, fixed(3)}
	}
	b.g.Input = []*pb.ValueInfoProto{typedValue("image", elem, in...)}

	x := "image"
	if s.uint8In {
		x = b.node("Cast", []string{x}, "image_float", attrInt("to", int64(pb.TensorProto_FLOAT)))
		x = b.node("Sub", []string{x, b.floats("pixel_mean", []int64{3}, Mean[:])}, "image_centred")
		x = b.node("Div", []string{x, b.floats("pixel_std", []int64{3}, Std[:])}, "image_normalised")
	}
	if s.nhwc {
		x = b.node("Transpose", []string{x}, "image_nchw", attrInts("perm", 0, 3, 1, 2))
	}

	s2 := stem(b, rng, x)
	a := smoothAndContrast(b, rng, s2, "block2.conv", "block2")
	const c = 16
	inC := c // channels into the third convolution
	if s.channelsLast || s.mixConv {
		inC = PatternMixChannels
		a = channelsLastStage(b, a, c, inC, s.mixConv)
	}
	f := block3(b, rng, a, c, inC)
	feat := b.node("Relu", []string{f}, PatternFeature)
	classifier(b, rng, feat, c, TinyClasses, PatternOutput)
	outElem := elem
	if s.uint8In {
		outElem = pb.TensorProto_FLOAT
	}
	b.g.Output = []*pb.ValueInfoProto{typedValue(PatternOutput, outElem, n, fixed(TinyClasses), oh, ow)}

	if s.quantize {
		quantizeConv(b.g, "block2.conv")
	}
	if s.halfWeights {
		castHalfWeights(b.g)
	}
	if s.half {
		for i, t := range b.g.Initializer {
			if t.DataType == int32(pb.TensorProto_FLOAT) {
				b.g.Initializer[i] = halfTensor(t.Name, t)
			}
		}
	}
	if s.shuffle {
		shuffleNodes(b.g, newRand(0x5eed))
	}

	m := bareModel(b.g, "Pattern "+name+" ("+doc+") of the tiny stride-4 test network, generated by lmpseg-modelgen.")
	if s.opset != 0 {
		m.OpsetImport[0].Version = s.opset
		if s.opset < 13 {
			m.IrVersion = 6 // what exporters of that time wrote
		}
	}
	return m
}

// typedValue is floatValue for element type elem.
func typedValue(name string, elem pb.TensorProto_DataType, dims ...dim) *pb.ValueInfoProto {
	v := floatValue(name, dims...)
	v.GetType().GetTensorType().ElemType = int32(elem)
	return v
}

// channelsLastStage adds a Transpose of the NCHW tensor x (c channels) to
// NHWC, a MatMul by a c x out matrix (the identity on the first c channels
// plus noise) and the Add of a bias there, and a Transpose back to NCHW,
// and returns the last tensor. With asConv it adds the same channel mixing
// as a 1x1 Conv on x instead.
func channelsLastStage(b *builder, x string, c, out int, asConv bool) string {
	rng := newRand(0xc1a5)
	m := make([]float32, c*out) // row i maps input channel i to the out channels
	for i := range c {
		m[i*out+i] = 1
	}
	jitter(m, rng, 0.2)
	bias := make([]float32, out)
	jitter(bias, rng, 0.05)
	if asConv {
		k := make([]float32, out*c) // Out x In: the transpose of m
		for i := range c {
			for j := range out {
				k[j*c+i] = m[i*out+j]
			}
		}
		return b.conv(convSpec{Name: "mix", Input: x, Out: out, In: c, K: 1, Weight: k, Bias: bias})
	}
	t := b.node("Transpose", []string{x}, x+"_nhwc", attrInts("perm", 0, 2, 3, 1))
	t = b.node("MatMul", []string{t, b.floats("mix.weight", []int64{int64(c), int64(out)}, m)}, "mix_nhwc")
	t = b.node("Add", []string{t, b.floats("mix.bias", []int64{int64(out)}, bias)}, PatternMixNHWC)
	return b.node("Transpose", []string{t}, "mix", attrInts("perm", 0, 3, 1, 2))
}

// quantizeConv replaces the Conv node of g whose output is out by the nodes
// onnxruntime's quantize_dynamic writes for it: the input quantized to uint8
// by DynamicQuantizeLinear, ConvInteger with the weights quantized per
// tensor to uint8 (zero point 128), Cast of the int32 sums to float, Mul by
// the product of the two scales and Add of the bias. The nodes take the
// Conv's place, and its float initializers are removed.
func quantizeConv(g *pb.GraphProto, out string) {
	at := -1
	for i, n := range g.Node {
		if n.OpType == "Conv" && len(n.Output) == 1 && n.Output[0] == out {
			at = i
		}
	}
	if at < 0 {
		panic("modelgen: no Conv node writes " + out)
	}
	conv := g.Node[at]
	w, wi := initializer(g, conv.Input[1])
	bias, _ := initializer(g, conv.Input[2])
	wv, bv := floatData(w), floatData(bias)

	var amax float64
	for _, v := range wv {
		amax = math.Max(amax, math.Abs(float64(v)))
	}
	scale := float32(amax / 127)
	q := make([]byte, len(wv))
	for i, v := range wv {
		q[i] = byte(min(max(math.RoundToEven(float64(v/scale))+128, 0), 255))
	}
	p := out + "_quant"
	inits := []*pb.TensorProto{
		{Name: p + ".weight", Dims: w.Dims, DataType: int32(pb.TensorProto_UINT8), RawData: q},
		{Name: p + ".weight_zero_point", DataType: int32(pb.TensorProto_UINT8), RawData: []byte{128}},
		onnx.FloatTensor(p+".weight_scale", nil, []float32{scale}),
		onnx.FloatTensor(p+".bias", []int64{1, int64(len(bv)), 1, 1}, bv),
	}
	nodes := []*pb.NodeProto{
		onnx.Node("DynamicQuantizeLinear", p+"_dql", []string{conv.Input[0]},
			[]string{p + "_x", p + "_x_scale", p + "_x_zero_point"}),
		onnx.Node("ConvInteger", p+"_conv", []string{p + "_x", p + ".weight", p + "_x_zero_point", p + ".weight_zero_point"},
			[]string{p + "_int32"}, conv.Attribute...),
		onnx.Node("Cast", p+"_cast", []string{p + "_int32"}, []string{p + "_float"}, attrInt("to", int64(pb.TensorProto_FLOAT))),
		onnx.Node("Mul", p+"_scales", []string{p + "_x_scale", p + ".weight_scale"}, []string{p + "_scale"}),
		onnx.Node("Mul", p+"_rescale", []string{p + "_float", p + "_scale"}, []string{p + "_scaled"}),
		onnx.Node("Add", p+"_bias", []string{p + "_scaled", p + ".bias"}, []string{out}),
	}
	g.Node = append(g.Node[:at], append(nodes, g.Node[at+1:]...)...)
	kept := g.Initializer[:0]
	for i, t := range g.Initializer {
		if i != wi && t.Name != conv.Input[2] {
			kept = append(kept, t)
		}
	}
	g.Initializer = append(kept, inits...)
}

// castHalfWeights stores every float initializer of g as float16 under the
// name NAME_fp16 and adds, at the start of the graph, a Cast to float that
// writes NAME, so that the readers are unchanged.
func castHalfWeights(g *pb.GraphProto) {
	var casts []*pb.NodeProto
	for i, t := range g.Initializer {
		if t.DataType != int32(pb.TensorProto_FLOAT) {
			continue
		}
		h := t.Name + "_fp16"
		g.Initializer[i] = halfTensor(h, t)
		casts = append(casts, onnx.Node("Cast", t.Name+"_cast", []string{h}, []string{t.Name}, attrInt("to", int64(pb.TensorProto_FLOAT))))
	}
	g.Node = append(casts, g.Node...)
}

// shuffleNodes permutes the nodes of g until at least one reads a value that
// a later node writes.
func shuffleNodes(g *pb.GraphProto, rng *rand.Rand) {
	for {
		rng.Shuffle(len(g.Node), func(i, j int) { g.Node[i], g.Node[j] = g.Node[j], g.Node[i] })
		if !topological(g) {
			return
		}
	}
}

// topological reports whether every node input of g is a graph input, an
// initializer or the output of an earlier node.
func topological(g *pb.GraphProto) bool {
	have := map[string]bool{"": true}
	for _, v := range g.Input {
		have[v.Name] = true
	}
	for _, t := range g.Initializer {
		have[t.Name] = true
	}
	for _, n := range g.Node {
		for _, in := range n.Input {
			if !have[in] {
				return false
			}
		}
		for _, o := range n.Output {
			have[o] = true
		}
	}
	return true
}

// initializer returns the initializer of g called name and its index; it
// panics when there is none.
func initializer(g *pb.GraphProto, name string) (*pb.TensorProto, int) {
	for i, t := range g.Initializer {
		if t.Name == name {
			return t, i
		}
	}
	panic("modelgen: no initializer " + name)
}

// floatData decodes the raw_data of a float32 initializer.
func floatData(t *pb.TensorProto) []float32 {
	v := make([]float32, len(t.RawData)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
	}
	return v
}

// halfTensor returns the float32 initializer t as a float16 initializer
// called name, its values rounded to the nearest float16 (raw_data,
// little-endian).
func halfTensor(name string, t *pb.TensorProto) *pb.TensorProto {
	v := floatData(t)
	raw := make([]byte, 2*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint16(raw[2*i:], toHalf(f))
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT16), Dims: append([]int64(nil), t.Dims...), RawData: raw}
}

// toHalf returns the bits of the float16 nearest to f, ties to even. Values
// beyond the float16 range become infinite; NaN stays NaN.
func toHalf(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	a := math.Abs(float64(f))
	switch {
	case math.IsNaN(a):
		return sign | 0x7e00
	case a >= 65520: // halfway between the largest float16 and 2^16 rounds to infinity
		return sign | 0x7c00
	case a < 0x1p-14:
		// Subnormal: a multiple of 2^-24, rounded to even.
		return sign | uint16(math.RoundToEven(a*0x1p24))
	}
	frac, exp := math.Frexp(a)         // a = frac * 2^exp, frac in [0.5, 1)
	m := math.RoundToEven(frac * 2048) // 11 significant bits
	if m == 2048 {
		m, exp = 1024, exp+1
	}
	return sign | uint16(exp+14)<<10 | (uint16(m) - 1024)
}
