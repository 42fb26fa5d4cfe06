package data

import (
	"fmt"
	"math"
)

// Preprocess says how a Sample's image becomes a model input. It is the one
// preprocessing type of the project: a run's config.json and an exported
// model's lmpseg.preprocess metadata hold it as JSON.
//
// Mean and Std are given in the units of Range and in the order of the
// model's input channels (as mmsegmentation does): with Channels "BGR",
// output channel 0 is blue and Mean[0], Std[0] are the blue channel's values.
//
//   - Range "0-255" (or ""): out[c] = (v - Mean[c]) / Std[c] with v the pixel
//     in 0..255. ImageNet in RGB order: Mean 123.675, 116.28, 103.53;
//     Std 58.395, 57.12, 57.375 (reverse both for a BGR model).
//   - Range "0-1": out[c] = (v/255 - Mean[c]) / Std[c], so Mean and Std are
//     in 0..1 units (ImageNet, RGB: 0.485, 0.456, 0.406 and 0.229, 0.224,
//     0.225).
//
// With Mean 0 and Std 1 the image is only rescaled. The output is
// channel-major, C x H x W.
type Preprocess struct {
	Mean     [3]float32 `json:"mean"`
	Std      [3]float32 `json:"std"`
	Range    string     `json:"range"`    // "0-1" or "0-255" ("" reads as 0-255)
	Channels string     `json:"channels"` // "RGB" ("" reads as RGB) or "BGR"
}

// ImageNet is torchvision's ImageNet normalisation on the 0..1 range, RGB.
var ImageNet = Preprocess{
	Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, Range: "0-1", Channels: "RGB",
}

// ImageNet255 is the same normalisation in 0..255 units (mmsegmentation's convention).
var ImageNet255 = Preprocess{
	Mean: [3]float32{123.675, 116.28, 103.53}, Std: [3]float32{58.395, 57.12, 57.375}, Range: "0-255", Channels: "RGB",
}

// Raw passes the 0..255 pixel values through unchanged: the preprocessing of a model that
// normalises inside its graph (a uint8 input, say).
var Raw = Preprocess{Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}, Range: "0-255", Channels: "RGB"}

// bgr reports whether the model's channel order is blue first.
func (n Preprocess) bgr() bool { return n.Channels == "BGR" }

// Validate reports configurations that cannot be right: an unknown range,
// a zero, negative or non-finite Std, and for range "0-1" a Mean or Std above
// 1, which are 0..255 values used with the wrong range.
func (n Preprocess) Validate() error {
	switch n.Range {
	case "", "0-255", "0-1":
	default:
		return fmt.Errorf("data: unknown input range %q (want 0-1 or 0-255)", n.Range)
	}
	switch n.Channels {
	case "", "RGB", "BGR":
	default:
		return fmt.Errorf("data: unknown channel order %q (want RGB or BGR)", n.Channels)
	}
	for c := 0; c < 3; c++ {
		m, s := float64(n.Mean[c]), float64(n.Std[c])
		if !(s > 0) || math.IsInf(s, 0) || math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("data: bad normalisation mean %v std %v", n.Mean, n.Std)
		}
		if n.Range == "0-1" && (m > 1 || s > 1) {
			return fmt.Errorf("data: mean %v / std %v look like 0..255 values but the range is 0-1", n.Mean, n.Std)
		}
	}
	return nil
}

// Apply writes the model input for s into dst (3*s.H*s.W values, C x H x W).
// It panics if dst has the wrong length.
func (n Preprocess) Apply(dst []float32, s *Sample) {
	hw := s.H * s.W
	if len(dst) != 3*hw || len(s.Image) != 3*hw {
		panic(fmt.Sprintf("data: Preprocess.Apply: dst %d and image %d values for %dx%d", len(dst), len(s.Image), s.H, s.W))
	}
	unit := float32(1)
	if n.Range == "0-1" {
		unit = 1.0 / 255
	}
	for oc := 0; oc < 3; oc++ {
		ic := oc
		if n.bgr() {
			ic = 2 - oc
		}
		// out = (v*unit - mean)/std = v*a + b
		a := unit / n.Std[oc]
		b := -n.Mean[oc] / n.Std[oc]
		src := s.Image[ic*hw : (ic+1)*hw]
		out := dst[oc*hw : (oc+1)*hw]
		for i, v := range src {
			out[i] = v*a + b
		}
	}
}

// MeanPixel returns the pixel (RGB, 0..255) that n maps to zero in every
// channel, for use as Augment.Pad.
func (n Preprocess) MeanPixel() [3]float32 {
	unit := float32(1)
	if n.Range == "0-1" {
		unit = 255
	}
	var p [3]float32
	for oc := 0; oc < 3; oc++ {
		ic := oc
		if n.bgr() {
			ic = 2 - oc
		}
		p[ic] = n.Mean[oc] * unit
	}
	return p
}
