package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randSample(r *rand.Rand, h, w, k int) *Sample {
	s := &Sample{Name: "r", H: h, W: w, Image: make([]float32, 3*h*w), Label: make([]int32, h*w)}
	for i := range s.Image {
		s.Image[i] = float32(r.IntN(256))
	}
	for i := range s.Label {
		s.Label[i] = int32(r.IntN(k))
	}
	return s
}

func TestResizeBilinear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ sh, sw, dh, dw int }{
		{4, 4, 8, 8}, {8, 8, 4, 4}, {5, 7, 13, 3}, {1, 1, 3, 2}, {3, 9, 1, 1}, {6, 6, 6, 6}, {17, 31, 16, 40},
	} {
		src := randSample(r, tc.sh, tc.sw, 2).Image
		got := make([]float32, 3*tc.dh*tc.dw)
		want := make([]float32, len(got))
		ResizeBilinear(got, src, 3, tc.sh, tc.sw, tc.dh, tc.dw)
		resizeBilinearRef(want, src, 3, tc.sh, tc.sw, tc.dh, tc.dw)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-3 {
				t.Fatalf("%+v: value %d = %v, reference %v", tc, i, got[i], want[i])
			}
		}
		if tc.sh == tc.dh && tc.sw == tc.dw && !slices.Equal(got, src) {
			t.Errorf("%+v: same-size resize changed values", tc)
		}
	}
	// Upsampling 2x of [0, 10]: half-pixel centres give 0, 2.5, 7.5, 10.
	got := make([]float32, 4)
	ResizeBilinear(got, []float32{0, 10}, 1, 1, 2, 1, 4)
	if want := []float32{0, 2.5, 7.5, 10}; !slices.Equal(got, want) {
		t.Errorf("1x2 -> 1x4: %v, want %v", got, want)
	}
}

func TestResizeNearest(t *testing.T) {
	got := make([]int32, 6)
	ResizeNearest(got, []int32{1, 2, 3, 4}, 2, 2, 2, 3)
	if want := []int32{1, 1, 2, 3, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("2x2 -> 2x3: %v, want %v", got, want)
	}
	got = make([]int32, 2)
	ResizeNearest(got, []int32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 4, 1, 2)
	if want := []int32{1, 3}; !slices.Equal(got, want) {
		t.Errorf("2x4 -> 1x2: %v, want %v", got, want)
	}
}

func TestCropFlip(t *testing.T) {
	s := &Sample{H: 2, W: 3, Image: []float32{1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26},
		Label: []int32{0, 1, 2, 3, 4, 5}}
	c := Crop(s, 1, 1, 2, 3, [3]float32{-1, -2, -3}, 99)
	if want := []float32{5, 6, -1, -1, -1, -1, 15, 16, -2, -2, -2, -2, 25, 26, -3, -3, -3, -3}; !slices.Equal(c.Image, want) {
		t.Errorf("crop image %v, want %v", c.Image, want)
	}
	if want := []int32{4, 5, 99, 99, 99, 99}; !slices.Equal(c.Label, want) {
		t.Errorf("crop label %v, want %v", c.Label, want)
	}
	FlipH(s)
	if want := []float32{3, 2, 1, 6, 5, 4, 13, 12, 11, 16, 15, 14, 23, 22, 21, 26, 25, 24}; !slices.Equal(s.Image, want) {
		t.Errorf("flip image %v", s.Image)
	}
	if want := []int32{2, 1, 0, 5, 4, 3}; !slices.Equal(s.Label, want) {
		t.Errorf("flip label %v", s.Label)
	}
}

// TestAugmentAlignment checks that image and label stay aligned: every
// image pixel's red value encodes its label, so without scaling the two
// must agree after crop and flip everywhere but in the padding.
func TestAugmentAlignment(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a := Augment{CropH: 12, CropW: 20, Flip: true, Pad: [3]float32{-7, 0, 0}}
	flips := 0
	for trial := 0; trial < 40; trial++ {
		h, w := 5+r.IntN(20), 5+r.IntN(30)
		s := randSample(r, h, w, 10)
		for i, v := range s.Label {
			s.Image[i] = float32(v)
		}
		orig := *s
		if err := a.Apply(s, rand.New(rand.NewPCG(uint64(trial), 0))); err != nil {
			t.Fatal(err)
		}
		if s.H != 12 || s.W != 20 || len(s.Image) != 3*12*20 || len(s.Label) != 12*20 {
			t.Fatalf("augmented to %dx%d", s.W, s.H)
		}
		for i, v := range s.Label {
			if v == 255 {
				if s.Image[i] != -7 {
					t.Fatalf("padded label at %d but image %v", i, s.Image[i])
				}
			} else if float32(v) != s.Image[i] {
				t.Fatalf("trial %d: label %d, image %v at %d", trial, v, s.Image[i], i)
			}
		}
		if s.Label[0] != 255 && s.Label[0] != orig.Label[0] {
			flips++
		}
		// Same rng seed, same result.
		again := orig
		again.Image = slices.Clone(orig.Image)
		again.Label = slices.Clone(orig.Label)
		a.Apply(&again, rand.New(rand.NewPCG(uint64(trial), 0)))
		if !slices.Equal(again.Image, s.Image) || !slices.Equal(again.Label, s.Label) {
			t.Fatal("same seed, different augmentation")
		}
	}
	if flips == 0 {
		t.Error("no sample was ever moved by crop or flip")
	}
}

func TestAugmentScale(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a := Augment{ScaleMin: 0.5, ScaleMax: 2}
	sizes := map[int]bool{}
	for trial := 0; trial < 30; trial++ {
		s := randSample(r, 20, 30, 3)
		s.Label[0] = 7
		if err := a.Apply(s, r); err != nil {
			t.Fatal(err)
		}
		f := float64(s.H) / 20
		if f < 0.5-0.03 || f > 2+0.03 || math.Abs(float64(s.W)/30-f) > 0.05 {
			t.Fatalf("scaled to %dx%d", s.W, s.H)
		}
		sizes[s.H] = true
		for _, v := range s.Label {
			if v != 7 && (v < 0 || v > 2) {
				t.Fatalf("nearest resize made label %d", v)
			}
		}
		if s.Label[0] != 7 {
			t.Fatalf("top-left label lost: %d", s.Label[0])
		}
	}
	if len(sizes) < 5 {
		t.Errorf("only %d distinct sizes in 30 draws", len(sizes))
	}
	for _, bad := range []Augment{{ScaleMin: 2, ScaleMax: 1}, {ScaleMin: -1, ScaleMax: 1}, {CropH: 3}, {CropH: -1, CropW: -1}} {
		if bad.Validate() == nil || bad.Apply(randSample(r, 3, 3, 2), r) == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	s := randSample(r, 3, 4, 2)
	hw := 12
	for _, n := range []Preprocess{
		ImageNet255,
		{Mean: [3]float32{103.53, 116.28, 123.675}, Std: [3]float32{57.375, 57.12, 58.395}, Channels: "BGR"},
		{Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, Range: "0-1"},
		{Mean: [3]float32{0.406, 0.456, 0.485}, Std: [3]float32{0.225, 0.224, 0.229}, Range: "0-1", Channels: "BGR"},
		{Std: [3]float32{1, 1, 1}, Range: "0-1"},
	} {
		if err := n.Validate(); err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 3*hw)
		n.Apply(dst, s)
		for oc := 0; oc < 3; oc++ {
			rgb := oc
			if n.Channels == "BGR" {
				rgb = 2 - oc
			}
			for i := 0; i < hw; i++ {
				v := float64(s.Image[rgb*hw+i])
				if n.Range == "0-1" {
					v /= 255
				}
				want := (v - float64(n.Mean[oc])) / float64(n.Std[oc]) // mean/std in model channel order
				if math.Abs(float64(dst[oc*hw+i])-want) > 1e-4 {
					t.Fatalf("%+v: out[%d][%d] = %v, want %v", n, oc, i, dst[oc*hw+i], want)
				}
			}
		}
	}
	// The ImageNet mean pixel maps to zero, for RGB and (with the mean
	// reversed) BGR models, in both ranges.
	p := &Sample{H: 1, W: 1, Image: []float32{0.485 * 255, 0.456 * 255, 0.406 * 255}}
	dst := make([]float32, 3)
	for _, n := range []Preprocess{
		{Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, Range: "0-1"},
		{Mean: [3]float32{0.406, 0.456, 0.485}, Std: [3]float32{0.229, 0.224, 0.225}, Range: "0-1", Channels: "BGR"},
		{Mean: [3]float32{0.406 * 255, 0.456 * 255, 0.485 * 255}, Std: [3]float32{1, 1, 1}, Range: "0-255", Channels: "BGR"},
	} {
		n.Apply(dst, p)
		mp := n.MeanPixel()
		n.Apply(dst[:0:0], &Sample{}) // zero-size input is fine
		q := make([]float32, 3)
		n.Apply(q, &Sample{H: 1, W: 1, Image: mp[:]})
		for i, v := range dst {
			if math.Abs(float64(v)) > 1e-4 || math.Abs(float64(q[i])) > 1e-4 {
				t.Errorf("%+v: mean pixel -> %v, MeanPixel %v -> %v", n, dst, mp, q)
			}
		}
	}
	for _, bad := range []Preprocess{
		{Mean: ImageNet255.Mean, Std: ImageNet255.Std, Range: "0-1"},
		{Std: [3]float32{1, 0, 1}},
		{Std: [3]float32{1, 1, 1}, Range: "0-2"},
		{Std: [3]float32{1, 1, 1}, Channels: "GBR"},
		{Mean: [3]float32{float32(math.NaN())}, Std: [3]float32{1, 1, 1}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestResizeCrop checks the fused scale-and-crop against Resize then Crop.
func TestResizeCrop(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	pad := [3]float32{1, 2, 3}
	for trial := 0; trial < 200; trial++ {
		s := randSample(r, 1+r.IntN(15), 1+r.IntN(15), 5)
		dh, dw := 1+r.IntN(30), 1+r.IntN(30)
		h, w := 1+r.IntN(20), 1+r.IntN(20)
		y0, x0 := r.IntN(40)-10, r.IntN(40)-10
		got := ResizeCrop(s, dh, dw, y0, x0, h, w, pad, 99)
		want := Crop(Resize(s, dh, dw), y0, x0, h, w, pad, 99)
		if !slices.Equal(got.Image, want.Image) || !slices.Equal(got.Label, want.Label) {
			t.Fatalf("%dx%d -> %dx%d, window %dx%d at (%d,%d): differs", s.H, s.W, dh, dw, h, w, y0, x0)
		}
	}
}
