package graph

import pb "github.com/advancedclimatesystems/gonnx/onnx"

// The linear head: one 1x1 convolution with bias from the features to the
// classes. Its checkpoint holds classifier.weight and classifier.bias; it
// lowers to one ONNX Conv.

func init() { registerHead(KindLinear, linearHead{}) }

type linearHead struct{}

func (linearHead) normalize(s HeadSpec) (HeadSpec, error) {
	s.Hidden, s.Dropout = 0, 0
	return s, nil
}

func (linearHead) layers(s HeadSpec, _ int64) []Layer {
	return []Layer{NewConv2d("classifier", s.InChannels, s.Classes, 1, 0, 1, true)}
}

func (linearHead) tensors(s HeadSpec) []tensorSize {
	in, k := uint64(s.InChannels), uint64(s.Classes)
	return []tensorSize{{"classifier.weight", k * in}, {"classifier.bias", k}}
}

func (linearHead) lower(layers []Layer, input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto) {
	c := layers[0].(*Conv2d)
	n, inits := convNode(c, c.Weight.Data, c.Bias.Data, input, output, prefix+"classifier")
	return []*pb.NodeProto{n}, inits
}

func (linearHead) checkTrain(HeadSpec, int, int, int) error { return nil }
