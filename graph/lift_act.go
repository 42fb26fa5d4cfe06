package graph

import (
	"fmt"
	"math"
)

// The element-wise activations of ONNX that torchvision's segmentation
// models use besides Relu: Clip (ReLU6), HardSigmoid, HardSwish and
// Sigmoid. Each keeps its input (or output) for Backward.

// Clip is min(max(x, Min), Max) element-wise (ONNX Clip; ReLU6 is Min 0,
// Max 6). The gradient passes where Min < x < Max.
type Clip struct {
	Min, Max float32
	x        *Tensor
}

// NewClip returns a Clip to [lo, hi]; use ±Inf for a missing bound.
func NewClip(lo, hi float32) *Clip { return &Clip{Min: lo, Max: hi} }

// Forward clips x.
func (c *Clip) Forward(x *Tensor, train bool) *Tensor {
	c.x = x
	y := NewTensor(x.N, x.C, x.H, x.W)
	for i, v := range x.Data {
		y.Data[i] = min(max(v, c.Min), c.Max)
	}
	return y
}

// Backward passes dy where the input lay strictly inside the bounds.
func (c *Clip) Backward(dy *Tensor) *Tensor {
	checkAct("clip", c.x, dy)
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	for i, v := range c.x.Data {
		if v > c.Min && v < c.Max {
			dx.Data[i] = dy.Data[i]
		}
	}
	return dx
}

// Params returns nil.
func (c *Clip) Params() []*Param { return nil }

// HardSigmoid is max(0, min(1, Alpha*x + Beta)) element-wise (ONNX
// defaults Alpha 0.2, Beta 0.5; PyTorch's hardsigmoid is Alpha 1/6).
type HardSigmoid struct {
	Alpha, Beta float32
	x           *Tensor
}

// Forward applies the hard sigmoid.
func (h *HardSigmoid) Forward(x *Tensor, train bool) *Tensor {
	h.x = x
	y := NewTensor(x.N, x.C, x.H, x.W)
	for i, v := range x.Data {
		y.Data[i] = min(max(h.Alpha*v+h.Beta, 0), 1)
	}
	return y
}

// Backward passes Alpha*dy where 0 < Alpha*x + Beta < 1.
func (h *HardSigmoid) Backward(dy *Tensor) *Tensor {
	checkAct("hardsigmoid", h.x, dy)
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	for i, v := range h.x.Data {
		if u := h.Alpha*v + h.Beta; u > 0 && u < 1 {
			dx.Data[i] = h.Alpha * dy.Data[i]
		}
	}
	return dx
}

// Params returns nil.
func (h *HardSigmoid) Params() []*Param { return nil }

// HardSwish is x * max(0, min(1, x/6 + 1/2)) element-wise (ONNX
// HardSwish, PyTorch's hardswish).
type HardSwish struct {
	x *Tensor
}

// Forward applies the hard swish.
func (h *HardSwish) Forward(x *Tensor, train bool) *Tensor {
	h.x = x
	y := NewTensor(x.N, x.C, x.H, x.W)
	for i, v := range x.Data {
		y.Data[i] = v * min(max(v/6+0.5, 0), 1)
	}
	return y
}

// Backward returns dy * (hs(x) + x/6 inside the ramp).
func (h *HardSwish) Backward(dy *Tensor) *Tensor {
	checkAct("hardswish", h.x, dy)
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	for i, v := range h.x.Data {
		u := v/6 + 0.5
		switch {
		case u >= 1:
			dx.Data[i] = dy.Data[i]
		case u > 0:
			dx.Data[i] = dy.Data[i] * (u + v/6)
		}
	}
	return dx
}

// Params returns nil.
func (h *HardSwish) Params() []*Param { return nil }

// Sigmoid is 1/(1+exp(-x)) element-wise.
type Sigmoid struct {
	y *Tensor
}

// Forward applies the logistic function.
func (s *Sigmoid) Forward(x *Tensor, train bool) *Tensor {
	y := NewTensor(x.N, x.C, x.H, x.W)
	for i, v := range x.Data {
		y.Data[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
	s.y = y
	return y
}

// Backward returns dy * y * (1-y).
func (s *Sigmoid) Backward(dy *Tensor) *Tensor {
	checkAct("sigmoid", s.y, dy)
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	for i, y := range s.y.Data {
		dx.Data[i] = dy.Data[i] * y * (1 - y)
	}
	return dx
}

// Params returns nil.
func (s *Sigmoid) Params() []*Param { return nil }

func checkAct(what string, kept, dy *Tensor) {
	if kept == nil {
		panic(fmt.Sprintf("graph: %s backward before forward", what))
	}
	dy.check(what + " backward")
	if !dy.SameShape(kept) {
		panic(fmt.Sprintf("graph: %s backward: gradient %dx%dx%dx%d, forward was %dx%dx%dx%d", what, dy.N, dy.C, dy.H, dy.W, kept.N, kept.C, kept.H, kept.W))
	}
}
