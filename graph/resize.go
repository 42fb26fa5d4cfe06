package graph

import "fmt"

// axisMap holds, for each output coordinate of one axis, the two source
// taps and the weight of the second one: out[d] = (1-l[d])*in[i0[d]] + l[d]*in[i1[d]].
type axisMap struct {
	i0, i1 []int32
	l      []float32
}

// bilinearAxis maps out output samples onto in input samples with
// align_corners = false (half-pixel centres): src = (d+0.5)*in/out - 0.5,
// clamped at 0 below, and the upper tap clamped at in-1, as PyTorch's
// interpolate and ONNX Resize (half_pixel, linear) do.
func bilinearAxis(in, out int) axisMap {
	m := axisMap{i0: make([]int32, out), i1: make([]int32, out), l: make([]float32, out)}
	scale := float64(in) / float64(out)
	for d := 0; d < out; d++ {
		src := (float64(d)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0 + 1
		if i1 > in-1 {
			i1 = in - 1
		}
		m.i0[d], m.i1[d] = int32(i0), int32(i1)
		m.l[d] = float32(src - float64(i0))
		if i1 == i0 {
			m.l[d] = 0
		}
	}
	return m
}

// ResizeBilinear resamples src into dst (same N and C, any H and W) with
// bilinear interpolation and align_corners = false, the semantics of ONNX
// Resize with coordinate_transformation_mode half_pixel and mode linear, and
// of PyTorch's interpolate(mode="bilinear", align_corners=False). It panics
// when N or C differ.
func ResizeBilinear(dst, src *Tensor) {
	src.check("resize source")
	dst.check("resize destination")
	if dst.N != src.N || dst.C != src.C {
		panic(fmt.Sprintf("graph: resize %dx%d channels into %dx%d", src.N, src.C, dst.N, dst.C))
	}
	ym, xm := bilinearAxis(src.H, dst.H), bilinearAxis(src.W, dst.W)
	planes := src.N * src.C
	parallel(planes*dst.H, func(_, lo, hi int) {
		for it := lo; it < hi; it++ {
			p, y := it/dst.H, it%dst.H
			in := src.Data[p*src.H*src.W:]
			r0 := in[int(ym.i0[y])*src.W:][:src.W]
			r1 := in[int(ym.i1[y])*src.W:][:src.W]
			ly := ym.l[y]
			out := dst.Data[(p*dst.H+y)*dst.W:][:dst.W]
			for x := range out {
				x0, x1, lx := xm.i0[x], xm.i1[x], xm.l[x]
				top := (1-lx)*r0[x0] + lx*r0[x1]
				bot := (1-lx)*r1[x0] + lx*r1[x1]
				out[x] = (1-ly)*top + ly*bot
			}
		}
	})
}

// ResizeBilinearBackward adds into dsrc the gradient with respect to the
// source of ResizeBilinear for output gradient dy (the transpose of the
// resize). dsrc keeps its shape and is accumulated into.
func ResizeBilinearBackward(dsrc, dy *Tensor) {
	dsrc.check("resize backward")
	dy.check("resize backward")
	if dy.N != dsrc.N || dy.C != dsrc.C {
		panic(fmt.Sprintf("graph: resize backward %dx%d channels into %dx%d", dy.N, dy.C, dsrc.N, dsrc.C))
	}
	ym, xm := bilinearAxis(dsrc.H, dy.H), bilinearAxis(dsrc.W, dy.W)
	planes := dy.N * dy.C
	// Planes are independent, so splitting over planes keeps writes disjoint
	// and the summation order fixed.
	parallel(planes, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			g := dsrc.Data[p*dsrc.H*dsrc.W:][:dsrc.H*dsrc.W]
			for y := 0; y < dy.H; y++ {
				r0 := g[int(ym.i0[y])*dsrc.W:][:dsrc.W]
				r1 := g[int(ym.i1[y])*dsrc.W:][:dsrc.W]
				ly := ym.l[y]
				row := dy.Data[(p*dy.H+y)*dy.W:][:dy.W]
				for x, v := range row {
					x0, x1, lx := xm.i0[x], xm.i1[x], xm.l[x]
					top, bot := (1-ly)*v, ly*v
					r0[x0] += (1 - lx) * top
					r0[x1] += lx * top
					r1[x0] += (1 - lx) * bot
					r1[x1] += lx * bot
				}
			}
		}
	})
}

// Resize is ResizeBilinear as a Layer with a fixed output size H x W.
type Resize struct {
	H, W int
	in   *Tensor
}

// Forward resizes x to r.H x r.W.
func (r *Resize) Forward(x *Tensor, train bool) *Tensor {
	r.in = x
	y := NewTensor(x.N, x.C, r.H, r.W)
	ResizeBilinear(y, x)
	return y
}

// Backward returns the gradient with respect to the input of Forward.
func (r *Resize) Backward(dy *Tensor) *Tensor {
	dx := NewTensor(r.in.N, r.in.C, r.in.H, r.in.W)
	ResizeBilinearBackward(dx, dy)
	return dx
}

// Params returns nil: resizing has no parameters.
func (r *Resize) Params() []*Param { return nil }
