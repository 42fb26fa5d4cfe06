package graph

import (
	"errors"
	"slices"
	"testing"
)

func TestPackTensors(t *testing.T) {
	a, b := NewTensor(2, 3, 4, 5), NewTensor(2, 1, 2, 2)
	for i := range a.Data {
		a.Data[i] = float32(i)
	}
	for i := range b.Data {
		b.Data[i] = -float32(i)
	}
	p := PackTensors([]*Tensor{a, b})
	if p.N != 2 || p.C != 3+60+3+4 || p.H != 1 || p.W != 1 {
		t.Fatalf("packed shape %dx%dx%dx%d", p.N, p.C, p.H, p.W)
	}
	ts, err := UnpackTensors(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []*Tensor{a, b} {
		got := ts[i]
		if got.N != want.N || got.C != want.C || got.H != want.H || got.W != want.W || !slices.Equal(got.Data, want.Data) {
			t.Errorf("tensor %d: got %dx%dx%dx%d, want %dx%dx%dx%d (or other values)", i, got.N, got.C, got.H, got.W, want.N, want.C, want.H, want.W)
		}
	}
	bad := func(edit func(p *Tensor) (*Tensor, int)) error {
		q := &Tensor{N: p.N, C: p.C, H: 1, W: 1, Data: slices.Clone(p.Data)}
		q, k := edit(q)
		_, err := UnpackTensors(q, k)
		return err
	}
	for _, c := range []struct {
		name string
		edit func(p *Tensor) (*Tensor, int)
	}{
		{"one tensor asked for", func(p *Tensor) (*Tensor, int) { return p, 1 }},
		{"three tensors asked for", func(p *Tensor) (*Tensor, int) { return p, 3 }},
		{"fractional size", func(p *Tensor) (*Tensor, int) { p.Data[1] = 4.5; return p, 2 }},
		{"zero channels", func(p *Tensor) (*Tensor, int) { p.Data[0] = 0; return p, 2 }},
		{"size too large", func(p *Tensor) (*Tensor, int) { p.Data[2] = 1e9; return p, 2 }},
		{"samples of other shapes", func(p *Tensor) (*Tensor, int) { p.Data[p.C+3+60+1] = 1; p.Data[p.C+3+60+2] = 4; return p, 2 }},
		{"not N x L x 1 x 1", func(p *Tensor) (*Tensor, int) { return &Tensor{N: 1, C: p.C, H: 2, W: 1, Data: p.Data}, 2 }},
	} {
		if err := bad(c.edit); !errors.Is(err, ErrShape) {
			t.Errorf("%s: error %v, want one matching ErrShape", c.name, err)
		}
	}
}
