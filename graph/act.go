package graph

import (
	"fmt"
	"math/rand/v2"
)

// ReLU is max(x, 0) element-wise.
type ReLU struct {
	y *Tensor
}

// Forward returns max(x, 0).
func (r *ReLU) Forward(x *Tensor, train bool) *Tensor {
	y := x.Clone()
	for i, v := range y.Data {
		if v < 0 {
			y.Data[i] = 0
		}
	}
	r.y = y
	return y
}

// Backward passes dy where the output was positive.
func (r *ReLU) Backward(dy *Tensor) *Tensor {
	if r.y == nil || !dy.SameShape(r.y) {
		panic("graph: relu backward without matching forward")
	}
	dx := dy.Clone()
	for i, v := range r.y.Data {
		if v <= 0 {
			dx.Data[i] = 0
		}
	}
	return dx
}

// Params returns nil.
func (r *ReLU) Params() []*Param { return nil }

// Dropout2d zeroes whole channels of each image with probability P during
// training and scales the kept ones by 1/(1-P); at inference it is the
// identity. Its random numbers come from its own seeded generator.
type Dropout2d struct {
	P    float64
	rng  *rand.Rand
	mask []float32 // per (n, c) scale of the last training forward; nil at inference
}

// NewDropout2d returns a channel dropout with probability p in [0, 1).
func NewDropout2d(p float64, seed uint64) *Dropout2d {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("graph: dropout probability %v outside [0,1)", p))
	}
	return &Dropout2d{P: p, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Forward drops channels in training mode.
func (d *Dropout2d) Forward(x *Tensor, train bool) *Tensor {
	if !train || d.P == 0 {
		d.mask = nil
		return x.Clone()
	}
	hw := x.H * x.W
	d.mask = make([]float32, x.N*x.C)
	scale := float32(1 / (1 - d.P))
	y := NewTensor(x.N, x.C, x.H, x.W)
	for i := range d.mask {
		if d.rng.Float64() >= d.P {
			d.mask[i] = scale
			dst := y.Data[i*hw:][:hw]
			for j, v := range x.Data[i*hw:][:hw] {
				dst[j] = v * scale
			}
		}
	}
	return y
}

// Backward applies the mask of the last forward pass to dy.
func (d *Dropout2d) Backward(dy *Tensor) *Tensor {
	if d.mask == nil {
		return dy.Clone()
	}
	if len(d.mask) != dy.N*dy.C {
		panic("graph: dropout backward shape mismatch")
	}
	hw := dy.H * dy.W
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	for i, s := range d.mask {
		if s == 0 {
			continue
		}
		dst := dx.Data[i*hw:][:hw]
		for j, v := range dy.Data[i*hw:][:hw] {
			dst[j] = v * s
		}
	}
	return dx
}

// Params returns nil.
func (d *Dropout2d) Params() []*Param { return nil }
