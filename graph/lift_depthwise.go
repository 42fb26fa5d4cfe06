package graph

// The depthwise path of GConv2d: one input channel per group (MobileNet's
// blocks), computed plane by plane with direct loops instead of an im2col
// of one row per output and a GEMM of one output row.

// depthwise reports whether c takes the direct depthwise path.
func (c *GConv2d) depthwise() bool {
	return c.fast == nil && c.Spec.InC == c.Spec.Groups && !dwIm2col
}

// dwIm2col sends depthwise convolutions through im2col (tests and
// benchmarks compare the two paths).
var dwIm2col bool

// axisRange returns the output indices [lo, hi) of an axis of out
// samples whose input index o*st - pad + k*dil lies in [0, in).
func axisRange(out, in, st, pad, off int) (lo, hi int) {
	// o*st >= pad - off  and  o*st <= in - 1 + pad - off
	a := pad - off
	if a > 0 {
		lo = (a + st - 1) / st
	}
	b := in - 1 + pad - off
	if b < 0 {
		return 0, 0
	}
	hi = min(out, b/st+1)
	return lo, max(hi, lo)
}

// dwForwardPlane adds into y (ho x wo) the depthwise convolution of plane
// x (h x w) with kernel k (KH x KW).
func (c *GConv2d) dwForwardPlane(y, x, k []float32, h, w, ho, wo int) {
	s := c.Spec
	for ky := 0; ky < s.KH; ky++ {
		y0, y1 := axisRange(ho, h, s.StrideH, s.PadT, ky*s.DilH)
		for kx := 0; kx < s.KW; kx++ {
			x0, x1 := axisRange(wo, w, s.StrideW, s.PadL, kx*s.DilW)
			wv := k[ky*s.KW+kx]
			if wv == 0 || x0 >= x1 {
				continue
			}
			for oy := y0; oy < y1; oy++ {
				in := x[(oy*s.StrideH-s.PadT+ky*s.DilH)*w:][:w]
				out := y[oy*wo : (oy+1)*wo]
				ix := x0*s.StrideW - s.PadL + kx*s.DilW
				if s.StrideW == 1 {
					src := in[ix : ix+x1-x0]
					dst := out[x0:x1]
					for i, v := range src {
						dst[i] += wv * v
					}
					continue
				}
				for ox := x0; ox < x1; ox++ {
					out[ox] += wv * in[ix]
					ix += s.StrideW
				}
			}
		}
	}
}

// dwBackwardPlane adds the kernel gradient into gk and, when dx is not
// nil, the input gradient into dx, for output gradient dy of plane x.
func (c *GConv2d) dwBackwardPlane(gk, dx, dy, x []float32, h, w, ho, wo int, k []float32) {
	s := c.Spec
	for ky := 0; ky < s.KH; ky++ {
		y0, y1 := axisRange(ho, h, s.StrideH, s.PadT, ky*s.DilH)
		for kx := 0; kx < s.KW; kx++ {
			x0, x1 := axisRange(wo, w, s.StrideW, s.PadL, kx*s.DilW)
			if x0 >= x1 {
				continue
			}
			wv := k[ky*s.KW+kx]
			var sum float32
			for oy := y0; oy < y1; oy++ {
				row := (oy*s.StrideH - s.PadT + ky*s.DilH) * w
				in := x[row:][:w]
				g := dy[oy*wo : (oy+1)*wo]
				ix := x0*s.StrideW - s.PadL + kx*s.DilW
				for ox := x0; ox < x1; ox++ {
					sum += g[ox] * in[ix]
					if dx != nil {
						dx[row+ix] += wv * g[ox]
					}
					ix += s.StrideW
				}
			}
			gk[ky*s.KW+kx] += sum
		}
	}
}

// dwForward is Forward on the depthwise path.
func (c *GConv2d) dwForward(x *Tensor, ho, wo int) *Tensor {
	s := c.Spec
	og := s.OutC / s.Groups
	kk := s.KH * s.KW
	y := NewTensor(x.N, s.OutC, ho, wo)
	parallel(threadsOr(c.Threads), x.N*s.OutC, func(_, lo, hi int) {
		for it := lo; it < hi; it++ {
			n, o := it/s.OutC, it%s.OutC
			out := y.Data[it*ho*wo:][:ho*wo]
			if c.Bias != nil {
				for i := range out {
					out[i] = c.Bias.Data[o]
				}
			}
			in := x.Data[(n*s.InC+o/og)*x.H*x.W:][:x.H*x.W]
			c.dwForwardPlane(out, in, c.Weight.Data[o*kk:][:kk], x.H, x.W, ho, wo)
		}
	})
	return y
}

// dwBackward is Backward on the depthwise path. Work is split over
// (image, group) pairs so that input gradient planes are written by one
// worker; kernel gradients are summed per worker in a fixed order.
func (c *GConv2d) dwBackward(dy *Tensor, ho, wo int) *Tensor {
	x := c.x
	s := c.Spec
	og := s.OutC / s.Groups
	kk := s.KH * s.KW
	var dx *Tensor
	if !c.SkipInputGrad {
		dx = NewTensor(x.N, s.InC, x.H, x.W)
	}
	t := threadsOr(c.Threads)
	items := x.N * s.Groups
	nw := workers(t, items)
	dW, dB := make([][]float32, nw), make([][]float32, nw)
	dW[0] = c.Weight.Grad
	if c.Bias != nil {
		dB[0] = c.Bias.Grad
	}
	for w := 1; w < nw; w++ {
		dW[w] = make([]float32, len(c.Weight.Grad))
		if c.Bias != nil {
			dB[w] = make([]float32, s.OutC)
		}
	}
	parallel(t, items, func(wk, lo, hi int) {
		for it := lo; it < hi; it++ {
			n, g := it/s.Groups, it%s.Groups
			in := x.Data[it*x.H*x.W:][:x.H*x.W]
			var dxp []float32
			if dx != nil {
				dxp = dx.Data[it*x.H*x.W:][:x.H*x.W]
			}
			for j := 0; j < og; j++ {
				o := g*og + j
				gy := dy.Data[(n*s.OutC+o)*ho*wo:][:ho*wo]
				if c.Bias != nil {
					var sum float32
					for _, v := range gy {
						sum += v
					}
					dB[wk][o] += sum
				}
				c.dwBackwardPlane(dW[wk][o*kk:][:kk], dxp, gy, in, x.H, x.W, ho, wo, c.Weight.Data[o*kk:][:kk])
			}
		}
	})
	for w := 1; w < nw; w++ {
		addTo(c.Weight.Grad, dW[w])
		if c.Bias != nil {
			addTo(c.Bias.Grad, dB[w])
		}
	}
	return dx
}
