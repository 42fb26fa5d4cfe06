package graph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// FoldBN returns the weight and bias of a convolution followed by batch
// norm in inference mode as one convolution: w'[o] = w[o]*s[o] and
// b'[o] = (b[o]-mean[o])*s[o] + beta[o] with s = gamma/sqrt(var+eps).
// bias may be nil (no convolution bias); the results are new slices. The
// arithmetic is done in float64.
func FoldBN(weight, bias []float32, bn *BatchNorm2d) (w, b []float32) {
	out := bn.C
	if out == 0 || len(weight)%out != 0 || (bias != nil && len(bias) != out) {
		panic(fmt.Sprintf("graph: FoldBN: %d weights, %d biases for %d channels", len(weight), len(bias), out))
	}
	per := len(weight) / out
	w = make([]float32, len(weight))
	b = make([]float32, out)
	for o := 0; o < out; o++ {
		s := float64(bn.Weight.Data[o]) / math.Sqrt(float64(bn.RunningVar.Data[o])+bn.Eps)
		for i := 0; i < per; i++ {
			w[o*per+i] = float32(float64(weight[o*per+i]) * s)
		}
		var b0 float64
		if bias != nil {
			b0 = float64(bias[o])
		}
		b[o] = float32((b0-float64(bn.RunningMean.Data[o]))*s + float64(bn.Bias.Data[o]))
	}
	return w, b
}

// floatInit returns a float32 initializer with its values in raw_data,
// little-endian.
func floatInit(name string, data []float32, dims ...int) *pb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT), Dims: d, RawData: raw}
}

func intsAttr(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}

// convNode returns a Conv node (opset >= 11 semantics: explicit pads,
// strides 1, group 1) and its initializers.
func convNode(c *Conv2d, w, b []float32, in, out, name string) (*pb.NodeProto, []*pb.TensorProto) {
	k, p, d := int64(c.K), int64(c.Pad), int64(c.Dil)
	inits := []*pb.TensorProto{floatInit(name+".weight", w, c.OutC, c.InC, c.K, c.K)}
	inputs := []string{in, name + ".weight"}
	if b != nil {
		inits = append(inits, floatInit(name+".bias", b, c.OutC))
		inputs = append(inputs, name+".bias")
	}
	n := &pb.NodeProto{
		Name:   name,
		OpType: "Conv",
		Input:  inputs,
		Output: []string{out},
		Attribute: []*pb.AttributeProto{
			intsAttr("kernel_shape", k, k),
			intsAttr("pads", p, p, p, p),
			intsAttr("dilations", d, d),
			intsAttr("strides", 1, 1),
			{Name: "group", Type: pb.AttributeProto_INT, I: 1},
		},
	}
	return n, inits
}

// ToONNX lowers the inference graph of the head to ONNX nodes from tensor
// input (the features, N x InChannels x h x w) to tensor output (the
// low-resolution logits). Batch norm is folded into the preceding
// convolution and dropout is left out, so an fcn head becomes Conv, Relu,
// Conv and a linear head one Conv. Node, initializer and intermediate
// tensor names start with prefix. Initializers hold float32 values in
// raw_data, little-endian. The nodes need opset 13 or later (any opset >= 11
// reads them the same way).
func (h *Head) ToONNX(input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto, error) {
	if input == "" || output == "" {
		return nil, nil, errors.New("graph: ToONNX: empty input or output name")
	}
	if input == output {
		return nil, nil, fmt.Errorf("graph: ToONNX: input and output are both %q", input)
	}
	var nodes []*pb.NodeProto
	var inits []*pb.TensorProto
	switch h.spec.Kind {
	case KindLinear:
		c := h.convs[0]
		n, in := convNode(c, c.Weight.Data, c.Bias.Data, input, output, prefix+"classifier")
		nodes, inits = append(nodes, n), append(inits, in...)
	case KindFCN:
		c1, c2 := h.convs[0], h.convs[1]
		var b1 []float32
		if c1.Bias != nil {
			b1 = c1.Bias.Data
		}
		w, b := FoldBN(c1.Weight.Data, b1, h.bn)
		mid := prefix + "conv_bn_out"
		act := prefix + "relu_out"
		n1, in1 := convNode(c1, w, b, input, mid, prefix+"conv")
		relu := &pb.NodeProto{Name: prefix + "relu", OpType: "Relu", Input: []string{mid}, Output: []string{act}}
		n2, in2 := convNode(c2, c2.Weight.Data, c2.Bias.Data, act, output, prefix+"classifier")
		nodes = append(nodes, n1, relu, n2)
		inits = append(inits, in1...)
		inits = append(inits, in2...)
	default:
		return nil, nil, fmt.Errorf("graph: ToONNX: unknown head kind %q", h.spec.Kind)
	}
	return nodes, inits, nil
}
