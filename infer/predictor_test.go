package infer

import (
	"math/rand/v2"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
)

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
