package graph

import (
	"fmt"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Conv2d is a stride-1 2-D convolution with square kernel K (1 or 3 in the
// heads, any odd or even size works), zero padding Pad and dilation Dil.
// Weight has shape OutC x InC x K x K; Bias (nil when absent) has OutC
// values. A 1x1 kernel without padding is computed as a direct matrix
// product (gemm) per image, larger kernels through im2col over bands of
// output rows, so the column buffer never holds more than one band; a
// band leaves out the kernel rows that read only padding for all its
// rows (with a large dilation, whole kernel rows near the top and bottom).
//
// When SkipInputGrad is set, Backward computes only the parameter gradients
// and returns nil; heads use it for their first layer because the backbone
// features are frozen. Threads is the number of goroutines Forward and
// Backward use (0: the package default, GOMAXPROCS); the results are
// deterministic for a given value.
type Conv2d struct {
	InC, OutC, K, Pad, Dil int
	Weight, Bias           *Param
	SkipInputGrad          bool
	Threads                int

	x *Tensor
	// partW and partB hold the parameter gradients of workers 1.. between
	// Backward calls, so that a step allocates (and zeroes serially) none;
	// each worker clears its own.
	partW, partB [][]float32
}

// NewConv2d returns a zero-initialised convolution; parameter names are
// prefixed with name.
func NewConv2d(name string, inC, outC, k, pad, dil int, bias bool) *Conv2d {
	if inC < 1 || outC < 1 || k < 1 || pad < 0 || dil < 1 {
		panic(fmt.Sprintf("graph: bad conv %s: in %d out %d k %d pad %d dil %d", name, inC, outC, k, pad, dil))
	}
	c := &Conv2d{InC: inC, OutC: outC, K: k, Pad: pad, Dil: dil}
	c.Weight = newParam(name+".weight", true, outC, inC, k, k)
	if bias {
		c.Bias = newParam(name+".bias", false, outC)
	}
	return c
}

// Params returns the weight and, when present, the bias.
func (c *Conv2d) Params() []*Param {
	if c.Bias != nil {
		return []*Param{c.Weight, c.Bias}
	}
	return []*Param{c.Weight}
}

// OutSize returns the output height and width for an h x w input.
func (c *Conv2d) OutSize(h, w int) (int, int) {
	span := c.Dil * (c.K - 1)
	return h + 2*c.Pad - span, w + 2*c.Pad - span
}

func (c *Conv2d) direct() bool { return c.K == 1 && c.Pad == 0 }

func (c *Conv2d) setThreads(n int) { c.Threads = n }

// convBand is a band of output rows [r0, r1) of one image, within which
// kernel rows [ky0, ky1) are exactly those that read inside the input: the
// others read only padding and are left out of the band's product.
type convBand struct{ r0, r1, ky0, ky1 int }

// convBands returns the number of row bands per image of c for n images
// of ho x wo outputs on t threads; see bandList.
func (c *Conv2d) convBands(t, n, ho, wo int) int {
	return len(c.bandList(t, n, ho-2*c.Pad+c.Dil*(c.K-1), ho, wo))
}

// bandList returns the row bands of one image: for an im2col convolution
// the output rows are first cut where a kernel row starts or stops
// reading inside the input (with a large dilation whole kernel rows read
// only padding near the top and bottom), then each piece into bands of
// at most ceil(ho/bands(t, n, ho)) rows, enough for every thread to have
// work, and of at most colLimit column values (a 3x3 convolution on 2048
// channels at 128x256 would otherwise want 1.2 GB per band). It depends
// only on the shapes and t.
func (c *Conv2d) bandList(t, n, h, ho, wo int) []convBand {
	rows := (ho + bands(t, n, ho) - 1) / bands(t, n, ho)
	if c.direct() {
		nb := bands(t, n, ho)
		list := make([]convBand, nb)
		for b := range list {
			list[b] = convBand{b * ho / nb, (b + 1) * ho / nb, 0, c.K}
		}
		return list
	}
	cuts := []int{0, ho}
	for ky := 0; ky < c.K; ky++ {
		// Kernel row ky reads inside the input for oy in [a, b).
		a, b := c.Pad-ky*c.Dil, h+c.Pad-ky*c.Dil
		cuts = append(cuts, min(max(a, 0), ho), min(max(b, 0), ho))
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var list []convBand
	for i := 0; i+1 < len(cuts); i++ {
		r0, r1 := cuts[i], cuts[i+1]
		ky0, ky1 := -1, 0
		for ky := 0; ky < c.K; ky++ {
			if iy := r0 - c.Pad + ky*c.Dil; iy >= 0 && iy < h {
				if ky0 < 0 {
					ky0 = ky
				}
				ky1 = ky + 1
			}
		}
		ky0 = max(ky0, 0)
		if convAllRows {
			ky0, ky1 = 0, c.K
		}
		lim := max(1, colLimit/max(1, c.InC*(ky1-ky0)*c.K*wo))
		nb := max((r1-r0+rows-1)/rows, (r1-r0+lim-1)/lim)
		for b := 0; b < nb; b++ {
			list = append(list, convBand{r0 + b*(r1-r0)/nb, r0 + (b+1)*(r1-r0)/nb, ky0, ky1})
		}
	}
	return list
}

// bands returns how many row bands per image split n images over t threads.
func bands(t, n, rows int) int {
	b := (t + n - 1) / n
	if b > rows {
		b = rows
	}
	if b < 1 {
		b = 1
	}
	return b
}

// im2col writes the column matrix of image xn (InC x H x W) for output
// rows [r0, r1) and kernel rows [ky0, ky1) into dst, laid out
// (InC*(ky1-ky0)*K) x ((r1-r0)*wo).
func (c *Conv2d) im2col(dst, xn []float32, h, w, wo, r0, r1, ky0, ky1 int) {
	p := (r1 - r0) * wo
	k := c.K
	for ci := 0; ci < c.InC; ci++ {
		plane := xn[ci*h*w : (ci+1)*h*w]
		for ky := ky0; ky < ky1; ky++ {
			for kx := 0; kx < k; kx++ {
				row := dst[((ci*(ky1-ky0)+ky-ky0)*k+kx)*p:][:p]
				dx := kx*c.Dil - c.Pad
				// Outputs [lo, hi) of a row read src[lo+dx : hi+dx]; the
				// others fall in the padding.
				lo, hi := min(max(0, -dx), wo), max(min(wo, w-dx), 0)
				for oy := r0; oy < r1; oy++ {
					out := row[(oy-r0)*wo : (oy-r0+1)*wo]
					iy := oy - c.Pad + ky*c.Dil
					if iy < 0 || iy >= h || lo >= hi {
						clear(out)
						continue
					}
					src := plane[iy*w : (iy+1)*w]
					clear(out[:lo])
					copy(out[lo:hi], src[lo+dx:hi+dx])
					clear(out[hi:])
				}
			}
		}
	}
}

// col2im adds the column gradients cols ((InC*(ky1-ky0)*K) x
// ((r1-r0)*wo), as im2col lays them out) into image gradient dxn
// (InC x H x W).
func (c *Conv2d) col2im(dxn, cols []float32, h, w, wo, r0, r1, ky0, ky1 int) {
	p := (r1 - r0) * wo
	k := c.K
	for ci := 0; ci < c.InC; ci++ {
		plane := dxn[ci*h*w : (ci+1)*h*w]
		for ky := ky0; ky < ky1; ky++ {
			for kx := 0; kx < k; kx++ {
				row := cols[((ci*(ky1-ky0)+ky-ky0)*k+kx)*p:][:p]
				dx := kx*c.Dil - c.Pad
				lo, hi := min(max(0, -dx), wo), max(min(wo, w-dx), 0)
				if lo >= hi {
					continue
				}
				for oy := r0; oy < r1; oy++ {
					iy := oy - c.Pad + ky*c.Dil
					if iy < 0 || iy >= h {
						continue
					}
					in := row[(oy-r0)*wo+lo : (oy-r0)*wo+hi]
					addTo(plane[iy*w+lo+dx:iy*w+hi+dx], in)
				}
			}
		}
	}
}

// bandWeights returns the weights of kernel rows [ky0, ky1) as an
// OutC x (InC*(ky1-ky0)*K) matrix: the weights themselves when that is all
// of them, else a copy in *buf (grown as needed).
func (c *Conv2d) bandWeights(buf *[]float32, ky0, ky1 int) blas32.General {
	kk := c.InC * c.K * c.K
	if ky0 == 0 && ky1 == c.K {
		return blas32.General{Rows: c.OutC, Cols: kk, Stride: kk, Data: c.Weight.Data}
	}
	run := (ky1 - ky0) * c.K
	kb := c.InC * run
	grow(buf, c.OutC*kb)
	for o := 0; o < c.OutC; o++ {
		for ci := 0; ci < c.InC; ci++ {
			copy((*buf)[o*kb+ci*run:][:run], c.Weight.Data[o*kk+ci*c.K*c.K+ky0*c.K:][:run])
		}
	}
	return blas32.General{Rows: c.OutC, Cols: kb, Stride: kb, Data: *buf}
}

// Forward computes the convolution of x; it keeps x for Backward.
func (c *Conv2d) Forward(x *Tensor, train bool) *Tensor {
	x.check("conv forward")
	if x.C != c.InC {
		panic(fmt.Sprintf("graph: conv %s: input has %d channels, want %d", c.Weight.Name, x.C, c.InC))
	}
	ho, wo := c.OutSize(x.H, x.W)
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("graph: conv %s: input %dx%d too small", c.Weight.Name, x.H, x.W))
	}
	c.x = x
	y := NewTensor(x.N, c.OutC, ho, wo)
	t := threadsOr(c.Threads)
	list := c.bandList(t, x.N, x.H, ho, wo)
	parallel(t, x.N*len(list), func(_, lo, hi int) {
		cols, wbuf := getScratch(), getScratch()
		defer putScratch(cols)
		defer putScratch(wbuf)
		for it := lo; it < hi; it++ {
			n, bd := it/len(list), list[it%len(list)]
			r0, r1 := bd.r0, bd.r1
			p := (r1 - r0) * wo
			yn := y.Data[n*c.OutC*ho*wo:]
			ym := blas32.General{Rows: c.OutC, Cols: p, Stride: ho * wo, Data: yn[r0*wo:]}
			var beta float32
			if c.Bias != nil {
				for o := 0; o < c.OutC; o++ {
					row := yn[o*ho*wo+r0*wo:][:p]
					bv := c.Bias.Data[o]
					for i := range row {
						row[i] = bv
					}
				}
				beta = 1
			}
			if bd.ky0 == bd.ky1 {
				// Every kernel row reads padding only.
				if beta == 0 {
					for o := 0; o < c.OutC; o++ {
						clear(yn[o*ho*wo+r0*wo:][:p])
					}
				}
				continue
			}
			wm := c.bandWeights(wbuf, bd.ky0, bd.ky1)
			xn := x.Data[n*c.InC*x.H*x.W : (n+1)*c.InC*x.H*x.W]
			xm := c.inputMatrix(cols, xn, x.H, x.W, wo, bd)
			switch {
			case c.OutC <= smallOut:
				if beta == 0 {
					for o := 0; o < c.OutC; o++ {
						clear(yn[o*ho*wo+r0*wo:][:p])
					}
				}
				gemmSmallNN(ym, wm, xm)
			case convBlas32:
				blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, wm, xm, beta, ym)
			default:
				gemm(c.OutC, p, wm.Cols, mat{Data: wm.Data, Stride: wm.Stride}, mat{Data: xm.Data, Stride: xm.Stride}, ym.Data, ym.Stride, beta != 0)
			}
		}
	})
	return y
}

// convBlas32 sends the products of Conv2d and GConv2d through gonum's
// blas32.Gemm and the tiled kernels below instead of gemm: the baseline
// that tests and benchmarks compare gemm with.
var convBlas32 bool

// convAllRows keeps every kernel row in every band of Conv2d (the
// padding-only ones included), as before bands left them out: the
// baseline of the benchmarks.
var convAllRows bool

// smallOut is the largest number of output channels for which the
// convolution uses the tiled kernels below instead of gonum's Gemm: with
// few output rows, tiles of pixels keep the outputs in cache and the
// vectors long.
const smallOut = 64

// gemmTile is the number of pixels per tile of the small kernels.
const gemmTile = 1024

// gemmSmallNN adds w*x into y (y: m x p, w: m x k, x: k x p) tile by tile
// over the columns.
func gemmSmallNN(y, w, x blas32.General) {
	for t0 := 0; t0 < y.Cols; t0 += gemmTile {
		n := min(gemmTile, y.Cols-t0)
		for l := 0; l < w.Cols; l++ {
			xv := blas32.Vector{N: n, Inc: 1, Data: x.Data[l*x.Stride+t0:]}
			for o := 0; o < y.Rows; o++ {
				if a := w.Data[o*w.Stride+l]; a != 0 {
					blas32.Axpy(a, xv, blas32.Vector{N: n, Inc: 1, Data: y.Data[o*y.Stride+t0:]})
				}
			}
		}
	}
}

// gemmSmallNT adds dy*x^T into g (g: m x k, dy: m x p, x: k x p) with dot
// products over tiles of columns.
func gemmSmallNT(g, dy, x blas32.General) {
	for t0 := 0; t0 < dy.Cols; t0 += gemmTile {
		n := min(gemmTile, dy.Cols-t0)
		for l := 0; l < x.Rows; l++ {
			xv := blas32.Vector{N: n, Inc: 1, Data: x.Data[l*x.Stride+t0:]}
			for o := 0; o < dy.Rows; o++ {
				g.Data[o*g.Stride+l] += blas32.Dot(xv, blas32.Vector{N: n, Inc: 1, Data: dy.Data[o*dy.Stride+t0:]})
			}
		}
	}
}

// Backward accumulates the weight and bias gradients for output gradient dy
// and returns the input gradient, or nil when SkipInputGrad is set.
func (c *Conv2d) Backward(dy *Tensor) *Tensor {
	x := c.x
	if x == nil {
		panic("graph: conv backward before forward")
	}
	dy.check("conv backward")
	ho, wo := c.OutSize(x.H, x.W)
	if dy.N != x.N || dy.C != c.OutC || dy.H != ho || dy.W != wo {
		panic(fmt.Sprintf("graph: conv %s: gradient shape %dx%dx%dx%d, want %dx%dx%dx%d", c.Weight.Name, dy.N, dy.C, dy.H, dy.W, x.N, c.OutC, ho, wo))
	}
	kk := c.InC * c.K * c.K
	var dx *Tensor
	if !c.SkipInputGrad {
		dx = NewTensor(x.N, c.InC, x.H, x.W)
	}
	t := threadsOr(c.Threads)
	list := c.bandList(t, x.N, x.H, ho, wo)
	nw := workers(t, x.N*len(list))
	// Per-worker partial sums keep the reduction order fixed for a given
	// thread count; worker 0 writes into the real gradients. The partial
	// parameter gradients are kept between calls and cleared by their
	// worker, in parallel.
	for len(c.partW) < nw-1 {
		c.partW = append(c.partW, nil)
		c.partB = append(c.partB, nil)
	}
	dW := make([][]float32, nw)
	dB := make([][]float32, nw)
	dX := make([][]float32, nw)
	dW[0] = c.Weight.Grad
	if c.Bias != nil {
		dB[0] = c.Bias.Grad
	}
	overlap := dx != nil && !c.direct()
	if dx != nil {
		dX[0] = dx.Data
	}
	for w := 1; w < nw; w++ {
		if len(c.partW[w-1]) != len(c.Weight.Grad) {
			c.partW[w-1] = make([]float32, len(c.Weight.Grad))
		}
		dW[w] = c.partW[w-1]
		if c.Bias != nil {
			if len(c.partB[w-1]) != c.OutC {
				c.partB[w-1] = make([]float32, c.OutC)
			}
			dB[w] = c.partB[w-1]
		}
		if overlap {
			// Cleared by its worker.
			b := getScratch()
			grow(b, len(dx.Data))
			dX[w] = *b
		}
	}
	parallel(t, x.N*len(list), func(wk, lo, hi int) {
		if wk > 0 {
			clear(dW[wk])
			clear(dB[wk])
			clear(dX[wk])
		}
		cols, dcols, wbuf, gbuf := getScratch(), getScratch(), getScratch(), getScratch()
		defer func() {
			putScratch(cols)
			putScratch(dcols)
			putScratch(wbuf)
			putScratch(gbuf)
		}()
		for it := lo; it < hi; it++ {
			n, bd := it/len(list), list[it%len(list)]
			r0, r1 := bd.r0, bd.r1
			p := (r1 - r0) * wo
			dyn := dy.Data[n*c.OutC*ho*wo:]
			dym := blas32.General{Rows: c.OutC, Cols: p, Stride: ho * wo, Data: dyn[r0*wo:]}
			if c.Bias != nil {
				g := dB[wk]
				for o := 0; o < c.OutC; o++ {
					var s float32
					for _, v := range dyn[o*ho*wo+r0*wo:][:p] {
						s += v
					}
					g[o] += s
				}
			}
			if bd.ky0 == bd.ky1 {
				continue
			}
			xn := x.Data[n*c.InC*x.H*x.W : (n+1)*c.InC*x.H*x.W]
			xm := c.inputMatrix(cols, xn, x.H, x.W, wo, bd)
			kb := xm.Rows
			// dW += dY * cols^T, into a matrix of the band's kernel rows
			// when it has not all of them.
			gw := blas32.General{Rows: c.OutC, Cols: kk, Stride: kk, Data: dW[wk]}
			part := kb != kk
			if part {
				grow(gbuf, c.OutC*kb)
				clear(*gbuf)
				gw = blas32.General{Rows: c.OutC, Cols: kb, Stride: kb, Data: *gbuf}
			}
			switch {
			case c.OutC <= smallOut:
				gemmSmallNT(gw, dym, xm)
			case convBlas32:
				blas32.Gemm(blas.NoTrans, blas.Trans, 1, dym, xm, 1, gw)
			default:
				gemm(c.OutC, kb, p, mat{Data: dym.Data, Stride: dym.Stride}, mat{Data: xm.Data, Stride: xm.Stride, T: true}, gw.Data, gw.Stride, true)
			}
			if part {
				run := (bd.ky1 - bd.ky0) * c.K
				for o := 0; o < c.OutC; o++ {
					for ci := 0; ci < c.InC; ci++ {
						addTo(dW[wk][o*kk+ci*c.K*c.K+bd.ky0*c.K:][:run], (*gbuf)[o*kb+ci*run:][:run])
					}
				}
			}
			if dx == nil {
				continue
			}
			// dX = W^T * dY, into dx itself for a direct convolution.
			wm := c.bandWeights(wbuf, bd.ky0, bd.ky1)
			dxm := blas32.General{Rows: kb, Cols: p, Stride: x.H * x.W, Data: dx.Data[n*c.InC*x.H*x.W+r0*wo:]}
			if !c.direct() {
				grow(dcols, kb*p)
				dxm = blas32.General{Rows: kb, Cols: p, Stride: p, Data: *dcols}
			}
			if convBlas32 {
				blas32.Gemm(blas.Trans, blas.NoTrans, 1, wm, dym, 0, dxm)
			} else {
				gemm(kb, p, c.OutC, mat{Data: wm.Data, Stride: wm.Stride, T: true}, mat{Data: dym.Data, Stride: dym.Stride}, dxm.Data, dxm.Stride, false)
			}
			if c.direct() {
				continue
			}
			c.col2im(dX[wk][n*c.InC*x.H*x.W:(n+1)*c.InC*x.H*x.W], *dcols, x.H, x.W, wo, r0, r1, bd.ky0, bd.ky1)
		}
	})
	for w := 1; w < nw; w++ {
		addTo(c.Weight.Grad, dW[w])
		if c.Bias != nil {
			addTo(c.Bias.Grad, dB[w])
		}
		if overlap {
			addTo(dx.Data, dX[w])
			b := dX[w]
			putScratch(&b)
		}
	}
	return dx
}

// inputMatrix returns the (InC*(ky1-ky0)*K) x (rows r0..r1 of the
// output) matrix of band bd that multiplies the band's weights for image
// xn: a view of xn itself for a 1x1 convolution without padding, else the
// im2col of the band in *cols (grown as needed).
func (c *Conv2d) inputMatrix(cols *[]float32, xn []float32, h, w, wo int, bd convBand) blas32.General {
	kb, p := c.InC*(bd.ky1-bd.ky0)*c.K, (bd.r1-bd.r0)*wo
	if c.direct() {
		return blas32.General{Rows: kb, Cols: p, Stride: h * w, Data: xn[bd.r0*wo:]}
	}
	grow(cols, kb*p)
	c.im2col(*cols, xn, h, w, wo, bd.r0, bd.r1, bd.ky0, bd.ky1)
	return blas32.General{Rows: kb, Cols: p, Stride: p, Data: *cols}
}

// scratch holds the buffers the convolutions' workers borrow for column
// matrices, band weights and partial gradients, so that a training step
// does not allocate them anew (their contents are not kept).
var scratch sync.Pool

// getScratch returns a buffer from scratch, of any length.
func getScratch() *[]float32 {
	if b, ok := scratch.Get().(*[]float32); ok {
		return b
	}
	return new([]float32)
}

// putScratch returns a buffer to scratch.
func putScratch(b *[]float32) {
	if cap(*b) > 0 {
		scratch.Put(b)
	}
}

// grow sets *b to n values, reallocating when its capacity is short.
func grow(b *[]float32, n int) {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}
