package lift

import (
	"fmt"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/graph"
)

// Head adapts a lifted Net to graph.Trainable, the interface training,
// checkpoints, inference on a run and export use. A net that reads one
// frozen tensor takes it as it is; a net that reads several (Net.Inputs)
// takes them as one packed tensor (graph.PackTensors, in the order of
// Inputs), which is how the pipeline carries them.
type Head struct {
	Net     *Net
	classes int
}

var _ graph.Trainable = (*Head)(nil)

// NewHead returns the Head of net, which scores classes classes. The
// parameters of net that come from the model get the learning-rate
// multiplier lrMult (graph.Param.LRMult; 0 leaves them at the base rate),
// and freshly initialised classifiers the base rate.
func NewHead(net *Net, classes int, lrMult float64) *Head {
	fresh := map[*graph.Param]bool{}
	for _, p := range net.FreshParams() {
		fresh[p] = true
	}
	for _, p := range net.params {
		if !fresh[p] {
			p.LRMult = lrMult
		}
	}
	return &Head{Net: net, classes: classes}
}

// FreshParams returns the parameters of the classifiers that Lift replaced
// by freshly initialised ones (none when the model's were kept).
func (net *Net) FreshParams() []*graph.Param {
	var ps []*graph.Param
	for _, nd := range net.nodes {
		if nd.classifier && nd.conv != nil {
			ps = append(ps, nd.conv.Params()...)
		}
	}
	return ps
}

// Packed reports whether the head takes its inputs packed.
func (h *Head) Packed() bool { return len(h.Net.inputs) > 1 }

func (h *Head) inputs(x *graph.Tensor) ([]*graph.Tensor, error) {
	if !h.Packed() {
		return []*graph.Tensor{x}, nil
	}
	return graph.UnpackTensors(x, len(h.Net.inputs))
}

// CheckTensor implements graph.Trainable.
func (h *Head) CheckTensor(x *graph.Tensor) error {
	xs, err := h.inputs(x)
	if err != nil {
		return fmt.Errorf("lift: the lifted decoder reads %d tensors: %w", len(h.Net.inputs), err)
	}
	return h.Net.CheckInputs(xs)
}

// Forward implements graph.Trainable. It panics on inputs CheckTensor
// refuses.
func (h *Head) Forward(x *graph.Tensor, train bool) *graph.Tensor {
	xs, err := h.inputs(x)
	if err != nil {
		panic("lift: " + err.Error())
	}
	return h.Net.ForwardInputs(xs, train)
}

// Backward implements graph.Trainable.
func (h *Head) Backward(dy *graph.Tensor) { h.Net.Backward(dy) }

// Params implements graph.Trainable.
func (h *Head) Params() []*graph.Param { return h.Net.Params() }

// ZeroGrad implements graph.Trainable.
func (h *Head) ZeroGrad() { h.Net.ZeroGrad() }

// SetDropoutSeed implements graph.Trainable.
func (h *Head) SetDropoutSeed(seed uint64) { h.Net.SetDropoutSeed(seed) }

// SetThreads implements graph.Trainable.
func (h *Head) SetThreads(n int) { h.Net.SetThreads(n) }

// Classes implements graph.Trainable.
func (h *Head) Classes() int { return h.classes }

// MarshalBinary implements graph.Trainable.
func (h *Head) MarshalBinary() ([]byte, error) { return h.Net.MarshalBinary() }

// UnmarshalBinary loads a checkpoint of MarshalBinary (Net.UnmarshalBinary).
func (h *Head) UnmarshalBinary(data []byte) error { return h.Net.UnmarshalBinary(data) }

// ToONNX implements graph.Trainable (Net.ToONNX). The net's other inputs
// are read under their names in the model, not from a packed tensor, so
// the nodes belong in the whole model, not in its cut at input.
func (h *Head) ToONNX(input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto, error) {
	return h.Net.ToONNX(input, output, prefix)
}
