package graph

import (
	"fmt"
	"math"
)

// Interp is ONNX's Resize over H and W with mode "linear" or "nearest" and
// the coordinate transformation modes torchvision emits: "half_pixel",
// "pytorch_half_pixel", "align_corners" and "asymmetric". The output is
// H x W; ScaleH and ScaleW are the scales the transformation divides by
// (0: output size over input size, what ONNX uses when sizes are given).
// NearestMode is ONNX's nearest_mode: "round_prefer_floor" (the default
// when empty), "round_prefer_ceil", "floor" or "ceil". Linear sampling
// clamps the source coordinate to the input, as ONNX Runtime does.
// Threads is the number of goroutines (0: the package default); planes
// are independent, so the results do not depend on it.
type Interp struct {
	H, W           int
	ScaleH, ScaleW float64
	Linear         bool
	Coord          string
	NearestMode    string
	Threads        int

	in     *Tensor
	ym, xm interpAxis
}

// interpAxis holds, per output index, the two source taps and the weight
// of the second (nearest: one tap, L 0).
type interpAxis struct {
	i0, i1 []int
	l      []float32
}

// InterpModes lists the coordinate transformation modes Interp supports.
var InterpModes = []string{"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"}

// sourceCoord maps output index o of an axis of out samples to a source
// coordinate over in samples.
func sourceCoord(mode string, o, in, out int, scale float64) float64 {
	if scale == 0 {
		scale = float64(out) / float64(in)
	}
	x := float64(o)
	switch mode {
	case "half_pixel":
		return (x+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		if out == 1 {
			return 0
		}
		return (x+0.5)/scale - 0.5
	case "align_corners":
		if out == 1 {
			return 0
		}
		return x * float64(in-1) / float64(out-1)
	case "asymmetric":
		return x / scale
	}
	panic(fmt.Sprintf("graph: resize: coordinate transformation mode %q (want one of %v)", mode, InterpModes))
}

func (r *Interp) axis(in, out int, scale float64) interpAxis {
	a := interpAxis{i0: make([]int, out), i1: make([]int, out), l: make([]float32, out)}
	for o := 0; o < out; o++ {
		x := sourceCoord(r.Coord, o, in, out, scale)
		if r.Linear {
			x = min(max(x, 0), float64(in-1))
			i := int(math.Floor(x))
			a.i0[o], a.i1[o] = i, min(i+1, in-1)
			if a.i1[o] != i {
				a.l[o] = float32(x - float64(i))
			}
			continue
		}
		var i float64
		switch r.NearestMode {
		case "", "round_prefer_floor":
			if x-math.Floor(x) == 0.5 {
				i = math.Floor(x)
			} else {
				i = math.Round(x)
			}
		case "round_prefer_ceil":
			i = math.Floor(x + 0.5)
		case "floor":
			i = math.Floor(x)
		case "ceil":
			i = math.Ceil(x)
		default:
			panic(fmt.Sprintf("graph: resize: nearest mode %q", r.NearestMode))
		}
		k := min(max(int(i), 0), in-1)
		a.i0[o], a.i1[o] = k, k
	}
	return a
}

// Forward resamples x to H x W.
func (r *Interp) Forward(x *Tensor, train bool) *Tensor {
	x.check("resize forward")
	if r.H < 1 || r.W < 1 || x.H < 1 || x.W < 1 {
		panic(fmt.Sprintf("graph: resize %dx%d to %dx%d", x.H, x.W, r.H, r.W))
	}
	r.in = x
	r.ym, r.xm = r.axis(x.H, r.H, r.ScaleH), r.axis(x.W, r.W, r.ScaleW)
	y := NewTensor(x.N, x.C, r.H, r.W)
	parallel(threadsOr(r.Threads), x.N*x.C, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			r.forwardPlane(y.Data[p*r.H*r.W:][:r.H*r.W], x.Data[p*x.H*x.W:][:x.H*x.W], x.W)
		}
	})
	return y
}

func (r *Interp) setThreads(n int) { r.Threads = n }

// forwardPlane resamples one plane of width inW into out.
func (r *Interp) forwardPlane(out, in []float32, inW int) {
	ym, xm := r.ym, r.xm
	for oy := 0; oy < r.H; oy++ {
		r0, r1 := in[ym.i0[oy]*inW:][:inW], in[ym.i1[oy]*inW:][:inW]
		ly := ym.l[oy]
		row := out[oy*r.W:][:r.W]
		for ox := range row {
			a, b, lx := xm.i0[ox], xm.i1[ox], xm.l[ox]
			top := r0[a] + lx*(r0[b]-r0[a])
			bot := r1[a] + lx*(r1[b]-r1[a])
			row[ox] = top + ly*(bot-top)
		}
	}
}

// Backward returns the input gradient: the transpose of the resampling.
func (r *Interp) Backward(dy *Tensor) *Tensor {
	x := r.in
	if x == nil {
		panic("graph: resize backward before forward")
	}
	if dy.N != x.N || dy.C != x.C || dy.H != r.H || dy.W != r.W {
		panic("graph: resize backward: gradient shape mismatch")
	}
	dx := NewTensor(x.N, x.C, x.H, x.W)
	parallel(threadsOr(r.Threads), x.N*x.C, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			r.backwardPlane(dx.Data[p*x.H*x.W:][:x.H*x.W], dy.Data[p*r.H*r.W:][:r.H*r.W], x.W)
		}
	})
	return dx
}

// backwardPlane adds the adjoint of one plane's resampling of output
// gradient d into g (width inW).
func (r *Interp) backwardPlane(g, d []float32, inW int) {
	ym, xm := r.ym, r.xm
	for oy := 0; oy < r.H; oy++ {
		g0, g1 := g[ym.i0[oy]*inW:][:inW], g[ym.i1[oy]*inW:][:inW]
		ly := ym.l[oy]
		for ox, v := range d[oy*r.W:][:r.W] {
			a, b, lx := xm.i0[ox], xm.i1[ox], xm.l[ox]
			top, bot := v*(1-ly), v*ly
			g0[a] += top * (1 - lx)
			g0[b] += top * lx
			g1[a] += bot * (1 - lx)
			g1[b] += bot * lx
		}
	}
}

// Params returns nil.
func (r *Interp) Params() []*Param { return nil }
