package onnx

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// TestRunIntoReuses checks that RunInto gives the numbers of a fresh Run,
// writes into the caller's buffer once the output shape is known, falls back
// to new memory when the buffer is too small or the shape changes, and
// leaks no onnxruntime value; for a dynamic model and for a static batch of
// 1 run image by image.
func TestRunIntoReuses(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	const h, w = 32, 48
	cases := []struct {
		name string
		mp   *pb.ModelProto
		n    int
		hs   []int // heights of the runs, in order
	}{
		{"dynamic", buildNet(dynSpec), 2, []int{h, h, h, 16, 16, h}},
		{"static batch 1", buildNet(netSpec{static: []int64{1, 3, h, w}, channels: []int{4, 6}}), 3, []int{h, h, h}},
	}
	before := liveValues.Load()
	for _, c := range cases {
		p := writeModel(t, dir, "m.onnx", c.mp)
		b, err := OpenBackbone(p, Options{Feature: "stage2", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		var dst []float32
		for r, hh := range c.hs {
			x := ramp(c.n * 3 * hh * w)
			for i := range x {
				x[i] += float32(r) // new numbers every run
			}
			want, wshape, err := b.Run(x, c.n, hh, w)
			if err != nil {
				t.Fatalf("%s run %d: %v", c.name, r, err)
			}
			prev := dst
			got, shape, err := b.RunInto(dst, x, c.n, hh, w)
			if err != nil {
				t.Fatalf("%s run %d: %v", c.name, r, err)
			}
			if !slices.Equal(shape, wshape) {
				t.Errorf("%s run %d: shape %v, want %v", c.name, r, shape, wshape)
			}
			if d := maxAbsDiff(got, want); d != 0 || len(got) != len(want) {
				t.Errorf("%s run %d: RunInto differs from Run by %g (%d values, want %d)", c.name, r, d, len(got), len(want))
			}
			// Run at a shape seen before and a buffer of the right size:
			// the features are written in place.
			inPlace := r > 0 && hh == c.hs[r-1] && cap(prev) >= len(want)
			if inPlace && &got[0] != &prev[0] {
				t.Errorf("%s run %d: features not written into the given buffer", c.name, r)
			}
			if r > 0 && cap(prev) < len(want) && len(prev) > 0 && &got[0] == &prev[0] {
				t.Errorf("%s run %d: a buffer too small was used", c.name, r)
			}
			dst = got
		}
		b.Close()
	}
	if n := liveValues.Load(); n != before {
		t.Errorf("%d onnxruntime values alive after the runs, want %d", n, before)
	}
}

// TestRunIntoShortBuffer checks that a buffer without the capacity is left
// alone and new memory returned.
func TestRunIntoShortBuffer(t *testing.T) {
	needRuntime(t)
	p := writeModel(t, t.TempDir(), "m.onnx", buildNet(dynSpec))
	b := openBackbone(t, p, Options{Feature: "stage2", Threads: 1})
	x := ramp(3 * 32 * 32)
	want, _, err := b.Run(x, 1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	short := make([]float32, len(want)-1)
	for i := range short {
		short[i] = -7
	}
	got, _, err := b.RunInto(short, x, 1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(got, want); d != 0 {
		t.Errorf("differs from Run by %g", d)
	}
	for i, v := range short {
		if v != -7 {
			t.Fatalf("short buffer written at %d", i)
		}
	}
}

// TestSpinOption checks that sessions open and agree with and without
// spinning intra-op threads.
func TestSpinOption(t *testing.T) {
	needRuntime(t)
	p := writeModel(t, t.TempDir(), "m.onnx", buildNet(dynSpec))
	x := ramp(2 * 3 * 24 * 32)
	var want []float32
	for _, spin := range []bool{false, true} {
		got, _ := runOnce(t, fmt.Sprintf("spin %v", spin), p, Options{Feature: "stage2", Threads: 2, Spin: spin}, x, 2, 24, 32)
		if want == nil {
			want = got
		} else if d := maxAbsDiff(got, want); d != 0 {
			t.Errorf("spin %v differs by %g", spin, d)
		}
	}
}
