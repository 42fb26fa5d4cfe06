package lmp

import (
	"errors"
	"math"
	"testing"
)

func init() {
	addSuite("wce",
		Options{ClassWeights: []float32{0.5, 2, 1, 3}},
		Options{ClassWeights: []float32{1, 0, 1, 0.25}})
}

func TestWCEHand(t *testing.T) {
	checkHand(t, "wce", []handCase{
		{Options{ClassWeights: []float32{1, 2, 0.5}},
			(1 + 4 + 6 + 2 + 0.5) / (1 + 2 + 2 + 0.5 + 1), []float64{1 / 6.5, 2 / 6.5, 2 / 6.5, 0.5 / 6.5, 0, 1 / 6.5}},
		// A zero weight drops the class: (1 + 0.5) / 2 over the pixels of class 0.
		{Options{ClassWeights: []float32{1, 0, 0}}, 0.75, []float64{0.5, 0, 0, 0, 0, 0.5}},
	})
}

func TestWCEErrors(t *testing.T) {
	checkBad(t, "wce", []badCase{
		{Options{}, "no class weights"},
		{Options{ClassWeights: []float32{}}, "no class weights"},
		{Options{ClassWeights: []float32{1, -1}}, "class weight 1 = -1: want a finite number >= 0"},
		{Options{ClassWeights: []float32{float32(math.NaN())}}, "class weight 0 = NaN"},
		{Options{ClassWeights: []float32{1, float32(math.Inf(1))}}, "class weight 1 = +Inf"},
		{Options{ClassWeights: []float32{0, 0, 0}}, "all 3 class weights are 0"},
	})
	w, err := New("wce", Options{ClassWeights: []float32{1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Reduce(make([]float32, 1), Batch{N: 1, HW: 1, CE: []float32{1}, Labels: []int32{3}, Ignore: 255}); !errors.Is(err, ErrInput) {
		t.Errorf("label beyond class weights: %v", err)
	}
	// New copies the weights.
	cw := []float32{1, 1}
	w, err = New("wce", Options{ClassWeights: cw})
	if err != nil {
		t.Fatal(err)
	}
	cw[0] = 100
	dst := make([]float32, 2)
	if L, err := w.Reduce(dst, Batch{N: 1, HW: 2, CE: []float32{1, 3}, Labels: []int32{0, 1}, Ignore: 255}); err != nil || L != 2 {
		t.Errorf("after changing the caller's weights: loss %v, error %v, want 2", L, err)
	}
}

func TestClassWeights(t *testing.T) {
	hist := []int64{10, 0, 30, 60}
	for _, tc := range []struct {
		method string
		want   []float64
	}{
		{"inverse", []float64{100.0 / 30, 0, 100.0 / 90, 100.0 / 180}},
		{"median", []float64{3, 0, 1, 0.5}},
	} {
		w, err := ClassWeights(hist, tc.method)
		if err != nil {
			t.Fatal(err)
		}
		for c := range w {
			if math.Abs(float64(w[c])-tc.want[c]) > 1e-6 {
				t.Errorf("%s: %v, want %v", tc.method, w, tc.want)
				break
			}
		}
	}
	// Even number of present classes: median of the two middle counts.
	w, err := ClassWeights([]int64{10, 20, 40, 80}, "median")
	if err != nil || math.Abs(float64(w[0])-3) > 1e-6 || math.Abs(float64(w[3])-30.0/80) > 1e-6 {
		t.Errorf("median even: %v %v", w, err)
	}
	for _, tc := range []struct {
		hist   []int64
		method string
	}{
		{nil, "median"}, {[]int64{0, 0}, "inverse"}, {[]int64{1, -1}, "median"}, {[]int64{1}, "log"},
	} {
		if _, err := ClassWeights(tc.hist, tc.method); !errors.Is(err, ErrInput) {
			t.Errorf("ClassWeights(%v, %q): %v", tc.hist, tc.method, err)
		}
	}
}
