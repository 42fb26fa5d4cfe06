package graph

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Head kinds.
const (
	KindLinear = "linear"
	KindFCN    = "fcn"
)

// HeadSpec describes a segmentation head. Kind is "linear" (one 1x1
// convolution with bias from the features to the classes) or "fcn" (3x3
// convolution without bias, batch norm, ReLU, channel dropout and a 1x1
// convolution with bias, like torchvision's FCNHead). Hidden is the width
// of the fcn head (256 when 0) and Dropout its dropout probability (0.1
// when 0; a negative value means no dropout and is kept as given, so that
// a normalised spec normalises to itself).
type HeadSpec struct {
	Kind       string  `json:"kind"`
	InChannels int     `json:"in_channels"`
	Classes    int     `json:"classes"`
	Hidden     int     `json:"hidden"`
	Dropout    float64 `json:"dropout"`
}

// ErrSpec is wrapped by the errors NewHead returns for invalid specs.
var ErrSpec = errors.New("graph: invalid head spec")

// normalized fills in the defaults and validates the spec.
func (s HeadSpec) normalized() (HeadSpec, error) {
	switch s.Kind {
	case KindLinear:
		s.Hidden, s.Dropout = 0, 0
	case KindFCN:
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
	default:
		return s, fmt.Errorf("%w: kind %q (want linear or fcn)", ErrSpec, s.Kind)
	}
	if s.InChannels < 1 || s.InChannels > 1<<16 {
		return s, fmt.Errorf("%w: %d input channels", ErrSpec, s.InChannels)
	}
	if s.Classes < 1 || s.Classes > 1<<16 {
		return s, fmt.Errorf("%w: %d classes", ErrSpec, s.Classes)
	}
	return s, nil
}

// Head is a trainable segmentation head over frozen backbone features.
// Forward maps features N x InChannels x h x w to low-resolution logits
// N x Classes x h x w; the loss (PixelCE) upsamples them to label size.
// A Head keeps the activations of its last Forward for Backward, so it is
// not safe for concurrent use, and a Forward between a training Forward
// and its Backward (say, for validation) must not happen.
type Head struct {
	spec   HeadSpec
	layers []Layer
	convs  []*Conv2d
	bn     *BatchNorm2d
	drop   *Dropout2d
}

// NewHead builds the head described by spec with Kaiming (He) normal
// weights, std sqrt(2/fan_in), drawn from a generator seeded with seed;
// biases start at 0. The spec is normalised (defaults filled in); Spec
// returns the normalised one.
func NewHead(spec HeadSpec, seed int64) (*Head, error) {
	s, err := spec.normalized()
	if err != nil {
		return nil, err
	}
	h := &Head{spec: s}
	switch s.Kind {
	case KindLinear:
		c := NewConv2d("classifier", s.InChannels, s.Classes, 1, 0, 1, true)
		h.convs = []*Conv2d{c}
		h.layers = []Layer{c}
	case KindFCN:
		c1 := NewConv2d("conv", s.InChannels, s.Hidden, 3, 1, 1, false)
		h.bn = NewBatchNorm2d("bn", s.Hidden)
		h.drop = NewDropout2d(max(s.Dropout, 0), uint64(seed)^0x5eed)
		c2 := NewConv2d("classifier", s.Hidden, s.Classes, 1, 0, 1, true)
		h.convs = []*Conv2d{c1, c2}
		h.layers = []Layer{c1, h.bn, &ReLU{}, h.drop, c2}
	}
	h.convs[0].SkipInputGrad = true
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4a11ce))
	for _, c := range h.convs {
		std := math.Sqrt(2 / float64(c.InC*c.K*c.K))
		for i := range c.Weight.Data {
			c.Weight.Data[i] = float32(rng.NormFloat64() * std)
		}
	}
	return h, nil
}

// Spec returns the normalised spec of the head.
func (h *Head) Spec() HeadSpec { return h.spec }

// Forward returns the low-resolution logits for features x. In training
// mode batch norm uses batch statistics (and updates its running ones) and
// dropout is active. It panics when x has the wrong number of channels.
func (h *Head) Forward(x *Tensor, train bool) *Tensor {
	for _, l := range h.layers {
		x = l.Forward(x, train)
	}
	return x
}

// Backward accumulates the parameter gradients for the logit gradient dy
// of the last Forward. No gradient reaches the features.
func (h *Head) Backward(dy *Tensor) {
	for i := len(h.layers) - 1; i >= 0; i-- {
		dy = h.layers[i].Backward(dy)
	}
}

// Params returns the trainable parameters in a fixed order.
func (h *Head) Params() []*Param {
	var ps []*Param
	for _, l := range h.layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Buffers returns the batch-norm running statistics (empty for a linear
// head): checkpointed, not optimised.
func (h *Head) Buffers() []*Param {
	if h.bn == nil {
		return nil
	}
	return h.bn.Buffers()
}

// ZeroGrad sets all parameter gradients to zero.
func (h *Head) ZeroGrad() {
	for _, p := range h.Params() {
		clear(p.Grad)
	}
}
