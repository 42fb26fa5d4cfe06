package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
		SetThreads(tc.threads)
		rng := rand.New(rand.NewPCG(uint64(k), 11))
		h, err := NewHead(tc.spec, int64(k))
		if err != nil {
			t.Fatal(err)
		}
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
			PixelCE(ce, nil, z, labels, tc.H, tc.W, 255)
			return dot64(ce, coef)
		}
		f()
		if d := layerOf[*Dropout2d](h); d != nil {
			d.rng = rand.New(rand.NewPCG(99, 1))
		}
		z := h.Forward(x, tc.train)
		dz := NewTensor(z.N, z.C, z.H, z.W)
		PixelCEBackward(dz, z, labels, coef, tc.H, tc.W, 255)
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
	SetThreads(0)
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
