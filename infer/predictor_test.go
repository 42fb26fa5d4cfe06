package infer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
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

func TestConvert(t *testing.T) {
	seq := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)
		}
		return v
	}
	for _, tc := range []struct {
		name      string
		plan      OutputPlan
		out       onnx.Output
		c, h, w   int     // scores
		lab       []int32 // labels
		lh, lw    int
		wantError bool
	}{
		{name: "nchw", plan: OutputPlan{Kind: KindScores, Layout: LayoutNCHW}, out: onnx.Output{Type: "float32", Data: seq(2 * 3 * 4 * 5), Shape: []int64{2, 3, 4, 5}}, c: 3, h: 4, w: 5},
		{name: "nhwc", plan: OutputPlan{Kind: KindScores, Layout: LayoutNHWC}, out: onnx.Output{Type: "float32", Data: seq(3 * 4 * 5), Shape: []int64{1, 4, 5, 3}}, c: 3, h: 4, w: 5},
		{name: "n1hw labels", plan: OutputPlan{Kind: KindLabels}, out: onnx.Output{Type: "int64", Data: seq(6), Shape: []int64{1, 1, 2, 3}}, lab: []int32{0, 1, 2, 3, 4, 5}, lh: 2, lw: 3},
		{name: "nhw1 labels", plan: OutputPlan{Kind: KindLabels}, out: onnx.Output{Type: "uint8", Data: seq(6), Shape: []int64{1, 2, 3, 1}}, lab: []int32{0, 1, 2, 3, 4, 5}, lh: 2, lw: 3},
		{name: "nhw labels", plan: OutputPlan{Kind: KindScores}, out: onnx.Output{Type: "int32", Data: seq(6), Shape: []int64{1, 2, 3}}, lab: []int32{0, 1, 2, 3, 4, 5}, lh: 2, lw: 3},
		{name: "binary", plan: OutputPlan{Kind: KindScores, Layout: LayoutNCHW, Threshold: 2}, out: onnx.Output{Type: "float32", Data: seq(6), Shape: []int64{1, 1, 2, 3}}, c: 2, h: 2, w: 3},
		{name: "rank 2", plan: OutputPlan{Kind: KindScores}, out: onnx.Output{Type: "float32", Data: seq(6), Shape: []int64{2, 3}}, wantError: true},
		{name: "labels of 3 values", plan: OutputPlan{Kind: KindLabels, Layout: LayoutNCHW}, out: onnx.Output{Type: "int64", Data: seq(12), Shape: []int64{1, 3, 2, 2}}, wantError: true},
		{name: "ambiguous", plan: OutputPlan{Kind: KindScores}, out: onnx.Output{Type: "float32", Data: seq(60), Shape: []int64{1, 3, 4, 5}}, wantError: true},
	} {
		a := &OutputAdapter{Plan: tc.plan}
		sc, lab, lh, lw, err := a.Convert(tc.out, 8, 10)
		switch {
		case tc.wantError:
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
			continue
		case tc.lab != nil:
			if sc != nil || !slices.Equal(lab, tc.lab) || lh != tc.lh || lw != tc.lw {
				t.Errorf("%s: labels %v %dx%d (scores %v), want %v %dx%d", tc.name, lab, lh, lw, sc, tc.lab, tc.lh, tc.lw)
			}
			continue
		}
		if sc == nil || sc.N != 1 || sc.C != tc.c || sc.H != tc.h || sc.W != tc.w {
			t.Errorf("%s: scores %+v, want 1x%dx%dx%d", tc.name, sc, tc.c, tc.h, tc.w)
			continue
		}
		// Reference: read the value of class k at pixel i from the raw output.
		for k := 0; k < sc.C; k++ {
			for i := 0; i < sc.H*sc.W; i++ {
				var want float32
				switch {
				case tc.name == "binary" && k == 0:
					want = 0
				case tc.name == "binary":
					want = tc.out.Data[i] - float32(tc.plan.Threshold)
				case tc.plan.Layout == LayoutNHWC:
					want = tc.out.Data[i*sc.C+k]
				default:
					want = tc.out.Data[k*sc.H*sc.W+i]
				}
				if got := sc.Data[k*sc.H*sc.W+i]; got != want {
					t.Errorf("%s: class %d pixel %d = %v, want %v", tc.name, k, i, got, want)
				}
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

// benchmarkConvert converts a c-class h x w output of the given layout, against a copy of the
// same number of values (the NCHW case's cost) as the baseline.
func benchmarkConvert(b *testing.B, lay string, c, h, w int) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := make([]float32, c*h*w)
	for i := range d {
		d[i] = rng.Float32()
	}
	shape := []int64{1, int64(c), int64(h), int64(w)}
	if lay == LayoutNHWC {
		shape = []int64{1, int64(h), int64(w), int64(c)}
	}
	a := &OutputAdapter{Plan: OutputPlan{Kind: KindScores, Layout: lay}}
	out := onnx.Output{Type: "float32", Data: d, Shape: shape}
	b.SetBytes(int64(4 * len(d)))
	for b.Loop() {
		if _, _, _, _, err := a.Convert(out, h, w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertNCHWSmall(b *testing.B) { benchmarkConvert(b, LayoutNCHW, 5, 64, 128) }
func BenchmarkConvertNHWCSmall(b *testing.B) { benchmarkConvert(b, LayoutNHWC, 5, 64, 128) }
func BenchmarkConvertNCHWLarge(b *testing.B) { benchmarkConvert(b, LayoutNCHW, 19, 512, 1024) }
func BenchmarkConvertNHWCLarge(b *testing.B) { benchmarkConvert(b, LayoutNHWC, 19, 512, 1024) }
