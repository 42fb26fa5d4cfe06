package modelgen

import (
	"encoding/json"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/onnx"
)

// Fixed identity of every generated model.
const (
	IRVersion = 8
	Opset     = 17
	Producer  = "lmpseg-modelgen"
	Version   = "1"
)

// Metadata keys written into the metadata_props of every generated model.
// MetaPreprocess is the key lmpseg export uses too (infer.KeyPreprocess): the
// JSON of a data.Preprocess, here ImageNet Mean and Std on the 0..255 range,
// RGB, so eval and predict read a generated backbone like an exported model.
const (
	MetaPreprocess = infer.KeyPreprocess
	MetaFeature    = infer.KeyFeature // name of the suggested feature tensor
	MetaStride     = "lmpseg.stride"  // stride of that tensor relative to the input
)

// Mean and Std are the ImageNet channel statistics on the 0..255 range (RGB)
// that all generated models expect their input to be normalised with.
var (
	Mean = [3]float32{123.675, 116.28, 103.53}
	Std  = [3]float32{58.395, 57.12, 57.375}
)

// builder accumulates the nodes and initializers of one graph.
type builder struct {
	g *pb.GraphProto
}

func newBuilder(name string) *builder {
	return &builder{g: &pb.GraphProto{Name: name}}
}

// floats adds a float32 initializer stored as little-endian raw_data.
func (b *builder) floats(name string, dims []int64, data []float32) string {
	b.g.Initializer = append(b.g.Initializer, onnx.FloatTensor(name, dims, data))
	return name
}

// node appends a node whose single output is named out and returns out.
func (b *builder) node(op string, in []string, out string, attrs ...*pb.AttributeProto) string {
	b.g.Node = append(b.g.Node, onnx.Node(op, out+"_"+op, in, []string{out}, attrs...))
	return out
}

// convSpec describes a 2-D convolution; Pad is symmetric on all sides.
type convSpec struct {
	Out, In, K   int
	Stride, Pad  int
	Dilation     int
	Weight, Bias []float32 // Weight is Out x In x K x K; Bias may be nil
	Name, Input  string
	OutputTensor string
}

// conv adds a Conv node with its weight and bias initializers.
func (b *builder) conv(c convSpec) string {
	if c.Stride == 0 {
		c.Stride = 1
	}
	if c.Dilation == 0 {
		c.Dilation = 1
	}
	out := c.OutputTensor
	if out == "" {
		out = c.Name
	}
	w := b.floats(c.Name+".weight", []int64{int64(c.Out), int64(c.In), int64(c.K), int64(c.K)}, c.Weight)
	in := []string{c.Input, w}
	if c.Bias != nil {
		in = append(in, b.floats(c.Name+".bias", []int64{int64(c.Out)}, c.Bias))
	}
	p := int64(c.Pad)
	return b.node("Conv", in, out,
		attrInts("dilations", int64(c.Dilation), int64(c.Dilation)),
		attrInt("group", 1),
		attrInts("kernel_shape", int64(c.K), int64(c.K)),
		attrInts("pads", p, p, p, p),
		attrInts("strides", int64(c.Stride), int64(c.Stride)),
	)
}

// avgPool adds an AveragePool node with a square kernel.
func (b *builder) avgPool(x, out string, k, stride, pad int, countPad bool) string {
	cp := int64(0)
	if countPad {
		cp = 1
	}
	p := int64(pad)
	return b.node("AveragePool", []string{x}, out,
		attrInt("count_include_pad", cp),
		attrInts("kernel_shape", int64(k), int64(k)),
		attrInts("pads", p, p, p, p),
		attrInts("strides", int64(stride), int64(stride)),
	)
}

// resizeLike adds a bilinear (half_pixel) Resize of x to the 4-D sizes tensor.
func (b *builder) resizeTo(x, sizes, out string) string {
	return b.node("Resize", []string{x, "", "", sizes}, out,
		attrString("coordinate_transformation_mode", "half_pixel"),
		attrString("mode", "linear"),
	)
}

// The attribute constructors of package onnx, under the short names the
// generators use.
var (
	attrInt    = onnx.AttrInt
	attrInts   = onnx.AttrInts
	attrString = onnx.AttrString
	attrFloat  = onnx.AttrFloat
)

// dim is one dimension of a value info: a fixed size, or a symbolic name when
// Param is not empty.
type dim struct {
	Value int64
	Param string
}

func fixed(v int64) dim   { return dim{Value: v} }
func symbol(p string) dim { return dim{Param: p} }

// floatValue returns the value info of a float32 tensor with the given dims.
func floatValue(name string, dims ...dim) *pb.ValueInfoProto {
	ds := make([]any, len(dims))
	for i, d := range dims {
		if d.Param != "" {
			ds[i] = d.Param
		} else {
			ds[i] = d.Value
		}
	}
	return onnx.ValueInfo(name, pb.TensorProto_FLOAT, ds...)
}

// bareModel wraps a finished graph into a ModelProto with the fixed identity
// (IR version, opset, producer, domain) and no metadata.
func bareModel(g *pb.GraphProto, doc string) *pb.ModelProto {
	return &pb.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    Producer,
		ProducerVersion: Version,
		Domain:          "io.github.lmpseg",
		ModelVersion:    1,
		DocString:       doc,
		Graph:           g,
	}
}

// model wraps a finished graph into a ModelProto with the fixed identity and
// the normalisation metadata. extra holds further key/value pairs, in order.
func model(g *pb.GraphProto, doc string, extra ...string) *pb.ModelProto {
	if len(extra)%2 != 0 {
		panic("modelgen: odd metadata list")
	}
	pre, err := json.Marshal(data.Preprocess{Mean: Mean, Std: Std, Range: "0-255", Channels: "RGB"})
	if err != nil {
		panic("modelgen: " + err.Error())
	}
	meta := []string{MetaPreprocess, string(pre)}
	meta = append(meta, extra...)
	m := bareModel(g, doc)
	for i := 0; i < len(meta); i += 2 {
		m.MetadataProps = append(m.MetadataProps, &pb.StringStringEntryProto{Key: meta[i], Value: meta[i+1]})
	}
	return m
}
