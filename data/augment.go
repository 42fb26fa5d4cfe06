package data

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lmpseg/lmpseg/resample"
)

// ResizeBilinear resizes c planes of sh x sw values in src to dh x dw in dst
// with bilinear interpolation and half-pixel centres (align_corners = false,
// the semantics of ONNX Resize with half_pixel and PyTorch's interpolate).
// It panics if the slice lengths do not match the sizes.
func ResizeBilinear(dst, src []float32, c, sh, sw, dh, dw int) {
	if len(src) != c*sh*sw || len(dst) != c*dh*dw {
		panic(fmt.Sprintf("data: ResizeBilinear: lengths %d, %d do not match %dx%dx%d -> %dx%dx%d",
			len(src), len(dst), c, sh, sw, c, dh, dw))
	}
	resizeBilinearWindow(dst, dw, src, c, sh, sw, dh, dw, 0, 0, dh, dw)
}

// resizeBilinearWindow computes rows [y0, y0+h) and columns [x0, x0+w) of
// the dh x dw bilinear resize of src, writing them into c planes of dst with
// row stride dstride and plane size len(dst)/c. The window must lie inside
// the resized image. It uses the Lerp form of package resample, so the
// results are those of data's resizing before resample existed, bit for bit.
func resizeBilinearWindow(dst []float32, dstride int, src []float32, c, sh, sw, dh, dw, y0, x0, h, w int) {
	if h <= 0 || w <= 0 {
		return
	}
	xm := resample.BilinearAxisRange(sw, dw, x0, w)
	ym := resample.BilinearAxisRange(sh, dh, y0, h)
	plane := len(dst) / c
	for ch := 0; ch < c; ch++ {
		resample.Window(dst[ch*plane:(ch+1)*plane], dstride, src[ch*sh*sw:(ch+1)*sh*sw], sw, ym, xm, resample.Lerp)
	}
}

// resizeBilinearRef is the plain reference for ResizeBilinear.
func resizeBilinearRef(dst, src []float32, c, sh, sw, dh, dw int) {
	at := func(ch, y, x int) float64 { return float64(src[(ch*sh+y)*sw+x]) }
	coord := func(o, s, d int) (int, int, float64) {
		p := math.Max(0, (float64(o)+0.5)*float64(s)/float64(d)-0.5)
		a := min(int(math.Floor(p)), s-1)
		return a, min(a+1, s-1), p - float64(a)
	}
	for ch := 0; ch < c; ch++ {
		for y := 0; y < dh; y++ {
			y0, y1, fy := coord(y, sh, dh)
			for x := 0; x < dw; x++ {
				x0, x1, fx := coord(x, sw, dw)
				v := (1-fy)*((1-fx)*at(ch, y0, x0)+fx*at(ch, y0, x1)) + fy*((1-fx)*at(ch, y1, x0)+fx*at(ch, y1, x1))
				dst[(ch*dh+y)*dw+x] = float32(v)
			}
		}
	}
}

// ResizeNearest resizes an sh x sw label map to dh x dw by nearest
// neighbour: output pixel (y, x) takes source (floor(y*sh/dh), floor(x*sw/dw)),
// as PyTorch's mode="nearest" and OpenCV's INTER_NEAREST do.
// It panics if the slice lengths do not match the sizes.
func ResizeNearest(dst, src []int32, sh, sw, dh, dw int) {
	if len(src) != sh*sw || len(dst) != dh*dw {
		panic(fmt.Sprintf("data: ResizeNearest: lengths %d, %d do not match %dx%d -> %dx%d",
			len(src), len(dst), sh, sw, dh, dw))
	}
	resizeNearestWindow(dst, dw, src, sh, sw, dh, dw, 0, 0, dh, dw)
}

// resizeNearestWindow is resizeBilinearWindow for labels.
func resizeNearestWindow(dst []int32, dstride int, src []int32, sh, sw, dh, dw, y0, x0, h, w int) {
	if h <= 0 || w <= 0 {
		return
	}
	xs := make([]int, w)
	for x := range xs {
		xs[x] = min((x0+x)*sw/dw, sw-1)
	}
	for y := 0; y < h; y++ {
		sy := min((y0+y)*sh/dh, sh-1)
		row := src[sy*sw : sy*sw+sw]
		out := dst[y*dstride : y*dstride+w]
		for x, sx := range xs {
			out[x] = row[sx]
		}
	}
}

// ResizeCrop returns the h x w window at (y0, x0) of s resized to dh x dw,
// computing only the pixels inside the window: the result equals
// Crop(Resize(s, dh, dw), y0, x0, h, w, pad, ignore) exactly, at a fraction
// of the cost when the window is small.
func ResizeCrop(s *Sample, dh, dw, y0, x0, h, w int, pad [3]float32, ignore int32) *Sample {
	out := &Sample{Name: s.Name, H: h, W: w, Image: make([]float32, 3*h*w)}
	if s.Label != nil {
		out.Label = make([]int32, h*w)
	}
	// The part of the window inside the resized image.
	iy0, ix0 := max(y0, 0), max(x0, 0)
	iy1, ix1 := min(y0+h, dh), min(x0+w, dw)
	for c := 0; c < 3; c++ {
		p := out.Image[c*h*w : (c+1)*h*w]
		for i := range p {
			p[i] = pad[c]
		}
	}
	for i := range out.Label {
		out.Label[i] = ignore
	}
	if iy1 <= iy0 || ix1 <= ix0 {
		return out
	}
	off := (iy0-y0)*w + (ix0 - x0)
	// Each plane of out.Image starts at c*h*w; shift by off within planes.
	resizeBilinearWindowAt(out.Image, h*w, off, w, s.Image, 3, s.H, s.W, dh, dw, iy0, ix0, iy1-iy0, ix1-ix0)
	if s.Label != nil {
		resizeNearestWindow(out.Label[off:], w, s.Label, s.H, s.W, dh, dw, iy0, ix0, iy1-iy0, ix1-ix0)
	}
	return out
}

// resizeBilinearWindowAt runs resizeBilinearWindow plane by plane into dst
// planes of size plane, starting at offset off in each plane.
func resizeBilinearWindowAt(dst []float32, plane, off, dstride int, src []float32, c, sh, sw, dh, dw, y0, x0, h, w int) {
	for ch := 0; ch < c; ch++ {
		resizeBilinearWindow(dst[ch*plane+off:(ch+1)*plane], dstride, src[ch*sh*sw:(ch+1)*sh*sw], 1, sh, sw, dh, dw, y0, x0, h, w)
	}
}

// Resize returns a copy of s resized to h x w: bilinear for the image,
// nearest for the label. A nil Label stays nil.
func Resize(s *Sample, h, w int) *Sample {
	out := &Sample{Name: s.Name, H: h, W: w, Image: make([]float32, 3*h*w)}
	ResizeBilinear(out.Image, s.Image, 3, s.H, s.W, h, w)
	if s.Label != nil {
		out.Label = make([]int32, h*w)
		ResizeNearest(out.Label, s.Label, s.H, s.W, h, w)
	}
	return out
}

// Crop returns the h x w window of s whose top-left corner is (y0, x0).
// Parts of the window outside s are padded: the image with pad (RGB, 0..255
// units), the label with ignore.
func Crop(s *Sample, y0, x0, h, w int, pad [3]float32, ignore int32) *Sample {
	out := &Sample{Name: s.Name, H: h, W: w, Image: make([]float32, 3*h*w)}
	if s.Label != nil {
		out.Label = make([]int32, h*w)
	}
	for c := 0; c < 3; c++ {
		dp := out.Image[c*h*w : (c+1)*h*w]
		sp := s.Image[c*s.H*s.W : (c+1)*s.H*s.W]
		for y := 0; y < h; y++ {
			sy := y0 + y
			for x := 0; x < w; x++ {
				sx := x0 + x
				if sy < 0 || sy >= s.H || sx < 0 || sx >= s.W {
					dp[y*w+x] = pad[c]
				} else {
					dp[y*w+x] = sp[sy*s.W+sx]
				}
			}
		}
	}
	if s.Label != nil {
		for y := 0; y < h; y++ {
			sy := y0 + y
			for x := 0; x < w; x++ {
				sx := x0 + x
				if sy < 0 || sy >= s.H || sx < 0 || sx >= s.W {
					out.Label[y*w+x] = ignore
				} else {
					out.Label[y*w+x] = s.Label[sy*s.W+sx]
				}
			}
		}
	}
	return out
}

// FlipH mirrors s left to right in place.
func FlipH(s *Sample) {
	for c := 0; c < 3; c++ {
		p := s.Image[c*s.H*s.W : (c+1)*s.H*s.W]
		for y := 0; y < s.H; y++ {
			row := p[y*s.W : (y+1)*s.W]
			for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
	if s.Label != nil {
		for y := 0; y < s.H; y++ {
			row := s.Label[y*s.W : (y+1)*s.W]
			for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
}

// Augment is the training augmentation: a random scale, a random crop and a
// random horizontal flip, applied in that order.
type Augment struct {
	// ScaleMin and ScaleMax bound the scale factor, drawn uniformly;
	// both zero disables scaling. The new size is round(H*s) x round(W*s)
	// (at least 1 pixel); the image is resized bilinearly, the label by
	// nearest neighbour.
	ScaleMin, ScaleMax float64
	// CropH and CropW give the crop size; zero disables cropping. A sample
	// smaller than the crop is first padded at the bottom and right.
	CropH, CropW int
	// Flip mirrors the sample left to right with probability 0.5.
	Flip bool
	// Ignore is the label used for padding; zero means DefaultIgnore (255).
	Ignore int32
	// Pad is the image padding value, RGB in 0..255 units. Its zero value
	// pads with black; set it to Preprocess.MeanPixel() so that padded
	// pixels become 0 after Preprocess, which is what padding after
	// normalisation does in mmsegmentation.
	Pad [3]float32
}

// Validate reports whether a is a usable configuration.
func (a Augment) Validate() error {
	if a.ScaleMin != 0 || a.ScaleMax != 0 {
		if !(a.ScaleMin > 0) || !(a.ScaleMax >= a.ScaleMin) || math.IsInf(a.ScaleMax, 0) {
			return fmt.Errorf("data: bad scale range [%g, %g]", a.ScaleMin, a.ScaleMax)
		}
	}
	if a.CropH < 0 || a.CropW < 0 || (a.CropH == 0) != (a.CropW == 0) {
		return fmt.Errorf("data: bad crop size %dx%d", a.CropH, a.CropW)
	}
	return nil
}

// Apply augments s in place using rng. The random draws are, in order: the
// scale (when enabled), the crop offsets y then x (when cropping), the flip
// (when enabled), so the result is a function of s and the state of rng
// only.
func (a Augment) Apply(s *Sample, rng *rand.Rand) error {
	if err := a.Validate(); err != nil {
		return err
	}
	ignore := a.Ignore
	if ignore == 0 {
		ignore = DefaultIgnore
	}
	cur := s
	h, w := s.H, s.W
	if a.ScaleMax > 0 {
		f := a.ScaleMin + rng.Float64()*(a.ScaleMax-a.ScaleMin)
		h = max(1, int(math.Round(float64(s.H)*f)))
		w = max(1, int(math.Round(float64(s.W)*f)))
	}
	if a.CropH > 0 {
		// Scale and crop in one pass: only the window is interpolated.
		ph, pw := max(h, a.CropH), max(w, a.CropW)
		y0 := rng.IntN(ph - a.CropH + 1)
		x0 := rng.IntN(pw - a.CropW + 1)
		cur = ResizeCrop(s, h, w, y0, x0, a.CropH, a.CropW, a.Pad, ignore)
	} else if h != s.H || w != s.W {
		cur = Resize(s, h, w)
	}
	if a.Flip && rng.IntN(2) == 1 {
		FlipH(cur)
	}
	*s = *cur
	return nil
}
