package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestNewHeadErrors(t *testing.T) {
	cases := []HeadSpec{
		{Kind: "mlp", InChannels: 4, Classes: 2},
		{Kind: "linear", InChannels: 0, Classes: 2},
		{Kind: "linear", InChannels: 4, Classes: 0},
		{Kind: "fcn", InChannels: 4, Classes: 2, Hidden: -1},
		{Kind: "fcn", InChannels: 4, Classes: 2, Dropout: 1},
	}
	for _, s := range cases {
		if _, err := NewHead(s, 1); !errors.Is(err, ErrSpec) {
			t.Errorf("NewHead(%+v): error %v, want ErrSpec", s, err)
		}
	}
	h, err := NewHead(HeadSpec{Kind: "fcn", InChannels: 4, Classes: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s := h.Spec(); s.Hidden != 256 || s.Dropout != 0.1 {
		t.Errorf("fcn defaults: %+v", s)
	}
	for _, in := range []HeadSpec{
		{Kind: "fcn", InChannels: 4, Classes: 2, Dropout: -1},
		{Kind: "fcn", InChannels: 4, Classes: 2, Dropout: -0.5},
		{Kind: "fcn", InChannels: 4, Classes: 2},
		{Kind: "linear", InChannels: 4, Classes: 2, Hidden: 7, Dropout: 0.3},
	} {
		a, err := NewHead(in, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewHead(a.Spec(), 1)
		if err != nil || b.Spec() != a.Spec() {
			t.Errorf("spec %+v normalises to %+v, then to %+v (%v)", in, a.Spec(), b.Spec(), err)
		}
	}
	if len(h.Params()) != 5 || len(h.Buffers()) != 2 {
		t.Errorf("fcn head: %d params, %d buffers", len(h.Params()), len(h.Buffers()))
	}
}

func TestHeadInit(t *testing.T) {
	spec := HeadSpec{Kind: "linear", InChannels: 64, Classes: 32}
	a, _ := NewHead(spec, 7)
	b, _ := NewHead(spec, 7)
	c, _ := NewHead(spec, 8)
	w := a.Params()[0].Data
	if maxAbsDiff(w, b.Params()[0].Data) != 0 {
		t.Error("same seed gives different weights")
	}
	if maxAbsDiff(w, c.Params()[0].Data) == 0 {
		t.Error("different seeds give the same weights")
	}
	var s2 float64
	for _, v := range w {
		s2 += float64(v) * float64(v)
	}
	// Kaiming: variance 2/fan_in = 2/64.
	if v := s2 / float64(len(w)); v < 0.8*2.0/64 || v > 1.2*2.0/64 {
		t.Errorf("weight variance %g, want about %g", v, 2.0/64)
	}
	for _, v := range a.Params()[1].Data {
		if v != 0 {
			t.Fatal("bias not zero")
		}
	}
}

// TestHeadGradient checks the whole head plus fused loss against finite
// differences of the parameters.
func TestHeadGradient(t *testing.T) {
	cases := []struct {
		spec     HeadSpec
		n, h, w  int
		H, W     int
		train    bool
		threads  int
		eps, tol float64
	}{
		{HeadSpec{Kind: "linear", InChannels: 5, Classes: 4}, 2, 3, 4, 12, 16, true, 1, 1e-2, 1e-2},
		{HeadSpec{Kind: "linear", InChannels: 7, Classes: 3}, 1, 5, 5, 9, 13, true, 3, 1e-2, 1e-2},
		{HeadSpec{Kind: "fcn", InChannels: 3, Classes: 4, Hidden: 6, Dropout: 0.3}, 2, 4, 5, 16, 20, true, 2, 2e-3, 2e-2},
		{HeadSpec{Kind: "fcn", InChannels: 4, Classes: 3, Hidden: 5}, 1, 4, 4, 8, 8, false, 1, 2e-3, 2e-2},
	}
	for k, tc := range cases {
		rng := rand.New(rand.NewPCG(uint64(k), 11))
		h, err := NewHead(tc.spec, int64(k))
		if err != nil {
			t.Fatal(err)
		}
		h.SetThreads(tc.threads)
		ex := Exec{Threads: tc.threads}
		x := randTensor(rng, tc.n, tc.spec.InChannels, tc.h, tc.w, 1)
		labels := randLabels(rng, tc.n*tc.H*tc.W, tc.spec.Classes, 0.1, 255)
		coef := make([]float32, len(labels))
		for i := range coef {
			coef[i] = float32(rng.Float64())
		}
		ce := make([]float32, len(labels))
		f := func() float64 {
			if d := layerOf[*Dropout2d](h); d != nil {
				d.rng = rand.New(rand.NewPCG(99, 1)) // same mask every pass
			}
			z := h.Forward(x, tc.train)
			ex.PixelCE(ce, nil, z, labels, tc.H, tc.W, 255)
			return dot64(ce, coef)
		}
		f()
		if d := layerOf[*Dropout2d](h); d != nil {
			d.rng = rand.New(rand.NewPCG(99, 1))
		}
		z := h.Forward(x, tc.train)
		dz := NewTensor(z.N, z.C, z.H, z.W)
		ex.PixelCEBackward(dz, z, labels, coef, tc.H, tc.W, 255)
		h.ZeroGrad()
		h.Backward(dz)
		for _, p := range h.Params() {
			checkGrad(t, fmt.Sprintf("case %d %s", k, p.Name), rng, f, p.Data, p.Grad, tc.eps, tc.tol)
		}
		// Backward accumulates.
		g1 := append([]float32(nil), h.Params()[0].Grad...)
		if d := layerOf[*Dropout2d](h); d != nil {
			d.rng = rand.New(rand.NewPCG(99, 1))
		}
		h.Forward(x, tc.train)
		h.Backward(dz)
		for i, v := range h.Params()[0].Grad {
			if d := v - 2*g1[i]; d > 1e-4 || d < -1e-4 {
				t.Fatalf("case %d: second backward does not accumulate: %v vs 2*%v", k, v, g1[i])
			}
		}
	}
}

func TestSetDropoutSeed(t *testing.T) {
	spec := HeadSpec{Kind: "fcn", InChannels: 3, Classes: 2, Hidden: 32, Dropout: 0.5}
	h, _ := NewHead(spec, 1)
	x := randTensor(rand.New(rand.NewPCG(1, 1)), 2, 3, 4, 4, 1)
	run := func(seed uint64) []float32 {
		h.SetDropoutSeed(seed)
		return h.Forward(x, true).Data
	}
	a, b, c := run(5), run(5), run(6)
	if maxAbsDiff(a, b) != 0 {
		t.Error("same dropout seed gives different outputs")
	}
	if maxAbsDiff(a, c) == 0 {
		t.Error("different dropout seeds give the same outputs")
	}
	lin, _ := NewHead(HeadSpec{Kind: "linear", InChannels: 3, Classes: 2}, 1)
	lin.SetDropoutSeed(1) // no dropout: must not panic
}

// headExamples holds, per head kind, the specs that the kind-independent
// tests (checkpoints, ONNX parity, threads) build. Each kind's test file
// adds its own; TestHeadKinds fails for a kind without examples.
var headExamples = map[string][]HeadSpec{}

func TestHeadKinds(t *testing.T) {
	kinds := HeadKinds()
	if !slices.IsSorted(kinds) || !slices.Contains(kinds, KindLinear) || !slices.Contains(kinds, KindFCN) {
		t.Errorf("HeadKinds() = %v", kinds)
	}
	for _, k := range kinds {
		if len(headExamples[k]) == 0 {
			t.Errorf("head kind %s has no entry in headExamples", k)
		}
	}
	_, err := NewHead(HeadSpec{Kind: "mlp", InChannels: 4, Classes: 2}, 1)
	if !errors.Is(err, ErrSpec) {
		t.Fatalf("unknown kind: error %v, want ErrSpec", err)
	}
	for _, k := range kinds {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("unknown-kind error %q does not name kind %s", err, k)
		}
	}
}

// TestHeadKindTensors checks every kind's declared checkpoint tensors
// against the Params and Buffers of the heads it builds.
func TestHeadKindTensors(t *testing.T) {
	for _, kind := range HeadKinds() {
		for _, spec := range headExamples[kind] {
			h, err := NewHead(spec, 1)
			if err != nil {
				t.Fatalf("%+v: %v", spec, err)
			}
			got := append(h.Params(), h.Buffers()...)
			want := h.kind.tensors(h.Spec())
			if len(got) != len(want) {
				t.Fatalf("%+v: %d tensors, the kind declares %d", spec, len(got), len(want))
			}
			for i, p := range got {
				n := 1
				for _, d := range p.Shape {
					n *= d
				}
				if p.Name != want[i].name || uint64(len(p.Data)) != want[i].n || n != len(p.Data) {
					t.Errorf("%+v: tensor %d is %s %v (%d values), the kind declares %s with %d", spec, i, p.Name, p.Shape, len(p.Data), want[i].name, want[i].n)
				}
			}
		}
	}
}

func TestCheckInput(t *testing.T) {
	h, _ := NewHead(HeadSpec{Kind: KindLinear, InChannels: 128, Classes: 3}, 1)
	if err := h.CheckInput(128); err != nil {
		t.Errorf("CheckInput(128): %v", err)
	}
	err := h.CheckInput(24)
	if !errors.Is(err, ErrShape) || err.Error() != "graph: head expects 128 input channels, the features have 24" {
		t.Errorf("CheckInput(24) = %v", err)
	}
}

func TestCheckTrainShapeErrors(t *testing.T) {
	if err := (HeadSpec{Kind: "mlp", InChannels: 2, Classes: 2}).CheckTrainShape(2, 2, 2); !errors.Is(err, ErrSpec) {
		t.Errorf("invalid spec: %v, want ErrSpec", err)
	}
	for _, kind := range HeadKinds() {
		spec := headExamples[kind][0]
		for _, nhw := range [][3]int{{0, 4, 4}, {2, 0, 4}, {2, 4, -1}} {
			if err := spec.CheckTrainShape(nhw[0], nhw[1], nhw[2]); !errors.Is(err, ErrShape) {
				t.Errorf("%s: CheckTrainShape%v = %v, want ErrShape", kind, nhw, err)
			}
		}
		if err := spec.CheckTrainShape(2, 3, 3); err != nil {
			t.Errorf("%s: CheckTrainShape(2, 3, 3): %v", kind, err)
		}
	}
}

// TestHeadThreads checks that a head's own thread count gives the same
// bits as the deprecated package default set to that count, that results
// repeat, and that UnmarshalBinary keeps the count.
func TestHeadThreads(t *testing.T) {
	for _, kind := range HeadKinds() {
		for _, spec := range headExamples[kind] {
			rng := rand.New(rand.NewPCG(3, 3))
			x := randTensor(rng, 2, spec.InChannels, 5, 7, 1)
			step := func(h *Head) ([]float32, [][]float32) {
				h.SetDropoutSeed(4)
				z := h.Forward(x, true)
				h.ZeroGrad()
				h.Backward(z)
				var g [][]float32
				for _, p := range h.Params() {
					g = append(g, append([]float32(nil), p.Grad...))
				}
				return z.Data, g
			}
			for _, threads := range []int{1, 3, 8} {
				a, _ := NewHead(spec, 2)
				a.SetThreads(threads)
				if a.Threads() != threads {
					t.Fatalf("Threads() = %d after SetThreads(%d)", a.Threads(), threads)
				}
				za, ga := step(a)
				zr, gr := step(a)
				b, _ := NewHead(spec, 2)
				b.SetThreads(threads)
				zb, gb := step(b)
				if maxAbsDiff(za, zb) != 0 || maxAbsDiff(za, zr) != 0 {
					t.Errorf("%+v threads %d: outputs differ between runs or between two heads", spec, threads)
				}
				for i := range ga {
					if maxAbsDiff(ga[i], gb[i]) != 0 || maxAbsDiff(ga[i], gr[i]) != 0 {
						t.Errorf("%+v threads %d: gradient %d differs between runs or from the package default", spec, threads, i)
					}
				}
				blob, _ := a.MarshalBinary()
				if err := a.UnmarshalBinary(blob); err != nil || a.Threads() != threads {
					t.Errorf("%+v: after UnmarshalBinary threads %d (%v), want %d", spec, a.Threads(), err, threads)
				}
			}
		}
	}
}
