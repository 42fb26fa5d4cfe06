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
	src.check("resize source")
	dst.check("resize destination")
	if dst.N != src.N || dst.C != src.C {
		panic(fmt.Sprintf("graph: resize %dx%d channels into %dx%d", src.N, src.C, dst.N, dst.C))
	}
	if dst.Len() == 0 {
		return
	}
	ym, xm := resample.BilinearAxis(src.H, dst.H), resample.BilinearAxis(src.W, dst.W)
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
	dsrc.check("resize backward")
	dy.check("resize backward")
	if dy.N != dsrc.N || dy.C != dsrc.C {
		panic(fmt.Sprintf("graph: resize backward %dx%d channels into %dx%d", dy.N, dy.C, dsrc.N, dsrc.C))
	}
	if dy.Len() == 0 {
		return
	}
	ym, xm := resample.BilinearAxis(dsrc.H, dy.H), resample.BilinearAxis(dsrc.W, dy.W)
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
