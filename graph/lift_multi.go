package graph

import "fmt"

// MultiLayer is one differentiable operation over several NCHW inputs
// (element-wise Add and Mul with broadcasting, channel Concat). BackwardN
// must follow ForwardN; it returns one input gradient per input, each of
// that input's shape.
type MultiLayer interface {
	ForwardN(xs []*Tensor, train bool) *Tensor
	BackwardN(dy *Tensor) []*Tensor
	Params() []*Param
}

// shape4 is an NCHW shape.
type shape4 [4]int

func shapeOf(t *Tensor) shape4 { return shape4{t.N, t.C, t.H, t.W} }

// broadcast returns the shape of a op b under ONNX (numpy) broadcasting of
// rank-4 shapes, panicking when a dimension differs and neither is 1.
func broadcast(what string, a, b shape4) shape4 {
	var o shape4
	for i := range o {
		switch {
		case a[i] == b[i] || b[i] == 1:
			o[i] = a[i]
		case a[i] == 1:
			o[i] = b[i]
		default:
			panic(fmt.Sprintf("graph: %s: shapes %v and %v do not broadcast", what, a, b))
		}
	}
	return o
}

// strides returns the element strides of s within a tensor of shape s, 0
// along the dimensions of size 1 that out broadcasts.
func bstrides(s, out shape4) shape4 {
	st := shape4{s[1] * s[2] * s[3], s[2] * s[3], s[3], 1}
	for i := range st {
		if s[i] == 1 && out[i] != 1 {
			st[i] = 0
		}
	}
	return st
}

// forEach calls f(o, ia, ib) for every output index o of shape out with
// the matching indices into a and b.
func forEach2(out, a, b shape4, f func(o, ia, ib int)) {
	sa, sb := bstrides(a, out), bstrides(b, out)
	o := 0
	for n := 0; n < out[0]; n++ {
		for c := 0; c < out[1]; c++ {
			for y := 0; y < out[2]; y++ {
				ia := n*sa[0] + c*sa[1] + y*sa[2]
				ib := n*sb[0] + c*sb[1] + y*sb[2]
				for x := 0; x < out[3]; x++ {
					f(o, ia+x*sa[3], ib+x*sb[3])
					o++
				}
			}
		}
	}
}

func newShaped(s shape4) *Tensor { return NewTensor(s[0], s[1], s[2], s[3]) }

func check2(what string, xs []*Tensor) {
	if len(xs) != 2 {
		panic(fmt.Sprintf("graph: %s takes 2 inputs, got %d", what, len(xs)))
	}
	xs[0].check(what)
	xs[1].check(what)
}

// Add is the element-wise sum of two tensors with broadcasting.
type Add struct {
	a, b shape4
	ok   bool
}

// ForwardN returns xs[0] + xs[1].
func (l *Add) ForwardN(xs []*Tensor, train bool) *Tensor {
	check2("add", xs)
	l.a, l.b, l.ok = shapeOf(xs[0]), shapeOf(xs[1]), true
	out := broadcast("add", l.a, l.b)
	y := newShaped(out)
	if l.a == l.b {
		for i, v := range xs[0].Data {
			y.Data[i] = v + xs[1].Data[i]
		}
		return y
	}
	forEach2(out, l.a, l.b, func(o, ia, ib int) { y.Data[o] = xs[0].Data[ia] + xs[1].Data[ib] })
	return y
}

// BackwardN returns dy summed over each input's broadcast dimensions.
func (l *Add) BackwardN(dy *Tensor) []*Tensor {
	if !l.ok {
		panic("graph: add backward before forward")
	}
	out := broadcast("add", l.a, l.b)
	if shapeOf(dy) != out {
		panic("graph: add backward: gradient shape mismatch")
	}
	if l.a == l.b {
		return []*Tensor{dy.Clone(), dy.Clone()}
	}
	da, db := newShaped(l.a), newShaped(l.b)
	forEach2(out, l.a, l.b, func(o, ia, ib int) {
		da.Data[ia] += dy.Data[o]
		db.Data[ib] += dy.Data[o]
	})
	return []*Tensor{da, db}
}

// Params returns nil.
func (l *Add) Params() []*Param { return nil }

// Mul is the element-wise product of two tensors with broadcasting (the
// gate of a squeeze-and-excitation or LR-ASPP branch: N x C x H x W times
// N x C x 1 x 1).
type Mul struct {
	x0, x1 *Tensor
}

// ForwardN returns xs[0] * xs[1]; it keeps both for BackwardN.
func (l *Mul) ForwardN(xs []*Tensor, train bool) *Tensor {
	check2("mul", xs)
	l.x0, l.x1 = xs[0], xs[1]
	a, b := shapeOf(xs[0]), shapeOf(xs[1])
	out := broadcast("mul", a, b)
	y := newShaped(out)
	if a == b {
		for i, v := range xs[0].Data {
			y.Data[i] = v * xs[1].Data[i]
		}
		return y
	}
	forEach2(out, a, b, func(o, ia, ib int) { y.Data[o] = xs[0].Data[ia] * xs[1].Data[ib] })
	return y
}

// BackwardN returns dy*xs[1] and dy*xs[0], each summed over its input's
// broadcast dimensions.
func (l *Mul) BackwardN(dy *Tensor) []*Tensor {
	if l.x0 == nil {
		panic("graph: mul backward before forward")
	}
	a, b := shapeOf(l.x0), shapeOf(l.x1)
	out := broadcast("mul", a, b)
	if shapeOf(dy) != out {
		panic("graph: mul backward: gradient shape mismatch")
	}
	da, db := newShaped(a), newShaped(b)
	x0, x1 := l.x0.Data, l.x1.Data
	if a == b {
		for i, g := range dy.Data {
			da.Data[i] = g * x1[i]
			db.Data[i] = g * x0[i]
		}
		return []*Tensor{da, db}
	}
	forEach2(out, a, b, func(o, ia, ib int) {
		g := dy.Data[o]
		da.Data[ia] += g * x1[ib]
		db.Data[ib] += g * x0[ia]
	})
	return []*Tensor{da, db}
}

// Params returns nil.
func (l *Mul) Params() []*Param { return nil }

// Concat joins tensors of equal N, H and W along the channels.
type Concat struct {
	cs []int
	n  int
}

// ForwardN concatenates xs along the channel axis.
func (l *Concat) ForwardN(xs []*Tensor, train bool) *Tensor {
	if len(xs) == 0 {
		panic("graph: concat of no tensors")
	}
	n, h, w := xs[0].N, xs[0].H, xs[0].W
	l.cs = l.cs[:0]
	c := 0
	for _, x := range xs {
		x.check("concat forward")
		if x.N != n || x.H != h || x.W != w {
			panic(fmt.Sprintf("graph: concat: %dx%dx%dx%d next to %dx?x%dx%d", x.N, x.C, x.H, x.W, n, h, w))
		}
		l.cs = append(l.cs, x.C)
		c += x.C
	}
	l.n = n
	y := NewTensor(n, c, h, w)
	hw := h * w
	for i := 0; i < n; i++ {
		off := i * c * hw
		for _, x := range xs {
			k := x.C * hw
			copy(y.Data[off:off+k], x.Data[i*k:(i+1)*k])
			off += k
		}
	}
	return y
}

// BackwardN splits dy along the channels.
func (l *Concat) BackwardN(dy *Tensor) []*Tensor {
	if len(l.cs) == 0 {
		panic("graph: concat backward before forward")
	}
	c := 0
	for _, v := range l.cs {
		c += v
	}
	if dy.N != l.n || dy.C != c {
		panic("graph: concat backward: gradient shape mismatch")
	}
	hw := dy.H * dy.W
	out := make([]*Tensor, len(l.cs))
	for j, cj := range l.cs {
		out[j] = NewTensor(dy.N, cj, dy.H, dy.W)
	}
	for i := 0; i < dy.N; i++ {
		off := i * c * hw
		for j, cj := range l.cs {
			k := cj * hw
			copy(out[j].Data[i*k:(i+1)*k], dy.Data[off:off+k])
			off += k
		}
	}
	return out
}

// Params returns nil.
func (l *Concat) Params() []*Param { return nil }
