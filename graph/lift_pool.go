package graph

import "fmt"

// PoolSpec is the geometry of an AvgPool2d or MaxPool2d as ONNX's
// AveragePool and MaxPool describe it: kernel KH x KW, strides, the four
// paddings (top, left, bottom, right), dilations (MaxPool only; 0 means
// 1), CeilMode (the output size rounds up, and a window that would start
// in the bottom or right padding is dropped, as in PyTorch) and
// CountIncludePad (AveragePool: the divisor counts the padding inside the
// padded extent).
type PoolSpec struct {
	KH, KW                 int
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	DilH, DilW             int
	CeilMode               bool
	CountIncludePad        bool
}

func (s PoolSpec) dil() (int, int) { return max(s.DilH, 1), max(s.DilW, 1) }

func poolOut(in, k, st, p0, p1, d int, ceil bool) int {
	span := in + p0 + p1 - d*(k-1) - 1
	if span < 0 {
		return 0
	}
	out := span/st + 1
	if ceil && span%st != 0 {
		out++
		if (out-1)*st >= in+p0 {
			out--
		}
	}
	return out
}

// OutSize returns the output height and width for an h x w input.
func (s PoolSpec) OutSize(h, w int) (int, int) {
	dh, dw := s.dil()
	return poolOut(h, s.KH, s.StrideH, s.PadT, s.PadB, dh, s.CeilMode), poolOut(w, s.KW, s.StrideW, s.PadL, s.PadR, dw, s.CeilMode)
}

func (s PoolSpec) check(what string, x *Tensor) (int, int) {
	if s.KH < 1 || s.KW < 1 || s.StrideH < 1 || s.StrideW < 1 || s.PadT < 0 || s.PadL < 0 || s.PadB < 0 || s.PadR < 0 {
		panic(fmt.Sprintf("graph: %s: bad geometry %+v", what, s))
	}
	x.check(what)
	ho, wo := s.OutSize(x.H, x.W)
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("graph: %s: input %dx%d too small for %+v", what, x.H, x.W, s))
	}
	return ho, wo
}

// AvgPool2d is ONNX's AveragePool over H and W (dilations 1).
type AvgPool2d struct {
	Spec PoolSpec
	x    *Tensor
}

// window returns the input range [a, b) that output index o of an axis
// covers and the divisor's extent along it.
func avgWindow(o, k, st, p0, p1, in int, inclPad bool) (a, b, n int) {
	a = o*st - p0
	b = a + k
	if inclPad {
		n = min(b, in+p1) - a
	}
	a, b = max(a, 0), min(b, in)
	if !inclPad {
		n = b - a
	}
	return a, b, n
}

// Forward averages each window of x.
func (p *AvgPool2d) Forward(x *Tensor, train bool) *Tensor {
	s := p.Spec
	ho, wo := s.check("avgpool forward", x)
	p.x = x
	y := NewTensor(x.N, x.C, ho, wo)
	for pl := 0; pl < x.N*x.C; pl++ {
		in := x.Data[pl*x.H*x.W:][:x.H*x.W]
		out := y.Data[pl*ho*wo:][:ho*wo]
		for oy := 0; oy < ho; oy++ {
			y0, y1, ny := avgWindow(oy, s.KH, s.StrideH, s.PadT, s.PadB, x.H, s.CountIncludePad)
			for ox := 0; ox < wo; ox++ {
				x0, x1, nx := avgWindow(ox, s.KW, s.StrideW, s.PadL, s.PadR, x.W, s.CountIncludePad)
				var sum float32
				for iy := y0; iy < y1; iy++ {
					for _, v := range in[iy*x.W+x0 : iy*x.W+x1] {
						sum += v
					}
				}
				if ny*nx > 0 {
					out[oy*wo+ox] = sum / float32(ny*nx)
				}
			}
		}
	}
	return y
}

// Backward spreads each output gradient evenly over its window.
func (p *AvgPool2d) Backward(dy *Tensor) *Tensor {
	x := p.x
	if x == nil {
		panic("graph: avgpool backward before forward")
	}
	s := p.Spec
	ho, wo := s.OutSize(x.H, x.W)
	if dy.N != x.N || dy.C != x.C || dy.H != ho || dy.W != wo {
		panic("graph: avgpool backward: gradient shape mismatch")
	}
	dx := NewTensor(x.N, x.C, x.H, x.W)
	for pl := 0; pl < x.N*x.C; pl++ {
		g := dy.Data[pl*ho*wo:][:ho*wo]
		out := dx.Data[pl*x.H*x.W:][:x.H*x.W]
		for oy := 0; oy < ho; oy++ {
			y0, y1, ny := avgWindow(oy, s.KH, s.StrideH, s.PadT, s.PadB, x.H, s.CountIncludePad)
			for ox := 0; ox < wo; ox++ {
				x0, x1, nx := avgWindow(ox, s.KW, s.StrideW, s.PadL, s.PadR, x.W, s.CountIncludePad)
				if ny*nx == 0 {
					continue
				}
				v := g[oy*wo+ox] / float32(ny*nx)
				for iy := y0; iy < y1; iy++ {
					row := out[iy*x.W+x0 : iy*x.W+x1]
					for i := range row {
						row[i] += v
					}
				}
			}
		}
	}
	return dx
}

// Params returns nil.
func (p *AvgPool2d) Params() []*Param { return nil }

// MaxPool2d is ONNX's MaxPool over H and W; padding never wins. The
// gradient goes to the first maximum of each window.
type MaxPool2d struct {
	Spec PoolSpec
	x    *Tensor
	arg  []int32 // per output value, the index within its plane of the maximum, -1 for an empty window
}

// Forward takes the maximum of each window of x.
func (p *MaxPool2d) Forward(x *Tensor, train bool) *Tensor {
	s := p.Spec
	ho, wo := s.check("maxpool forward", x)
	dh, dw := s.dil()
	p.x = x
	y := NewTensor(x.N, x.C, ho, wo)
	p.arg = make([]int32, len(y.Data))
	for pl := 0; pl < x.N*x.C; pl++ {
		in := x.Data[pl*x.H*x.W:][:x.H*x.W]
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				best, at := float32(0), -1
				for ky := 0; ky < s.KH; ky++ {
					iy := oy*s.StrideH - s.PadT + ky*dh
					if iy < 0 || iy >= x.H {
						continue
					}
					for kx := 0; kx < s.KW; kx++ {
						ix := ox*s.StrideW - s.PadL + kx*dw
						if ix < 0 || ix >= x.W {
							continue
						}
						if v := in[iy*x.W+ix]; at < 0 || v > best {
							best, at = v, iy*x.W+ix
						}
					}
				}
				o := (pl*ho+oy)*wo + ox
				y.Data[o], p.arg[o] = best, int32(at)
			}
		}
	}
	return y
}

// Backward routes each output gradient to its window's maximum.
func (p *MaxPool2d) Backward(dy *Tensor) *Tensor {
	x := p.x
	if x == nil {
		panic("graph: maxpool backward before forward")
	}
	if len(dy.Data) != len(p.arg) || dy.N != x.N || dy.C != x.C {
		panic("graph: maxpool backward: gradient shape mismatch")
	}
	dx := NewTensor(x.N, x.C, x.H, x.W)
	per := dy.H * dy.W
	for o, a := range p.arg {
		if a >= 0 {
			dx.Data[(o/per)*x.H*x.W+int(a)] += dy.Data[o]
		}
	}
	return dx
}

// Params returns nil.
func (p *MaxPool2d) Params() []*Param { return nil }

// GlobalAvgPool averages each plane to one value: N x C x 1 x 1 (ONNX
// GlobalAveragePool, and ReduceMean over H and W with keepdims).
type GlobalAvgPool struct {
	x *Tensor
}

// Forward returns the plane means of x.
func (p *GlobalAvgPool) Forward(x *Tensor, train bool) *Tensor {
	x.check("global pool forward")
	p.x = x
	hw := x.H * x.W
	y := NewTensor(x.N, x.C, 1, 1)
	for pl := range y.Data {
		var s float64
		for _, v := range x.Data[pl*hw:][:hw] {
			s += float64(v)
		}
		y.Data[pl] = float32(s / float64(hw))
	}
	return y
}

// Backward spreads each plane's gradient evenly over the plane.
func (p *GlobalAvgPool) Backward(dy *Tensor) *Tensor {
	x := p.x
	if x == nil {
		panic("graph: global pool backward before forward")
	}
	if dy.N != x.N || dy.C != x.C || dy.H != 1 || dy.W != 1 {
		panic("graph: global pool backward: gradient shape mismatch")
	}
	hw := x.H * x.W
	dx := NewTensor(x.N, x.C, x.H, x.W)
	for pl, g := range dy.Data {
		v := g / float32(hw)
		row := dx.Data[pl*hw:][:hw]
		for i := range row {
			row[i] = v
		}
	}
	return dx
}

// Params returns nil.
func (p *GlobalAvgPool) Params() []*Param { return nil }
