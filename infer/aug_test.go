package infer

import (
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
)

// rampScorer scores class 0 by the column and class 1 by the mirrored column, whatever the image.
type rampScorer struct{}

func (rampScorer) Score(x []float32, h, w int) (*graph.Tensor, []int32, int, int, error) {
	t := graph.NewTensor(1, 2, h, w)
	for y := 0; y < h; y++ {
		for c := 0; c < w; c++ {
			t.Data[y*w+c] = float32(c)
			t.Data[h*w+y*w+c] = float32(w - 1 - c)
		}
	}
	return t, nil, 0, 0, nil
}

func TestAugmentation(t *testing.T) {
	s := &data.Sample{Name: "s", H: 4, W: 8, Image: make([]float32, 3*4*8)}
	plain := &Predictor{Scorer: rampScorer{}, Pre: data.ImageNet}
	want, err := plain.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	one := &Predictor{Scorer: rampScorer{}, Pre: data.ImageNet, Aug: &Aug{Scales: []float64{1}}}
	got, err := one.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("one scale without flip differs from plain prediction at %d: %d, want %d", i, got[i], want[i])
		}
	}
	if want[0] != 1 || want[7] != 0 {
		t.Fatalf("plain prediction %v: want class 1 on the left, 0 on the right", want[:8])
	}
	// With the flipped view mapped back, the two views are mirror images: the averaged
	// probabilities tie everywhere, and the argmax takes class 0.
	flip := &Predictor{Scorer: rampScorer{}, Pre: data.ImageNet, Aug: &Aug{Scales: []float64{1}, Flip: true}}
	got, err = flip.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 0 {
			t.Fatalf("flip averaging: pixel %d is class %d; the flipped view was not mirrored back", i, v)
		}
	}
	// Several scales: the result is at the image's size and agrees with the plain one here.
	multi := &Predictor{Scorer: rampScorer{}, Pre: data.ImageNet, Aug: &Aug{Scales: []float64{0.5, 1, 1.5}}}
	if got, err = multi.Predict(s); err != nil || len(got) != len(want) {
		t.Fatalf("multi-scale: %v, %d labels", err, len(got))
	}
	if got[0] != 1 || got[7] != 0 {
		t.Fatalf("multi-scale prediction %v: want class 1 on the left, 0 on the right", got[:8])
	}
	if (&Aug{Scales: []float64{1, -2}}).Validate() == nil || (&Aug{}).Validate() == nil {
		t.Fatal("bad scales accepted")
	}
}
