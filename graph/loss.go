package graph

import (
	"fmt"
	"math"
)

func checkLossArgs(what string, logits *Tensor, labels []int32, H, W int, bufs ...[]float32) {
	logits.check(what)
	if H < 1 || W < 1 || logits.C < 1 {
		panic(fmt.Sprintf("graph: %s: label size %dx%d, %d classes", what, H, W, logits.C))
	}
	n := logits.N * H * W
	if len(labels) != n {
		panic(fmt.Sprintf("graph: %s: %d labels for %d images of %dx%d", what, len(labels), logits.N, H, W))
	}
	for _, b := range bufs {
		if b != nil && len(b) != n {
			panic(fmt.Sprintf("graph: %s: buffer of %d values for %d pixels", what, len(b), n))
		}
	}
}

// rowLogits fills dst (w x C, pixel-major) with the low-resolution logits of
// image plane set ln (C x h x w) interpolated vertically at output row y.
func rowLogits(dst, ln []float32, c, h, w int, ym axisMap, y int) {
	y0, y1, ly := int(ym.i0[y]), int(ym.i1[y]), ym.l[y]
	for k := 0; k < c; k++ {
		r0 := ln[(k*h+y0)*w:][:w]
		r1 := ln[(k*h+y1)*w:][:w]
		for xs := range r0 {
			dst[xs*c+k] = (1-ly)*r0[xs] + ly*r1[xs]
		}
	}
}

// PixelCE computes, for every image n and label pixel (y, x) of the H x W
// label map, the softmax cross-entropy -log softmax(z)[label] and the
// probability softmax(z)[label] of the true class, where z are the C
// low-resolution logits (N x C x h x w) upsampled bilinearly with
// align_corners = false to H x W. The upsampled logits are computed on the
// fly (four taps per pixel) and never stored. Pixel i = (n*H+y)*W+x of
// labels, dstCE and dstProb belong together; ignored pixels (label ==
// ignore) get CE 0 and probability 1. dstProb may be nil.
//
// Labels outside [0, C) other than ignore are a programmer error (callers
// validate data first); PixelCE panics on them and on mismatched lengths.
func PixelCE(dstCE, dstProb []float32, logits *Tensor, labels []int32, H, W int, ignore int32) {
	if dstCE == nil {
		panic("graph: PixelCE: nil dstCE")
	}
	checkLossArgs("PixelCE", logits, labels, H, W, dstCE, dstProb)
	c, h, w := logits.C, logits.H, logits.W
	ym, xm := bilinearAxis(h, H), bilinearAxis(w, W)
	parallel(logits.N*H, func(_, lo, hi int) {
		row := make([]float32, w*c)
		z := make([]float32, c)
		for it := lo; it < hi; it++ {
			n, y := it/H, it%H
			rowLogits(row, logits.Data[n*c*h*w:], c, h, w, ym, y)
			base := it * W
			for x := 0; x < W; x++ {
				i := base + x
				lab := labels[i]
				if lab == ignore {
					dstCE[i] = 0
					if dstProb != nil {
						dstProb[i] = 1
					}
					continue
				}
				if lab < 0 || int(lab) >= c {
					panic(fmt.Sprintf("graph: PixelCE: label %d at pixel %d outside [0,%d)", lab, i, c))
				}
				ce, p := pixelSoftmax(z, row, xm, x, c, lab)
				dstCE[i] = ce
				if dstProb != nil {
					dstProb[i] = p
				}
			}
		}
	})
}

// pixelSoftmax interpolates the logits of output column x from the
// vertically interpolated row into z, replaces them by exp(z - max) and
// returns the cross-entropy and probability of class lab; it leaves the
// unnormalised exponentials in z and returns their sum in z's place via
// the caller-visible slice.
func pixelSoftmax(z, row []float32, xm axisMap, x, c int, lab int32) (ce, p float32) {
	a := row[int(xm.i0[x])*c:][:c]
	b := row[int(xm.i1[x])*c:][:c]
	l := xm.l[x]
	z = z[:c]
	m := float32(math.Inf(-1))
	for k := range z {
		v := (1-l)*a[k] + l*b[k]
		z[k] = v
		if v > m {
			m = v
		}
	}
	zl := z[lab] - m
	var s float32
	for k, v := range z {
		e := exp32(v - m)
		z[k] = e
		s += e
	}
	ce = float32(math.Log(float64(s))) - zl
	p = z[lab] / s
	if ce < 0 {
		ce = 0
	}
	return ce, p
}

// PixelCEBackward adds into dst (N x C x h x w, the shape of logits) the
// gradient of sum_i coef[i] * CE_i with respect to the low-resolution
// logits, where CE_i is the loss PixelCE computes for label pixel i:
// coef[i] * (softmax(z_i) - onehot(label_i)) is scattered through the four
// bilinear taps of pixel i. Ignored pixels and pixels with coef 0
// contribute nothing. The softmax is recomputed; nothing of size N x C x H
// x W is allocated. The result is deterministic for a given thread count.
func PixelCEBackward(dst *Tensor, logits *Tensor, labels []int32, coef []float32, H, W int, ignore int32) {
	checkLossArgs("PixelCEBackward", logits, labels, H, W, coef)
	if coef == nil {
		panic("graph: PixelCEBackward: nil coef")
	}
	dst.check("PixelCEBackward")
	if !dst.SameShape(logits) {
		panic(fmt.Sprintf("graph: PixelCEBackward: dst %dx%dx%dx%d, logits %dx%dx%dx%d", dst.N, dst.C, dst.H, dst.W, logits.N, logits.C, logits.H, logits.W))
	}
	c, h, w := logits.C, logits.H, logits.W
	ym, xm := bilinearAxis(h, H), bilinearAxis(w, W)
	items := logits.N * H
	nw := workers(items)
	parts := make([][]float32, nw)
	parts[0] = dst.Data
	for k := 1; k < nw; k++ {
		parts[k] = make([]float32, len(dst.Data))
	}
	parallel(items, func(wk, lo, hi int) {
		out := parts[wk]
		row := make([]float32, w*c)
		grad := make([]float32, w*c)
		z := make([]float32, c)
		for it := lo; it < hi; it++ {
			n, y := it/H, it%H
			rowLogits(row, logits.Data[n*c*h*w:], c, h, w, ym, y)
			base := it * W
			any := false
			for x := 0; x < W; x++ {
				i := base + x
				lab := labels[i]
				cf := coef[i]
				if lab == ignore || cf == 0 {
					continue
				}
				if lab < 0 || int(lab) >= c {
					panic(fmt.Sprintf("graph: PixelCEBackward: label %d at pixel %d outside [0,%d)", lab, i, c))
				}
				any = true
				pixelSoftmax(z, row, xm, x, c, lab)
				var s float32
				for _, e := range z {
					s += e
				}
				inv := cf / s
				l := xm.l[x]
				g0 := grad[int(xm.i0[x])*c:][:c]
				g1 := grad[int(xm.i1[x])*c:][:c]
				z[lab] -= s // softmax - onehot, scaled by s
				for k, e := range z {
					g := e * inv
					g0[k] += (1 - l) * g
					g1[k] += l * g
				}
			}
			if !any {
				continue
			}
			scatterRow(out[n*c*h*w:], grad, c, h, w, ym, y)
		}
	})
	reduceParts(dst.Data, parts)
}

// scatterRow adds the row gradient grad (w x C, pixel-major) into the two
// source rows of output row y of image gradient gn (C x h x w) and clears
// grad.
func scatterRow(gn, grad []float32, c, h, w int, ym axisMap, y int) {
	y0, y1, ly := int(ym.i0[y]), int(ym.i1[y]), ym.l[y]
	for k := 0; k < c; k++ {
		r0 := gn[(k*h+y0)*w:][:w]
		r1 := gn[(k*h+y1)*w:][:w]
		for xs := range r0 {
			g := grad[xs*c+k]
			r0[xs] += (1 - ly) * g
			r1[xs] += ly * g
		}
	}
	clear(grad)
}

// reduceParts adds parts[1:] into dst (which is parts[0]) in order, in
// parallel over disjoint element ranges.
func reduceParts(dst []float32, parts [][]float32) {
	if len(parts) < 2 {
		return
	}
	parallel(len(dst), func(_, lo, hi int) {
		d := dst[lo:hi]
		for _, p := range parts[1:] {
			for i, v := range p[lo:hi] {
				d[i] += v
			}
		}
	})
}
