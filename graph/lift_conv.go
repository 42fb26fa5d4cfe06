package graph

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// ConvSpec is the geometry of a GConv2d, as ONNX's Conv describes it:
// kernel KH x KW, strides, the four zero paddings (top, left, bottom,
// right), dilations and the number of groups (InC and OutC are multiples
// of Groups; Groups == InC is a depthwise convolution).
type ConvSpec struct {
	InC, OutC, Groups      int
	KH, KW                 int
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	DilH, DilW             int
	Bias                   bool
}

// GConv2d is the general 2-D convolution of ONNX's Conv: any kernel,
// strides, asymmetric zero padding, dilations and groups. Weight has shape
// OutC x InC/Groups x KH x KW; Bias (nil when absent) has OutC values.
// A convolution that Conv2d can compute (one group, square kernel,
// stride 1, equal paddings and dilations) is computed by a Conv2d sharing
// the parameters; a depthwise one (one input channel per group) by direct
// loops per plane; the others go through im2col per image, group and band
// of output rows, with the column buffer kept below a few million values.
//
// SkipInputGrad and Threads are as for Conv2d.
type GConv2d struct {
	Spec          ConvSpec
	Weight, Bias  *Param
	SkipInputGrad bool
	Threads       int

	fast *Conv2d
	x    *Tensor
}

// NewGConv2d returns a zero-initialised convolution of geometry s;
// parameter names are prefixed with name. It panics on an invalid
// geometry.
func NewGConv2d(name string, s ConvSpec) *GConv2d {
	if s.Groups < 1 || s.InC < 1 || s.OutC < 1 || s.InC%s.Groups != 0 || s.OutC%s.Groups != 0 ||
		s.KH < 1 || s.KW < 1 || s.StrideH < 1 || s.StrideW < 1 || s.DilH < 1 || s.DilW < 1 ||
		s.PadT < 0 || s.PadL < 0 || s.PadB < 0 || s.PadR < 0 {
		panic(fmt.Sprintf("graph: bad conv %s: %+v", name, s))
	}
	c := &GConv2d{Spec: s}
	c.Weight = newParam(name+".weight", true, s.OutC, s.InC/s.Groups, s.KH, s.KW)
	if s.Bias {
		c.Bias = newParam(name+".bias", false, s.OutC)
	}
	if s.Groups == 1 && s.KH == s.KW && s.StrideH == 1 && s.StrideW == 1 && s.DilH == s.DilW &&
		s.PadT == s.PadL && s.PadT == s.PadB && s.PadT == s.PadR {
		c.fast = &Conv2d{InC: s.InC, OutC: s.OutC, K: s.KH, Pad: s.PadT, Dil: s.DilH, Weight: c.Weight, Bias: c.Bias}
	}
	return c
}

func (c *GConv2d) setThreads(n int) { c.Threads = n }

// Params returns the weight and, when present, the bias.
func (c *GConv2d) Params() []*Param {
	if c.Bias != nil {
		return []*Param{c.Weight, c.Bias}
	}
	return []*Param{c.Weight}
}

// OutSize returns the output height and width for an h x w input (values
// below 1 when the input is too small).
func (c *GConv2d) OutSize(h, w int) (int, int) {
	s := c.Spec
	ho := (h+s.PadT+s.PadB-s.DilH*(s.KH-1)-1)/s.StrideH + 1
	wo := (w+s.PadL+s.PadR-s.DilW*(s.KW-1)-1)/s.StrideW + 1
	if h+s.PadT+s.PadB-s.DilH*(s.KH-1)-1 < 0 {
		ho = 0
	}
	if w+s.PadL+s.PadR-s.DilW*(s.KW-1)-1 < 0 {
		wo = 0
	}
	return ho, wo
}

// colLimit is the largest number of values of a column buffer; the output
// rows of an image are split into bands that respect it.
const colLimit = 1 << 22

// gbands returns the number of row bands for ho output rows of wo pixels
// and kk column rows.
func gbands(kk, ho, wo int) int {
	per := kk * wo
	rows := max(1, colLimit/max(per, 1))
	return min(ho, (ho+rows-1)/rows)
}

// bandAt returns the image n, the group g and the output rows [r0, r1)
// of work item it of the im2col passes of GConv2d and Conv2d (one group),
// which run over images, then groups, then nb bands of the ho output rows.
func bandAt(it, groups, nb, ho int) (n, g, r0, r1 int) {
	n, g, b := it/(groups*nb), (it/nb)%groups, it%nb
	return n, g, b * ho / nb, (b + 1) * ho / nb
}

// im2col writes the columns of group g of image xn for output rows
// [r0, r1) into dst, laid out (Cg*KH*KW) x ((r1-r0)*wo).
func (c *GConv2d) im2col(dst, xn []float32, g, h, w, wo, r0, r1 int) {
	c.Spec.colMove(dst, xn, g, h, w, wo, r0, r1, false)
}

// col2im adds the column gradients of group g into image gradient dxn.
func (c *GConv2d) col2im(dxn, cols []float32, g, h, w, wo, r0, r1 int) {
	c.Spec.colMove(cols, dxn, g, h, w, wo, r0, r1, true)
}

// colMove is the traversal of GConv2d's im2col and col2im, which it keeps
// each other's transpose: it pairs every value of the column matrix cols of
// group g (output rows [r0, r1), laid out (Cg*KH*KW) x ((r1-r0)*wo)) with
// the pixel of image img it reads. With back false it writes that pixel
// into cols, 0 where it falls in the padding; with back true it adds the
// column value into the pixel.
func (s ConvSpec) colMove(cols, img []float32, g, h, w, wo, r0, r1 int, back bool) {
	cg := s.InC / s.Groups
	p := (r1 - r0) * wo
	for ci := 0; ci < cg; ci++ {
		plane := img[(g*cg+ci)*h*w:][:h*w]
		for ky := 0; ky < s.KH; ky++ {
			for kx := 0; kx < s.KW; kx++ {
				row := cols[((ci*s.KH+ky)*s.KW+kx)*p:][:p]
				for oy := r0; oy < r1; oy++ {
					col := row[(oy-r0)*wo:][:wo]
					iy := oy*s.StrideH - s.PadT + ky*s.DilH
					if iy < 0 || iy >= h {
						if !back {
							clear(col)
						}
						continue
					}
					pix := plane[iy*w:][:w]
					if back {
						scatterRow(pix, col, kx*s.DilW-s.PadL, s.StrideW)
					} else {
						gatherRow(col, pix, kx*s.DilW-s.PadL, s.StrideW)
					}
				}
			}
		}
	}
}

// gatherRow sets dst[o] to src[ix0+o*stride], 0 outside src.
func gatherRow(dst, src []float32, ix0, stride int) {
	ix := ix0
	for o := range dst {
		if ix >= 0 && ix < len(src) {
			dst[o] = src[ix]
		} else {
			dst[o] = 0
		}
		ix += stride
	}
}

// scatterRow adds src[o] into dst[ix0+o*stride], skipping what falls
// outside dst.
func scatterRow(dst, src []float32, ix0, stride int) {
	ix := ix0
	for _, v := range src {
		if ix >= 0 && ix < len(dst) {
			dst[ix] += v
		}
		ix += stride
	}
}

func (c *GConv2d) checkIn(x *Tensor) (int, int) {
	x.check("conv forward")
	if x.C != c.Spec.InC {
		panic(fmt.Sprintf("graph: conv %s: input has %d channels, want %d", c.Weight.Name, x.C, c.Spec.InC))
	}
	ho, wo := c.OutSize(x.H, x.W)
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("graph: conv %s: input %dx%d too small", c.Weight.Name, x.H, x.W))
	}
	return ho, wo
}

// Forward computes the convolution of x; it keeps x for Backward. It
// panics when x has the wrong number of channels or is smaller than the
// kernel's span.
func (c *GConv2d) Forward(x *Tensor, train bool) *Tensor {
	ho, wo := c.checkIn(x)
	if c.fast != nil {
		c.fast.Threads, c.fast.SkipInputGrad = c.Threads, c.SkipInputGrad
		c.x = x
		return c.fast.Forward(x, train)
	}
	c.x = x
	if c.depthwise() {
		return c.dwForward(x, ho, wo)
	}
	s := c.Spec
	cg, og := s.InC/s.Groups, s.OutC/s.Groups
	kk := cg * s.KH * s.KW
	y := NewTensor(x.N, s.OutC, ho, wo)
	nb := gbands(kk, ho, wo)
	items := x.N * s.Groups * nb
	parallel(threadsOr(c.Threads), items, func(_, lo, hi int) {
		var cols []float32
		for it := lo; it < hi; it++ {
			n, g, r0, r1 := bandAt(it, s.Groups, nb, ho)
			p := (r1 - r0) * wo
			yn := y.Data[(n*s.OutC+g*og)*ho*wo:]
			ym := blas32.General{Rows: og, Cols: p, Stride: ho * wo, Data: yn[r0*wo:]}
			var beta float32
			if c.Bias != nil {
				for o := 0; o < og; o++ {
					row := yn[o*ho*wo+r0*wo:][:p]
					bv := c.Bias.Data[g*og+o]
					for i := range row {
						row[i] = bv
					}
				}
				beta = 1
			}
			if cap(cols) < kk*p {
				cols = make([]float32, kk*p)
			}
			cols = cols[:kk*p]
			c.im2col(cols, x.Data[n*s.InC*x.H*x.W:], g, x.H, x.W, wo, r0, r1)
			if !convBlas32 {
				gemm(og, p, kk, mat{Data: c.Weight.Data[g*og*kk:], Stride: kk}, mat{Data: cols, Stride: p}, ym.Data, ym.Stride, beta != 0)
				continue
			}
			wm := blas32.General{Rows: og, Cols: kk, Stride: kk, Data: c.Weight.Data[g*og*kk:]}
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, wm, blas32.General{Rows: kk, Cols: p, Stride: p, Data: cols}, beta, ym)
		}
	})
	return y
}

// Backward accumulates the weight and bias gradients for output gradient
// dy and returns the input gradient, or nil when SkipInputGrad is set.
func (c *GConv2d) Backward(dy *Tensor) *Tensor {
	x := c.x
	if x == nil {
		panic("graph: conv backward before forward")
	}
	if c.fast != nil {
		c.fast.Threads, c.fast.SkipInputGrad = c.Threads, c.SkipInputGrad
		return c.fast.Backward(dy)
	}
	dy.check("conv backward")
	s := c.Spec
	ho, wo := c.OutSize(x.H, x.W)
	if dy.N != x.N || dy.C != s.OutC || dy.H != ho || dy.W != wo {
		panic(fmt.Sprintf("graph: conv %s: gradient shape %dx%dx%dx%d, want %dx%dx%dx%d", c.Weight.Name, dy.N, dy.C, dy.H, dy.W, x.N, s.OutC, ho, wo))
	}
	if c.depthwise() {
		return c.dwBackward(dy, ho, wo)
	}
	cg, og := s.InC/s.Groups, s.OutC/s.Groups
	kk := cg * s.KH * s.KW
	nb := gbands(kk, ho, wo)
	items := x.N * s.Groups * nb
	t := threadsOr(c.Threads)
	nw := workers(t, items)
	var dx *Tensor
	if !c.SkipInputGrad {
		dx = NewTensor(x.N, s.InC, x.H, x.W)
	}
	dW, dB, dX := make([][]float32, nw), make([][]float32, nw), make([][]float32, nw)
	dW[0] = c.Weight.Grad
	if c.Bias != nil {
		dB[0] = c.Bias.Grad
	}
	if dx != nil {
		dX[0] = dx.Data
	}
	for w := 1; w < nw; w++ {
		dW[w] = make([]float32, len(c.Weight.Grad))
		if c.Bias != nil {
			dB[w] = make([]float32, s.OutC)
		}
		if dx != nil {
			dX[w] = make([]float32, len(dx.Data))
		}
	}
	parallel(t, items, func(wk, lo, hi int) {
		var cols, dcols []float32
		for it := lo; it < hi; it++ {
			n, g, r0, r1 := bandAt(it, s.Groups, nb, ho)
			p := (r1 - r0) * wo
			dyn := dy.Data[(n*s.OutC+g*og)*ho*wo:]
			dym := blas32.General{Rows: og, Cols: p, Stride: ho * wo, Data: dyn[r0*wo:]}
			if c.Bias != nil {
				gb := dB[wk]
				for o := 0; o < og; o++ {
					var sum float32
					for _, v := range dyn[o*ho*wo+r0*wo:][:p] {
						sum += v
					}
					gb[g*og+o] += sum
				}
			}
			if cap(cols) < kk*p {
				cols = make([]float32, kk*p)
			}
			cols = cols[:kk*p]
			xn := x.Data[n*s.InC*x.H*x.W:]
			c.im2col(cols, xn, g, x.H, x.W, wo, r0, r1)
			cm := blas32.General{Rows: kk, Cols: p, Stride: p, Data: cols}
			gw := blas32.General{Rows: og, Cols: kk, Stride: kk, Data: dW[wk][g*og*kk:]}
			if convBlas32 {
				blas32.Gemm(blas.NoTrans, blas.Trans, 1, dym, cm, 1, gw)
			} else {
				gemm(og, kk, p, mat{Data: dym.Data, Stride: dym.Stride}, mat{Data: cols, Stride: p, T: true}, gw.Data, kk, true)
			}
			if dx == nil {
				continue
			}
			if cap(dcols) < kk*p {
				dcols = make([]float32, kk*p)
			}
			dcols = dcols[:kk*p]
			wm := blas32.General{Rows: og, Cols: kk, Stride: kk, Data: c.Weight.Data[g*og*kk:]}
			if convBlas32 {
				blas32.Gemm(blas.Trans, blas.NoTrans, 1, wm, dym, 0, blas32.General{Rows: kk, Cols: p, Stride: p, Data: dcols})
			} else {
				gemm(kk, p, og, mat{Data: wm.Data, Stride: kk, T: true}, mat{Data: dym.Data, Stride: dym.Stride}, dcols, p, false)
			}
			c.col2im(dX[wk][n*s.InC*x.H*x.W:], dcols, g, x.H, x.W, wo, r0, r1)
		}
	})
	for w := 1; w < nw; w++ {
		addTo(c.Weight.Grad, dW[w])
		if c.Bias != nil {
			addTo(c.Bias.Grad, dB[w])
		}
		if dx != nil {
			addTo(dx.Data, dX[w])
		}
	}
	return dx
}
