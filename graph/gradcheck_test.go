package graph

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// The gradient harness: every Layer type of the package and every
// registered head kind has entries in gradCases, and TestGradCheck compares
// their Backward with central differences of the objective
// sum(dy * Forward(x)), accumulated in float64, for a random input x and a
// random upstream gradient dy: the input gradient (for layers) and every
// parameter gradient. TestGradCheckCoversLayers fails when a Layer type
// (found in the package source) or a head kind (HeadKinds) has no entry.

type gradCase struct {
	name string
	// of is the Layer type the case covers ("Conv2d") or "head:" and a
	// head kind.
	of         string
	make       func(rng *rand.Rand) Layer
	n, c, h, w int
	train      bool
	before     func(Layer) // reset random state before each forward (dropout masks)
	eps, tol   float64
	noInput    bool // Backward returns no input gradient (heads: frozen features)
	awayFromZ  bool // keep inputs away from 0 (kinks)
	// kinks marks functions with kinks inside (a ReLU after other layers):
	// indices where the two one-sided differences disagree, so that a
	// kink lies within eps, are skipped (at most a quarter of them).
	kinks bool
}

// headLayer adapts a Head to the Layer interface for the harness.
type headLayer struct{ h *Head }

func (l headLayer) Forward(x *Tensor, train bool) *Tensor { return l.h.Forward(x, train) }
func (l headLayer) Backward(dy *Tensor) *Tensor           { l.h.Backward(dy); return nil }
func (l headLayer) Params() []*Param                      { return l.h.Params() }

func randomConv(in, out, k, pad, dil int, bias bool) func(*rand.Rand) Layer {
	return func(rng *rand.Rand) Layer {
		c := NewConv2d("c", in, out, k, pad, dil, bias)
		for _, p := range c.Params() {
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64())
			}
		}
		return c
	}
}

func randomBN(c int) func(*rand.Rand) Layer {
	return func(rng *rand.Rand) Layer {
		b := NewBatchNorm2d("bn", c)
		for i := 0; i < c; i++ {
			b.Weight.Data[i] = float32(0.5 + rng.Float64())
			b.Bias.Data[i] = float32(rng.NormFloat64())
			b.RunningMean.Data[i] = float32(rng.NormFloat64())
			b.RunningVar.Data[i] = float32(0.5 + rng.Float64())
		}
		return b
	}
}

// randomHead builds a head of spec with random non-zero biases and, for
// batch norm, perturbed gamma and beta, so that no gradient is trivially 0.
func randomHead(spec HeadSpec) func(*rand.Rand) Layer {
	return func(rng *rand.Rand) Layer {
		h, err := NewHead(spec, int64(rng.Uint32()))
		if err != nil {
			panic(err)
		}
		for _, p := range h.Params() {
			if !p.Decay {
				for i := range p.Data {
					p.Data[i] += float32(0.3 * rng.NormFloat64())
				}
			}
		}
		return headLayer{h}
	}
}

func resetDropout(l Layer) { l.(*Dropout2d).rng = rand.New(rand.NewPCG(5, 5)) }

func resetHeadDropout(l Layer) { l.(headLayer).h.SetDropoutSeed(5) }

var gradCases = []gradCase{
	{name: "conv1x1 bias", of: "Conv2d", make: randomConv(4, 3, 1, 0, 1, true), n: 2, c: 4, h: 3, w: 5, train: true, eps: 1e-2, tol: 2e-3},
	{name: "conv1x1 pad", of: "Conv2d", make: randomConv(3, 2, 1, 1, 1, true), n: 1, c: 3, h: 3, w: 3, train: true, eps: 1e-2, tol: 2e-3},
	{name: "conv3x3 pad1", of: "Conv2d", make: randomConv(3, 4, 3, 1, 1, false), n: 2, c: 3, h: 5, w: 6, train: true, eps: 1e-2, tol: 2e-3},
	{name: "conv3x3 dil2", of: "Conv2d", make: randomConv(2, 3, 3, 2, 2, true), n: 1, c: 2, h: 6, w: 7, train: true, eps: 1e-2, tol: 2e-3},
	{name: "conv3x3 nopad", of: "Conv2d", make: randomConv(2, 2, 3, 0, 1, true), n: 2, c: 2, h: 5, w: 4, train: true, eps: 1e-2, tol: 2e-3},
	{name: "conv1x1 wide", of: "Conv2d", make: randomConv(3, smallOut+2, 1, 0, 1, true), n: 1, c: 3, h: 2, w: 3, train: true, eps: 1e-2, tol: 2e-3},
	{name: "conv3x3 wide", of: "Conv2d", make: randomConv(2, smallOut+1, 3, 1, 1, false), n: 1, c: 2, h: 3, w: 2, train: true, eps: 1e-2, tol: 2e-3},
	{name: "batchnorm train", of: "BatchNorm2d", make: randomBN(3), n: 2, c: 3, h: 4, w: 3, train: true, eps: 1e-3, tol: 1e-2},
	{name: "batchnorm eval", of: "BatchNorm2d", make: randomBN(3), n: 2, c: 3, h: 4, w: 3, eps: 1e-2, tol: 2e-3},
	{name: "relu", of: "ReLU", make: func(*rand.Rand) Layer { return &ReLU{} }, n: 2, c: 3, h: 4, w: 4, train: true, eps: 1e-3, tol: 2e-3, awayFromZ: true},
	{name: "dropout train", of: "Dropout2d", make: func(*rand.Rand) Layer { return NewDropout2d(0.5, 1) }, n: 3, c: 4, h: 2, w: 3, train: true, before: resetDropout, eps: 1e-2, tol: 2e-3},
	{name: "dropout eval", of: "Dropout2d", make: func(*rand.Rand) Layer { return NewDropout2d(0.5, 1) }, n: 2, c: 2, h: 2, w: 2, eps: 1e-2, tol: 2e-3},
	{name: "resize up", of: "Resize", make: func(*rand.Rand) Layer { return &Resize{H: 12, W: 17} }, n: 2, c: 2, h: 3, w: 4, train: true, eps: 1e-2, tol: 2e-3},
	{name: "resize down", of: "Resize", make: func(*rand.Rand) Layer { return &Resize{H: 3, W: 2} }, n: 1, c: 2, h: 7, w: 5, train: true, eps: 1e-2, tol: 2e-3},
	{name: "resize odd", of: "Resize", make: func(*rand.Rand) Layer { return &Resize{H: 5, W: 9} }, n: 1, c: 1, h: 4, w: 6, train: true, eps: 1e-2, tol: 2e-3},
	{name: "head linear", of: "head:linear", make: randomHead(HeadSpec{Kind: KindLinear, InChannels: 5, Classes: 4}),
		n: 2, c: 5, h: 3, w: 4, train: true, eps: 1e-2, tol: 2e-3, noInput: true},
	{name: "head fcn train", of: "head:fcn", make: randomHead(HeadSpec{Kind: KindFCN, InChannels: 3, Classes: 4, Hidden: 6, Dropout: 0.3}),
		n: 2, c: 3, h: 4, w: 5, train: true, before: resetHeadDropout, eps: 2e-3, tol: 1e-2, noInput: true, kinks: true},
	{name: "head fcn eval", of: "head:fcn", make: randomHead(HeadSpec{Kind: KindFCN, InChannels: 4, Classes: 3, Hidden: 5}),
		n: 1, c: 4, h: 4, w: 4, eps: 1e-3, tol: 1e-2, noInput: true, kinks: true},
}

// The layers that lifting a pretrained model's tail uses (lift_*.go).
func init() {
	gconv := func(s ConvSpec) func(*rand.Rand) Layer {
		return func(rng *rand.Rand) Layer {
			c := NewGConv2d("g", s)
			for _, p := range c.Params() {
				for i := range p.Data {
					p.Data[i] = float32(rng.NormFloat64())
				}
			}
			return c
		}
	}
	layer := func(l Layer) func(*rand.Rand) Layer { return func(*rand.Rand) Layer { return l } }
	multi := func(l MultiLayer, shapes ...shape4) func(*rand.Rand) Layer {
		return func(*rand.Rand) Layer { return &multiAdapter{l: l, shapes: shapes} }
	}
	flat := func(shapes ...shape4) int {
		n := 0
		for _, s := range shapes {
			n += s[0] * s[1] * s[2] * s[3]
		}
		return n
	}
	gate := []shape4{{2, 3, 4, 5}, {2, 3, 1, 1}}
	bias := []shape4{{1, 3, 1, 1}, {2, 3, 2, 4}}
	same := []shape4{{2, 2, 3, 3}, {2, 2, 3, 3}}
	cat := []shape4{{2, 1, 3, 2}, {2, 3, 3, 2}, {2, 2, 3, 2}}
	gradCases = append(gradCases,
		gradCase{name: "gconv stride2 asym", of: "GConv2d", make: gconv(ConvSpec{InC: 3, OutC: 4, Groups: 1, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadT: 1, PadL: 0, PadB: 0, PadR: 1, DilH: 1, DilW: 1, Bias: true}),
			n: 2, c: 3, h: 7, w: 6, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "gconv grouped dil", of: "GConv2d", make: gconv(ConvSpec{InC: 4, OutC: 6, Groups: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 2, DilW: 2}),
			n: 1, c: 4, h: 6, w: 7, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "gconv depthwise", of: "GConv2d", make: gconv(ConvSpec{InC: 3, OutC: 3, Groups: 3, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Bias: true}),
			n: 2, c: 3, h: 5, w: 6, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "gconv depthwise x2 dil asym", of: "GConv2d", make: gconv(ConvSpec{InC: 2, OutC: 4, Groups: 2, KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadT: 2, PadL: 1, PadB: 0, PadR: 1, DilH: 2, DilW: 1}),
			n: 2, c: 2, h: 6, w: 7, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "gconv fast path", of: "GConv2d", make: gconv(ConvSpec{InC: 2, OutC: 3, Groups: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Bias: true}),
			n: 2, c: 2, h: 4, w: 5, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "clip relu6", of: "Clip", make: layer(NewClip(0, 6)), n: 2, c: 2, h: 3, w: 4, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "clip narrow", of: "Clip", make: layer(NewClip(-0.5, 0.7)), n: 1, c: 3, h: 3, w: 3, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "hardsigmoid", of: "HardSigmoid", make: layer(&HardSigmoid{Alpha: 0.2, Beta: 0.5}), n: 2, c: 2, h: 3, w: 4, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "hardsigmoid torch", of: "HardSigmoid", make: layer(&HardSigmoid{Alpha: 1.0 / 6, Beta: 0.5}), n: 1, c: 2, h: 4, w: 4, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "hardswish", of: "HardSwish", make: layer(&HardSwish{}), n: 2, c: 3, h: 3, w: 3, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "sigmoid", of: "Sigmoid", make: layer(&Sigmoid{}), n: 2, c: 2, h: 3, w: 3, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "avgpool pad", of: "AvgPool2d", make: layer(&AvgPool2d{Spec: PoolSpec{KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 0}}),
			n: 2, c: 2, h: 5, w: 4, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "avgpool incl pad ceil", of: "AvgPool2d", make: layer(&AvgPool2d{Spec: PoolSpec{KH: 2, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, CeilMode: true, CountIncludePad: true}}),
			n: 1, c: 2, h: 6, w: 5, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "maxpool", of: "MaxPool2d", make: layer(&MaxPool2d{Spec: PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}}),
			n: 2, c: 2, h: 5, w: 6, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "maxpool dil ceil", of: "MaxPool2d", make: layer(&MaxPool2d{Spec: PoolSpec{KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 2, DilW: 1, CeilMode: true}}),
			n: 1, c: 2, h: 7, w: 5, train: true, eps: 1e-3, tol: 2e-3, kinks: true},
		gradCase{name: "global avgpool", of: "GlobalAvgPool", make: layer(&GlobalAvgPool{}), n: 2, c: 3, h: 3, w: 4, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "interp linear half", of: "Interp", make: layer(&Interp{H: 7, W: 5, Linear: true, Coord: "half_pixel"}), n: 2, c: 2, h: 3, w: 4, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "interp linear corners", of: "Interp", make: layer(&Interp{H: 2, W: 9, Linear: true, Coord: "align_corners"}), n: 1, c: 2, h: 5, w: 4, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "interp linear pytorch 1", of: "Interp", make: layer(&Interp{H: 1, W: 6, Linear: true, Coord: "pytorch_half_pixel"}), n: 1, c: 2, h: 3, w: 3, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "interp linear asym scale", of: "Interp", make: layer(&Interp{H: 6, W: 8, ScaleH: 2, ScaleW: 2, Linear: true, Coord: "asymmetric"}), n: 1, c: 1, h: 3, w: 4, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "interp nearest", of: "Interp", make: layer(&Interp{H: 6, W: 5, Coord: "asymmetric", NearestMode: "floor"}), n: 2, c: 2, h: 3, w: 2, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "interp nearest half", of: "Interp", make: layer(&Interp{H: 5, W: 3, Coord: "half_pixel"}), n: 1, c: 2, h: 3, w: 4, train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "add same", of: "Add", make: multi(&Add{}, same...), n: 1, c: 1, h: 1, w: flat(same...), train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "add broadcast", of: "Add", make: multi(&Add{}, bias...), n: 1, c: 1, h: 1, w: flat(bias...), train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "mul gate", of: "Mul", make: multi(&Mul{}, gate...), n: 1, c: 1, h: 1, w: flat(gate...), train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "mul same", of: "Mul", make: multi(&Mul{}, same...), n: 1, c: 1, h: 1, w: flat(same...), train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "mul bias", of: "Mul", make: multi(&Mul{}, bias...), n: 1, c: 1, h: 1, w: flat(bias...), train: true, eps: 1e-2, tol: 2e-3},
		gradCase{name: "concat", of: "Concat", make: multi(&Concat{}, cat...), n: 1, c: 1, h: 1, w: flat(cat...), train: true, eps: 1e-2, tol: 2e-3},
	)
}

// multiAdapter runs a MultiLayer in the harness: the input, 1 x 1 x 1 x L,
// is split into consecutive tensors of the given shapes, and the input
// gradients are joined the same way.
type multiAdapter struct {
	l      MultiLayer
	shapes []shape4
}

func (a *multiAdapter) Forward(x *Tensor, train bool) *Tensor {
	xs := make([]*Tensor, len(a.shapes))
	off := 0
	for i, s := range a.shapes {
		xs[i] = newShaped(s)
		off += copy(xs[i].Data, x.Data[off:])
	}
	if off != len(x.Data) {
		panic("multiAdapter: input size mismatch")
	}
	return a.l.ForwardN(xs, train)
}

func (a *multiAdapter) Backward(dy *Tensor) *Tensor {
	var flat []float32
	for i, g := range a.l.BackwardN(dy) {
		if shapeOf(g) != a.shapes[i] {
			panic("multiAdapter: input gradient of the wrong shape")
		}
		flat = append(flat, g.Data...)
	}
	return &Tensor{N: 1, C: 1, H: 1, W: len(flat), Data: flat}
}

func (a *multiAdapter) Params() []*Param { return a.l.Params() }

// setLayerThreads gives l (a layer or a head) the thread count n.
func setLayerThreads(l Layer, n int) {
	switch v := l.(type) {
	case headLayer:
		v.h.SetThreads(n)
	case threaded:
		v.setThreads(n)
	}
}

func TestGradCheck(t *testing.T) {
	for k, tc := range gradCases {
		for _, threads := range []int{1, 3} {
			name := fmt.Sprintf("%s threads %d", tc.name, threads)
			rng := rand.New(rand.NewPCG(uint64(k), 9))
			l := tc.make(rng)
			setLayerThreads(l, threads)
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w, 1)
			if tc.awayFromZ {
				for i, v := range x.Data {
					if math.Abs(float64(v)) < 0.05 {
						x.Data[i] = 0.1
					}
				}
			}
			fwd := func() *Tensor {
				if tc.before != nil {
					tc.before(l)
				}
				return l.Forward(x, tc.train)
			}
			y := fwd()
			dy := randTensor(rng, y.N, y.C, y.H, y.W, 1)
			f := func() float64 { return dot64(fwd().Data, dy.Data) }
			for _, p := range l.Params() {
				clear(p.Grad)
			}
			fwd()
			dx := l.Backward(dy)
			switch {
			case tc.noInput && dx != nil:
				t.Errorf("%s: input gradient computed for frozen features", name)
			case !tc.noInput && (dx == nil || !dx.SameShape(x)):
				t.Fatalf("%s: input gradient missing or of the wrong shape", name)
			case !tc.noInput:
				checkGradKinks(t, name+" dx", rng, f, x.Data, dx.Data, tc.eps, tc.tol, tc.kinks)
			}
			grads := make([][]float32, len(l.Params()))
			for i, p := range l.Params() {
				grads[i] = append([]float32(nil), p.Grad...)
			}
			for i, p := range l.Params() {
				checkGradKinks(t, name+" "+p.Name, rng, f, p.Data, grads[i], tc.eps, tc.tol, tc.kinks)
			}
		}
	}
}

// checkGradKinks is checkGrad that, when kinks is set, skips the indices
// where the forward and backward one-sided differences of f disagree by
// more than the tolerance (a kink within eps), failing when more than a
// quarter of the sampled indices are skipped.
func checkGradKinks(t *testing.T, what string, rng *rand.Rand, f func() float64, x, analytic []float32, eps, tol float64, kinks bool) {
	t.Helper()
	if !kinks {
		checkGrad(t, what, rng, f, x, analytic, eps, tol)
		return
	}
	if len(analytic) != len(x) {
		t.Fatalf("%s: analytic gradient has %d values, want %d", what, len(analytic), len(x))
	}
	idx := sample(rng, len(x), 40)
	skipped := 0
	for _, i := range idx {
		old := x[i]
		up, down := float32(old+float32(eps)), float32(old-float32(eps))
		x[i] = up
		fp := f()
		x[i] = old
		f0 := f()
		x[i] = down
		fm := f()
		x[i] = old
		dp := (fp - f0) / (float64(up) - float64(old))
		dm := (f0 - fm) / (float64(old) - float64(down))
		num := (fp - fm) / (float64(up) - float64(down))
		if math.Abs(dp-dm) > tol*math.Max(1, math.Abs(num)) {
			skipped++
			continue
		}
		if d := math.Abs(num - float64(analytic[i])); d > tol*math.Max(1, math.Abs(num)) {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g (diff %.3g)", what, i, analytic[i], num, d)
		}
	}
	if 4*skipped > len(idx) {
		t.Errorf("%s: %d of %d sampled indices lie within eps of a kink", what, skipped, len(idx))
	}
}

// layerTypes returns the names of the types in the package's non-test
// source that have Forward, Backward and Params methods (a Layer), or
// ForwardN, BackwardN and Params (a MultiLayer).
func layerTypes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 {
				continue
			}
			typ := fd.Recv.List[0].Type
			if s, ok := typ.(*ast.StarExpr); ok {
				typ = s.X
			}
			id, ok := typ.(*ast.Ident)
			if !ok {
				continue
			}
			if methods[id.Name] == nil {
				methods[id.Name] = map[string]bool{}
			}
			methods[id.Name][fd.Name.Name] = true
		}
	}
	var out []string
	for typ, m := range methods {
		layer := m["Forward"] && m["Backward"] || m["ForwardN"] && m["BackwardN"]
		if layer && m["Params"] && typ != "Head" {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

// TestGradCheckCoversLayers fails when a Layer type or a head kind has no
// gradient-check case.
func TestGradCheckCoversLayers(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range gradCases {
		covered[tc.of] = true
	}
	types := layerTypes(t)
	if len(types) < 5 {
		t.Fatalf("found only the Layer types %v in the source", types)
	}
	for _, typ := range types {
		if !covered[typ] {
			t.Errorf("Layer type %s has no case in gradCases", typ)
		}
	}
	for _, kind := range HeadKinds() {
		if !covered["head:"+kind] {
			t.Errorf("head kind %s has no case in gradCases", kind)
		}
	}
}
