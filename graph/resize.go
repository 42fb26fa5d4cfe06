package graph

import (
	"fmt"

	"github.com/lmpseg/lmpseg/resample"
)

// ResizeBilinear resamples src into dst (same N and C, any H and W) with
// bilinear interpolation and align_corners = false, the semantics of ONNX
// Resize with coordinate_transformation_mode half_pixel and mode linear, and
// of PyTorch's interpolate(mode="bilinear", align_corners=False), using the
// default number of threads. It panics when N or C differ.
func ResizeBilinear(dst, src *Tensor) { Exec{}.ResizeBilinear(dst, src) }

// ResizeBilinear is the package-level ResizeBilinear with e's thread count.
// The kernel is resample's Weighted form; the result does not depend on the
// thread count.
func (e Exec) ResizeBilinear(dst, src *Tensor) {
	ym, xm, ok := resizeMaps(src, dst, "resize source", "resize destination", "graph: resize %[1]dx%[2]d channels into %[3]dx%[4]d")
	if !ok {
		return
	}
	planes := src.N * src.C
	parallel(e.threads(), planes*dst.H, func(_, lo, hi int) {
		for it := lo; it < hi; it++ {
			p, y := it/dst.H, it%dst.H
			in := src.Data[p*src.H*src.W:]
			r0 := in[int(ym.I0[y])*src.W:][:src.W]
			r1 := in[int(ym.I1[y])*src.W:][:src.W]
			resample.Row(dst.Data[(p*dst.H+y)*dst.W:][:dst.W], r0, r1, ym.L[y], xm, resample.Weighted)
		}
	})
}

// ResizeBilinearBackward adds into dsrc the gradient with respect to the
// source of ResizeBilinear for output gradient dy (the transpose of the
// resize), using the default number of threads. dsrc keeps its shape and
// is accumulated into.
func ResizeBilinearBackward(dsrc, dy *Tensor) { Exec{}.ResizeBilinearBackward(dsrc, dy) }

// ResizeBilinearBackward is the package-level ResizeBilinearBackward with
// e's thread count. Planes are independent, so the result does not depend
// on the thread count.
func (e Exec) ResizeBilinearBackward(dsrc, dy *Tensor) {
	ym, xm, ok := resizeMaps(dsrc, dy, "resize backward", "resize backward", "graph: resize backward %[3]dx%[4]d channels into %[1]dx%[2]d")
	if !ok {
		return
	}
	planes := dy.N * dy.C
	// Splitting over planes keeps writes disjoint and the summation order
	// fixed.
	parallel(e.threads(), planes, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			g := dsrc.Data[p*dsrc.H*dsrc.W:][:dsrc.H*dsrc.W]
			for y := 0; y < dy.H; y++ {
				r0 := g[int(ym.I0[y])*dsrc.W:][:dsrc.W]
				r1 := g[int(ym.I1[y])*dsrc.W:][:dsrc.W]
				resample.RowAdjoint(r0, r1, dy.Data[(p*dy.H+y)*dy.W:][:dy.W], ym.L[y], xm)
			}
		}
	})
}

// resizeMaps checks the tensors of a resize between src's size and out's
// (src first, each named by its what in the panic) and returns the row and
// column maps of out's samples onto src's; ok is false when out is empty.
// It panics, with mismatch formatted with src's N and C then out's, when N
// or C differ.
func resizeMaps(src, out *Tensor, srcWhat, outWhat, mismatch string) (ym, xm resample.Axis, ok bool) {
	src.check(srcWhat)
	out.check(outWhat)
	if out.N != src.N || out.C != src.C {
		panic(fmt.Sprintf(mismatch, src.N, src.C, out.N, out.C))
	}
	if out.Len() == 0 {
		return ym, xm, false
	}
	return resample.BilinearAxis(src.H, out.H), resample.BilinearAxis(src.W, out.W), true
}

// Resize is ResizeBilinear as a Layer with a fixed output size H x W.
// Threads is the number of goroutines (0: the package default).
type Resize struct {
	H, W    int
	Threads int
	in      *Tensor
}

func (r *Resize) setThreads(n int) { r.Threads = n }

// Forward resizes x to r.H x r.W.
func (r *Resize) Forward(x *Tensor, train bool) *Tensor {
	r.in = x
	y := NewTensor(x.N, x.C, r.H, r.W)
	Exec{Threads: r.Threads}.ResizeBilinear(y, x)
	return y
}

// Backward returns the gradient with respect to the input of Forward.
func (r *Resize) Backward(dy *Tensor) *Tensor {
	if r.in == nil {
		panic("graph: resize backward before forward")
	}
	dx := NewTensor(r.in.N, r.in.C, r.in.H, r.in.W)
	Exec{Threads: r.Threads}.ResizeBilinearBackward(dx, dy)
	return dx
}

// Params returns nil: resizing has no parameters.
func (r *Resize) Params() []*Param { return nil }
