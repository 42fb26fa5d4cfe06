package graph

import (
	"errors"
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
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

// convNode returns a Conv node (opset >= 11 semantics: explicit pads,
// strides 1, group 1) and its initializers, the weight and, when b is not
// nil, the bias.
func convNode(c *Conv2d, w, b []float32, in, out, name string) (*pb.NodeProto, []*pb.TensorProto) {
	k, p, d := int64(c.K), int64(c.Pad), int64(c.Dil)
	inits := []*pb.TensorProto{onnx.FloatTensor(name+".weight", onnx.Dims(c.OutC, c.InC, c.K, c.K), w)}
	inputs := []string{in, name + ".weight"}
	if b != nil {
		inits = append(inits, onnx.FloatTensor(name+".bias", onnx.Dims(c.OutC), b))
		inputs = append(inputs, name+".bias")
	}
	n := onnx.Node("Conv", name, inputs, []string{out},
		onnx.AttrInts("kernel_shape", k, k),
		onnx.AttrInts("pads", p, p, p, p),
		onnx.AttrInts("dilations", d, d),
		onnx.AttrInts("strides", 1, 1),
		onnx.AttrInt("group", 1),
	)
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
	if h.kind == nil {
		return nil, nil, errors.New("graph: ToONNX: zero Head (use NewHead or UnmarshalBinary)")
	}
	nodes, inits := h.kind.lower(h.layers, input, output, prefix)
	return nodes, inits, nil
}
