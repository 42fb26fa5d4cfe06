package data

import (
	"fmt"
	"math"
)

// Normalize turns a Sample's image into a model input.
//
// Mean and Std are always given in RGB order (Mean[0] is the red channel),
// whatever BGR says, and in the units of Range:
//
//   - Range "0-255" (or ""): out = (v - Mean) / Std with v the pixel in 0..255.
//     ImageNet: Mean 123.675, 116.28, 103.53; Std 58.395, 57.12, 57.375.
//   - Range "0-1": out = (v/255 - Mean) / Std, so Mean and Std are in 0..1
//     units (ImageNet: 0.485, 0.456, 0.406 and 0.229, 0.224, 0.225).
//
// With Mean 0 and Std 1 the image is only rescaled. When BGR is set the
// output channels are blue, green, red (channel 0 is (B - Mean[2]) / Std[2]).
// The output is channel-major, C x H x W.
type Normalize struct {
	Mean, Std [3]float32
	BGR       bool
	Range     string
}

// ImageNet is the usual normalisation in 0..255 units, RGB order.
var ImageNet = Normalize{
	Mean:  [3]float32{123.675, 116.28, 103.53},
	Std:   [3]float32{58.395, 57.12, 57.375},
	Range: "0-255",
}

// Validate reports configurations that cannot be right: an unknown range,
// a zero, negative or non-finite Std, and for range "0-1" a Mean or Std above
// 1, which are 0..255 values used with the wrong range.
func (n Normalize) Validate() error {
	switch n.Range {
	case "", "0-255", "0-1":
	default:
		return fmt.Errorf("data: unknown input range %q (want 0-1 or 0-255)", n.Range)
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
func (n Normalize) Apply(dst []float32, s *Sample) {
	hw := s.H * s.W
	if len(dst) != 3*hw || len(s.Image) != 3*hw {
		panic(fmt.Sprintf("data: Normalize.Apply: dst %d and image %d values for %dx%d", len(dst), len(s.Image), s.H, s.W))
	}
	unit := float32(1)
	if n.Range == "0-1" {
		unit = 1.0 / 255
	}
	for oc := 0; oc < 3; oc++ {
		ic := oc
		if n.BGR {
			ic = 2 - oc
		}
		// out = (v*unit - mean)/std = v*a + b
		a := unit / n.Std[ic]
		b := -n.Mean[ic] / n.Std[ic]
		src := s.Image[ic*hw : (ic+1)*hw]
		out := dst[oc*hw : (oc+1)*hw]
		for i, v := range src {
			out[i] = v*a + b
		}
	}
}
