package infer

import (
	"math/rand/v2"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
)

// pixelScorer "predicts" each pixel's class from the red channel of the (unnormalised) input, at
// the input's resolution, so whole, resize and slide inference can be compared exactly.
type pixelScorer struct{ k int }

func (p pixelScorer) Score(x []float32, h, w int) (*graph.Tensor, []int32, int, int, error) {
	t := graph.NewTensor(1, p.k, h, w)
	for i := 0; i < h*w; i++ {
		c := int(x[i]) % p.k
		t.Data[c*h*w+i] = 1
	}
	return t, nil, 0, 0, nil
}

func TestModesAgreeOnPointwiseModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	H, W, K := 37, 53, 4
	s := &data.Sample{Name: "x", H: H, W: W, Image: make([]float32, 3*H*W)}
	want := make([]int32, H*W)
	for i := 0; i < H*W; i++ {
		c := rng.IntN(K)
		s.Image[i] = float32(c)
		want[i] = int32(c)
	}
	pre := data.Preprocess{Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}, Range: "0-255", Channels: "RGB"}
	for _, m := range []Mode{{Name: "whole"}, {Name: "slide", CropH: 16, CropW: 20, StrideH: 10, StrideW: 7}, {Name: "slide", CropH: 64, CropW: 64, StrideH: 32, StrideW: 32}} {
		p := &Predictor{Scorer: pixelScorer{K}, Pre: pre, Classes: []string{"a", "b", "c", "d"}, Mode: m}
		got, err := p.Predict(s)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%+v: pixel %d = %d, want %d", m, i, got[i], want[i])
				break
			}
		}
	}
	p := &Predictor{Scorer: pixelScorer{K}, Pre: pre, Classes: []string{"a", "b"}}
	if _, err := p.Predict(s); err == nil {
		t.Error("class-count mismatch between model and dataset accepted")
	}
}

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

func TestWindows(t *testing.T) {
	for _, tc := range []struct {
		size, crop, stride int
		want               []int
	}{
		{10, 10, 5, []int{0}},
		{8, 10, 5, []int{0}},
		{20, 10, 5, []int{0, 5, 10}},
		{21, 10, 5, []int{0, 5, 10, 11}},
		{21, 10, 10, []int{0, 10, 11}},
	} {
		got := windows(tc.size, tc.crop, tc.stride)
		if len(got) != len(tc.want) {
			t.Errorf("windows(%d,%d,%d) = %v, want %v", tc.size, tc.crop, tc.stride, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("windows(%d,%d,%d) = %v, want %v", tc.size, tc.crop, tc.stride, got, tc.want)
				break
			}
		}
	}
}
