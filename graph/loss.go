package graph

import (
	"fmt"
	"math"

	"github.com/lmpseg/lmpseg/resample"
)

// The fused loss walks the label map in cells: a cell is the block of
// output pixels whose bilinear taps are the same four low-resolution
// pixels and whose tap weights advance by constant steps (an 8x8 block for
// an upsampling factor of 8). Inside a cell the upsampled logit of class c
// is bilinear in the pixel offsets (j, i):
//
//	z(j, i) = z(0,0) + j*dly*V + i*dlx*(S0 + j*dly*T)
//
// so exp(z - m) follows the recurrence e(j, i+1) = e(j, i)*r(j) with
// r(j+1) = r(j)*q and a row start that is multiplied by p from row to row:
// four exponentials per class and cell instead of one per class and pixel.
// m, the largest corner logit of the cell, bounds every logit in it, so
// the recurrence cannot overflow; cells whose logits span more than
// cellMaxRange, and cells of fewer than four pixels, take the direct
// per-pixel path instead.

const cellMaxRange = 50

// run is a maximal range [start, start+n) of output coordinates on one
// axis that share both source taps and whose tap weight advances by the
// constant step dl.
type run struct {
	start, n int
	i0, i1   int
	dl       float32
}

func axisRuns(m resample.Axis) []run {
	var rs []run
	for d := 0; d < len(m.L); {
		r := run{start: d, n: 1, i0: int(m.I0[d]), i1: int(m.I1[d])}
		for e := d + 1; e < len(m.L); e++ {
			if int(m.I0[e]) != r.i0 || int(m.I1[e]) != r.i1 {
				break
			}
			step := m.L[e] - m.L[e-1]
			if r.n == 1 {
				r.dl = step
			} else if math.Abs(float64(step-r.dl)) > 1e-6 {
				break
			}
			r.n++
		}
		rs = append(rs, r)
		d += r.n
	}
	return rs
}

// lossGeom is the geometry shared by PixelCE and PixelCEBackward.
type lossGeom struct {
	n, c, h, w, H, W int
	ym, xm           resample.Axis
	yr, xr           []run
}

func newLossGeom(logits *Tensor, H, W int) *lossGeom {
	g := &lossGeom{n: logits.N, c: logits.C, h: logits.H, w: logits.W, H: H, W: W}
	g.ym, g.xm = resample.BilinearAxis(logits.H, H), resample.BilinearAxis(logits.W, W)
	g.yr, g.xr = axisRuns(g.ym), axisRuns(g.xm)
	return g
}

// cell holds per-class scratch for one worker.
type cell struct {
	c                      int
	a, b, cc, d            []float32 // corner logits (y0,x0), (y0,x1), (y1,x0), (y1,x1)
	start, pv, rr, q, e, r []float32
	rs, rx                 []float32 // per cell row: sum of g, sum of g*lx
	g00, g01, g10, g11     []float32 // per cell: gradient for the four corners
	inv                    []float32 // per cell row: coef/sum and coef*lx/sum
	m                      float32
	fast                   bool
}

func newCell(c int) *cell {
	buf := make([]float32, 18*c)
	s := func(k int) []float32 { return buf[k*c : (k+1)*c : (k+1)*c] }
	return &cell{c: c, a: s(0), b: s(1), cc: s(2), d: s(3), start: s(4), pv: s(5), rr: s(6), q: s(7),
		e: s(8), r: s(9), rs: s(10), rx: s(11), g00: s(12), g01: s(13), g10: s(14), g11: s(15)}
}

// load reads the corner logits of cell (ry, rx) of image ln (C x h x w)
// and prepares the recurrence when the cell takes the fast path.
func (s *cell) load(ln []float32, g *lossGeom, ry, rx run) {
	h, w := g.h, g.w
	a, b, cc, d := s.a, s.b[:len(s.a)], s.cc[:len(s.a)], s.d[:len(s.a)]
	hi, lo := float32(math.Inf(-1)), float32(math.Inf(1))
	for k := range a {
		p := ln[k*h*w:]
		a[k] = p[ry.i0*w+rx.i0]
		b[k] = p[ry.i0*w+rx.i1]
		cc[k] = p[ry.i1*w+rx.i0]
		d[k] = p[ry.i1*w+rx.i1]
		hi = max(hi, a[k], b[k], cc[k], d[k])
		lo = min(lo, a[k], b[k], cc[k], d[k])
	}
	s.m = hi
	s.fast = ry.n*rx.n >= 4 && hi-lo <= cellMaxRange
	if !s.fast {
		return
	}
	ly0, lx0 := g.ym.L[ry.start], g.xm.L[rx.start]
	dly, dlx := ry.dl, rx.dl
	start, pv, rr, q := s.start[:len(a)], s.pv[:len(a)], s.rr[:len(a)], s.q[:len(a)]
	for k := range a {
		top := a[k] + lx0*(b[k]-a[k])
		bot := cc[k] + lx0*(d[k]-cc[k])
		start[k] = top + ly0*(bot-top) - hi
		rr[k] = dlx * ((b[k] - a[k]) + ly0*((d[k]-cc[k])-(b[k]-a[k])))
		pv[k] = dly * (bot - top)
		q[k] = dlx * dly * ((d[k] - cc[k]) - (b[k] - a[k]))
	}
	expInPlace(start)
	expInPlace(rr)
	if ry.n > 1 {
		expInPlace(pv)
		expInPlace(q)
	}
}

// bilerp interpolates the corner logits of class k.
func (s *cell) bilerp(k int, ly, lx float32) float32 {
	top := (1-lx)*s.a[k] + lx*s.b[k]
	bot := (1-lx)*s.cc[k] + lx*s.d[k]
	return (1-ly)*top + ly*bot
}

// direct fills e with exp(z - m) of the pixel at weights (ly, lx), with m
// the pixel's largest logit, and returns m and the sum of e.
func (s *cell) direct(ly, lx float32) (m, sum float32) {
	e := s.e
	m = float32(math.Inf(-1))
	for k := range e {
		v := s.bilerp(k, ly, lx)
		e[k] = v
		m = max(m, v)
	}
	for k, v := range e {
		x := exp32(v - m)
		e[k] = x
		sum += x
	}
	return m, sum
}

func badLabel(fn string, lab int32, i, c int) {
	panic(fmt.Sprintf("graph: %s: label %d at pixel %d outside [0,%d)", fn, lab, i, c))
}

func checkLossArgs(what string, logits *Tensor, labels []int32, H, W int, bufs ...[]float32) {
	logits.check(what)
	if H < 1 || W < 1 || logits.C < 1 || logits.H < 1 || logits.W < 1 {
		panic(fmt.Sprintf("graph: %s: label size %dx%d, logits %dx%dx%d", what, H, W, logits.C, logits.H, logits.W))
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

// PixelCE computes, for every image n and label pixel (y, x) of the H x W
// label map, the softmax cross-entropy -log softmax(z)[label] and the
// probability softmax(z)[label] of the true class, where z are the C
// low-resolution logits (N x C x h x w) upsampled bilinearly with
// align_corners = false to H x W. The upsampled logits are computed on the
// fly and never stored. Pixel i = (n*H+y)*W+x of labels, dstCE and dstProb
// belong together; ignored pixels (label == ignore) get CE 0 and
// probability 1. dstProb may be nil.
//
// Labels outside [0, C) other than ignore are a programmer error (callers
// validate data first); PixelCE panics on them and on mismatched lengths.
// Results agree with the materialised float64 computation to a few parts
// in a million (the tests bound the error by 2e-5). It uses the default
// number of threads; Exec.PixelCE takes it explicitly.
func PixelCE(dstCE, dstProb []float32, logits *Tensor, labels []int32, H, W int, ignore int32) {
	Exec{}.PixelCE(dstCE, dstProb, logits, labels, H, W, ignore)
}

// PixelCE is the package-level PixelCE with e's thread count. Pixels are
// independent, so the result does not depend on the thread count.
func (e Exec) PixelCE(dstCE, dstProb []float32, logits *Tensor, labels []int32, H, W int, ignore int32) {
	if dstCE == nil {
		panic("graph: PixelCE: nil dstCE")
	}
	checkLossArgs("PixelCE", logits, labels, H, W, dstCE, dstProb)
	g := newLossGeom(logits, H, W)
	c := g.c
	nyr := len(g.yr)
	parallel(e.threads(), g.n*nyr, func(_, lo, hi int) {
		s := newCell(c)
		for it := lo; it < hi; it++ {
			n, ry := it/nyr, g.yr[it%nyr]
			ln := logits.Data[n*c*g.h*g.w : (n+1)*c*g.h*g.w]
			for _, rx := range g.xr {
				if !cellActive(labels, nil, ignore, g, n, ry, rx) {
					fillIgnored(dstCE, dstProb, g, n, ry, rx)
					continue
				}
				s.load(ln, g, ry, rx)
				pixelCECell(dstCE, dstProb, labels, ignore, g, s, n, ry, rx)
			}
		}
	})
}

func pixelCECell(dstCE, dstProb []float32, labels []int32, ignore int32, g *lossGeom, s *cell, n int, ry, rx run) {
	c := g.c
	e, r := s.e[:c], s.r[:c]
	start, rr := s.start[:c], s.rr[:c]
	pv, q := s.pv[:c], s.q[:c]
	for j := 0; j < ry.n; j++ {
		y := ry.start + j
		ly := g.ym.L[y]
		var next float32 // sum of e at the current pixel on the fast path
		if s.fast {
			copy(e, start)
			copy(r, rr)
			next = sum4(e)
		}
		base := (n*g.H + y) * g.W
		for i := 0; i < rx.n; i++ {
			x := rx.start + i
			idx := base + x
			lab := labels[idx]
			if lab == ignore {
				dstCE[idx] = 0
				if dstProb != nil {
					dstProb[idx] = 1
				}
				if s.fast {
					next = advSum(e, r)
				}
				continue
			}
			if lab < 0 || int(lab) >= c {
				badLabel("PixelCE", lab, idx, c)
			}
			lx := g.xm.L[x]
			var m, sum, el float32
			if s.fast {
				m = s.m
				el = e[lab]
				sum = next
				next = advSum(e, r)
			} else {
				m, sum = s.direct(ly, lx)
				el = e[lab]
			}
			ce := log32(sum) - (s.bilerp(int(lab), ly, lx) - m)
			if ce < 0 {
				ce = 0
			}
			dstCE[idx] = ce
			if dstProb != nil {
				dstProb[idx] = el / sum
			}
		}
		if s.fast && j+1 < ry.n {
			for k := range start {
				start[k] *= pv[k]
				rr[k] *= q[k]
			}
		}
	}
}

// PixelCEBackward adds into dst (N x C x h x w, the shape of logits) the
// gradient of sum_i coef[i] * CE_i with respect to the low-resolution
// logits, where CE_i is the loss PixelCE computes for label pixel i:
// coef[i] * (softmax(z_i) - onehot(label_i)) is scattered through the four
// bilinear taps of pixel i. Ignored pixels and pixels with coef 0
// contribute nothing. The softmax is recomputed; nothing of size N x C x H
// x W is allocated (each extra thread allocates one dst-sized partial sum).
// The result is deterministic for a given thread count. It panics like
// PixelCE on bad labels and mismatched shapes. It uses the default number
// of threads; Exec.PixelCEBackward takes it explicitly.
func PixelCEBackward(dst *Tensor, logits *Tensor, labels []int32, coef []float32, H, W int, ignore int32) {
	Exec{}.PixelCEBackward(dst, logits, labels, coef, H, W, ignore)
}

// PixelCEBackward is the package-level PixelCEBackward with e's thread
// count; the result is bit-identical from run to run for a given count.
func (e Exec) PixelCEBackward(dst *Tensor, logits *Tensor, labels []int32, coef []float32, H, W int, ignore int32) {
	if coef == nil {
		panic("graph: PixelCEBackward: nil coef")
	}
	checkLossArgs("PixelCEBackward", logits, labels, H, W, coef)
	dst.check("PixelCEBackward")
	if !dst.SameShape(logits) {
		panic(fmt.Sprintf("graph: PixelCEBackward: dst %dx%dx%dx%d, logits %dx%dx%dx%d", dst.N, dst.C, dst.H, dst.W, logits.N, logits.C, logits.H, logits.W))
	}
	g := newLossGeom(logits, H, W)
	c := g.c
	nyr := len(g.yr)
	items := g.n * nyr
	t := e.threads()
	nw := workers(t, items)
	parts := make([][]float32, nw)
	parts[0] = dst.Data
	for k := 1; k < nw; k++ {
		parts[k] = make([]float32, len(dst.Data))
	}
	parallel(t, items, func(wk, lo, hi int) {
		s := newCell(c)
		out := parts[wk]
		for it := lo; it < hi; it++ {
			n, ry := it/nyr, g.yr[it%nyr]
			ln := logits.Data[n*c*g.h*g.w : (n+1)*c*g.h*g.w]
			on := out[n*c*g.h*g.w : (n+1)*c*g.h*g.w]
			for _, rx := range g.xr {
				if !cellActive(labels, coef, ignore, g, n, ry, rx) {
					continue
				}
				s.load(ln, g, ry, rx)
				pixelCEBackwardCell(on, labels, coef, ignore, g, s, n, ry, rx)
			}
		}
	})
	reduceParts(t, dst.Data, parts)
}

// cellActive reports whether any pixel of the cell has a label other than
// ignore and, when coef is not nil, a non-zero coefficient.
func cellActive(labels []int32, coef []float32, ignore int32, g *lossGeom, n int, ry, rx run) bool {
	for j := 0; j < ry.n; j++ {
		base := (n*g.H+ry.start+j)*g.W + rx.start
		for i := 0; i < rx.n; i++ {
			if labels[base+i] != ignore && (coef == nil || coef[base+i] != 0) {
				return true
			}
		}
	}
	return false
}

// fillIgnored writes CE 0 and probability 1 for every pixel of a cell.
func fillIgnored(dstCE, dstProb []float32, g *lossGeom, n int, ry, rx run) {
	for j := 0; j < ry.n; j++ {
		base := (n*g.H+ry.start+j)*g.W + rx.start
		clear(dstCE[base : base+rx.n])
		if dstProb != nil {
			for i := range dstProb[base : base+rx.n] {
				dstProb[base+i] = 1
			}
		}
	}
}

func pixelCEBackwardCell(on []float32, labels []int32, coef []float32, ignore int32, g *lossGeom, s *cell, n int, ry, rx run) {
	c := g.c
	e := s.e[:c]
	start, rr := s.start[:c], s.rr[:c]
	pv, q := s.pv[:c], s.q[:c]
	rs, rxs := s.rs[:c], s.rx[:c]
	g00, g01, g10, g11 := s.g00[:c], s.g01[:c], s.g10[:c], s.g11[:c]
	clear(g00)
	clear(g01)
	clear(g10)
	clear(g11)
	for j := 0; j < ry.n; j++ {
		y := ry.start + j
		ly := g.ym.L[y]
		clear(rs)
		clear(rxs)
		base := (n*g.H + y) * g.W
		if s.fast {
			backwardRowFast(s, labels, coef, ignore, g, base, rx)
		} else {
			for i := 0; i < rx.n; i++ {
				x := rx.start + i
				idx := base + x
				lab := labels[idx]
				cf := coef[idx]
				if lab == ignore || cf == 0 {
					continue
				}
				if lab < 0 || int(lab) >= c {
					badLabel("PixelCEBackward", lab, idx, c)
				}
				lx := g.xm.L[x]
				_, sum := s.direct(ly, lx)
				accum(rs, rxs, e, cf/sum, lx)
				rs[lab] -= cf
				rxs[lab] -= cf * lx
			}
		}
		for k := range rs {
			b := rxs[k]
			a := rs[k] - b
			g00[k] += (1 - ly) * a
			g01[k] += (1 - ly) * b
			g10[k] += ly * a
			g11[k] += ly * b
		}
		if s.fast && j+1 < ry.n {
			for k := range start {
				start[k] *= pv[k]
				rr[k] *= q[k]
			}
		}
	}
	hw := g.h * g.w
	p00, p01 := ry.i0*g.w+rx.i0, ry.i0*g.w+rx.i1
	p10, p11 := ry.i1*g.w+rx.i0, ry.i1*g.w+rx.i1
	for k := 0; k < c; k++ {
		p := on[k*hw : (k+1)*hw]
		p[p00] += g00[k]
		p[p01] += g01[k]
		p[p10] += g10[k]
		p[p11] += g11[k]
	}
}

// backwardRowFast accumulates into s.rs and s.rx the gradient sums of one
// cell row on the fast path, where e at column i is start*rr^i. A first
// pass walks the recurrence for the per-pixel sums; a second evaluates,
// per class, sum_i inv_i*rr^i and sum_i inv_i*lx_i*rr^i by Horner's rule
// (inv_i = coef_i/sum_i), four classes at a time, without stores per
// pixel and class.
func backwardRowFast(s *cell, labels []int32, coef []float32, ignore int32, g *lossGeom, base int, rx run) {
	c := g.c
	n := rx.n
	if cap(s.inv) < 2*n {
		s.inv = make([]float32, 2*n)
	}
	inv, invlx := s.inv[:n], s.inv[n:2*n]
	e, start, rr := s.e[:c], s.start[:c], s.rr[:c]
	rs, rxs := s.rs[:c], s.rx[:c]
	copy(e, start)
	active := false
	next := sum4(e)
	for i := 0; i < n; i++ {
		x := rx.start + i
		idx := base + x
		lab := labels[idx]
		cf := coef[idx]
		sum := next
		if i+1 < n {
			next = advSum(e, rr)
		}
		if lab == ignore || cf == 0 {
			inv[i], invlx[i] = 0, 0
			continue
		}
		if lab < 0 || int(lab) >= c {
			badLabel("PixelCEBackward", lab, idx, c)
		}
		active = true
		lx := g.xm.L[x]
		inv[i] = cf / sum
		invlx[i] = inv[i] * lx
		rs[lab] -= cf
		rxs[lab] -= cf * lx
	}
	if !active {
		return
	}
	k := 0
	for ; k+4 <= c; k += 4 {
		r0, r1, r2, r3 := rr[k], rr[k+1], rr[k+2], rr[k+3]
		a0, a1, a2, a3 := inv[n-1], inv[n-1], inv[n-1], inv[n-1]
		b0, b1, b2, b3 := invlx[n-1], invlx[n-1], invlx[n-1], invlx[n-1]
		for i := n - 2; i >= 0; i-- {
			v, w := inv[i], invlx[i]
			a0, a1, a2, a3 = a0*r0+v, a1*r1+v, a2*r2+v, a3*r3+v
			b0, b1, b2, b3 = b0*r0+w, b1*r1+w, b2*r2+w, b3*r3+w
		}
		st := start[k : k+4 : k+4]
		rs4, rx4 := rs[k:k+4:k+4], rxs[k:k+4:k+4]
		rs4[0] += st[0] * a0
		rs4[1] += st[1] * a1
		rs4[2] += st[2] * a2
		rs4[3] += st[3] * a3
		rx4[0] += st[0] * b0
		rx4[1] += st[1] * b1
		rx4[2] += st[2] * b2
		rx4[3] += st[3] * b3
	}
	for ; k < c; k++ {
		r0 := rr[k]
		a, b := inv[n-1], invlx[n-1]
		for i := n - 2; i >= 0; i-- {
			a = a*r0 + inv[i]
			b = b*r0 + invlx[i]
		}
		rs[k] += start[k] * a
		rxs[k] += start[k] * b
	}
}

// sum4 returns the sum of e, with four partial sums to shorten the chain
// of dependent additions.
func sum4(e []float32) float32 {
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(e); k += 4 {
		v := e[k : k+4 : k+4]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
	}
	for ; k < len(e); k++ {
		s0 += e[k]
	}
	return (s0 + s1) + (s2 + s3)
}

// advSum multiplies e by r element-wise and returns the new sum of e
// (summed as sum4 does).
func advSum(e, r []float32) float32 {
	r = r[:len(e)]
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(e); k += 4 {
		v := e[k : k+4 : k+4]
		m := r[k : k+4 : k+4]
		v0, v1, v2, v3 := v[0]*m[0], v[1]*m[1], v[2]*m[2], v[3]*m[3]
		v[0], v[1], v[2], v[3] = v0, v1, v2, v3
		s0 += v0
		s1 += v1
		s2 += v2
		s3 += v3
	}
	for ; k < len(e); k++ {
		v := e[k] * r[k]
		e[k] = v
		s0 += v
	}
	return (s0 + s1) + (s2 + s3)
}

// accum adds g = e*inv into rs and g*lx into rx.
func accum(rs, rx, e []float32, inv, lx float32) {
	rs = rs[:len(e)]
	rx = rx[:len(e)]
	for k, v := range e {
		g := v * inv
		rs[k] += g
		rx[k] += g * lx
	}
}

// reduceParts adds parts[1:] into dst (which is parts[0]) in order, in
// parallel over disjoint element ranges.
func reduceParts(t int, dst []float32, parts [][]float32) {
	if len(parts) < 2 {
		return
	}
	parallel(t, len(dst), func(_, lo, hi int) {
		d := dst[lo:hi]
		for _, p := range parts[1:] {
			for i, v := range p[lo:hi] {
				d[i] += v
			}
		}
	})
}
