package graph

import (
	"fmt"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
)

// The fcn head, like torchvision's FCNHead: a 3x3 convolution without bias
// to Hidden channels, batch norm, ReLU, channel dropout and a 1x1
// convolution with bias to the classes. Its checkpoint holds conv.weight,
// bn.weight, bn.bias, classifier.weight, classifier.bias, then the buffers
// bn.running_mean and bn.running_var; it lowers to Conv (batch norm
// folded in), Relu, Conv.

func init() { registerHead(KindFCN, fcnHead{}) }

type fcnHead struct{}

func (fcnHead) normalize(s HeadSpec) (HeadSpec, error) {
	if s.Hidden == 0 {
		s.Hidden = 256
	}
	if s.Dropout == 0 {
		s.Dropout = 0.1
	}
	if s.Dropout < 0 {
		s.Dropout = -1
	}
	if s.Hidden < 1 || s.Hidden > 1<<16 {
		return s, fmt.Errorf("%w: hidden width %d", ErrSpec, s.Hidden)
	}
	if !(s.Dropout >= -1 && s.Dropout < 1) {
		return s, fmt.Errorf("%w: dropout %v outside [0,1)", ErrSpec, s.Dropout)
	}
	return s, nil
}

func (fcnHead) layers(s HeadSpec, seed int64) []Layer {
	return []Layer{
		NewConv2d("conv", s.InChannels, s.Hidden, 3, 1, 1, false),
		NewBatchNorm2d("bn", s.Hidden),
		&ReLU{},
		NewDropout2d(max(s.Dropout, 0), uint64(seed)^0x5eed),
		NewConv2d("classifier", s.Hidden, s.Classes, 1, 0, 1, true),
	}
}

func (fcnHead) tensors(s HeadSpec) []tensorSize {
	in, hid, k := uint64(s.InChannels), uint64(s.Hidden), uint64(s.Classes)
	return []tensorSize{
		{"conv.weight", hid * in * 9},
		{"bn.weight", hid}, {"bn.bias", hid},
		{"classifier.weight", k * hid}, {"classifier.bias", k},
		{"bn.running_mean", hid}, {"bn.running_var", hid},
	}
}

func (fcnHead) lower(layers []Layer, input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto) {
	c1, bn, c2 := layers[0].(*Conv2d), layers[1].(*BatchNorm2d), layers[4].(*Conv2d)
	var b1 []float32
	if c1.Bias != nil {
		b1 = c1.Bias.Data
	}
	w, b := FoldBN(c1.Weight.Data, b1, bn)
	mid := prefix + "conv_bn_out"
	act := prefix + "relu_out"
	n1, in1 := convNode(c1, w, b, input, mid, prefix+"conv")
	relu := onnx.Node("Relu", prefix+"relu", []string{mid}, []string{act})
	n2, in2 := convNode(c2, c2.Weight.Data, c2.Bias.Data, act, output, prefix+"classifier")
	return []*pb.NodeProto{n1, relu, n2}, append(in1, in2...)
}

// checkTrain refuses batches where batch norm would see one value per
// channel: the 3x3 convolution keeps the h x w size, so it sees n*h*w.
func (fcnHead) checkTrain(s HeadSpec, n, h, w int) error {
	if m := n * h * w; m < 2 {
		return shapeErrorf("graph: the fcn head's batch norm needs more than one feature value per channel in training; "+
			"a batch of %d of %dx%d features gives %d: use a batch of 2 or more, or a larger crop", n, h, w, m)
	}
	return nil
}
