package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"

	"github.com/lmpseg/lmpseg/data"
)

// Palette returns k distinct colours for drawing label maps: hues a golden
// angle apart, with saturation and brightness varied so that neighbouring
// classes differ even when k is large. It is deterministic.
func Palette(k int) [][3]uint8 {
	p := make([][3]uint8, k)
	for i := range p {
		h := math.Mod(float64(i)*0.618033988749895, 1)
		s := []float64{0.75, 0.55, 0.95}[i%3]
		v := []float64{0.9, 0.7, 0.55}[(i/3)%3]
		c := data.HSV(h, s, v)
		p[i] = [3]uint8{c.R, c.G, c.B}
	}
	return p
}

// MaskImage draws a w x h label map (row-major) in the colours of palette:
// label l is palette[l], and labels outside the palette (the ignore label,
// for one) are black. It is an error if len(labels) != w*h or the palette is
// empty.
func MaskImage(labels []int32, w, h int, palette [][3]uint8) (*image.RGBA, error) {
	if w < 1 || h < 1 || len(labels) != w*h {
		return nil, fmt.Errorf("metrics: mask of %d labels is not %d x %d", len(labels), w, h)
	}
	if len(palette) == 0 {
		return nil, errors.New("metrics: mask with an empty palette")
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, l := range labels {
		c := [3]uint8{}
		if l >= 0 && int(l) < len(palette) {
			c = palette[l]
		}
		copy(img.Pix[4*i:], []uint8{c[0], c[1], c[2], 255})
	}
	return img, nil
}

// WriteMaskPNG writes the label map drawn by MaskImage as a PNG at path,
// atomically.
func WriteMaskPNG(path string, labels []int32, w, h int, palette [][3]uint8) error {
	img, err := MaskImage(labels, w, h, palette)
	if err != nil {
		return err
	}
	return writePNG(path, img)
}

// WriteImagePNG writes an h x w RGB image stored channel-first (3 x h x w,
// values 0 to 255, as data.Sample holds it) as a PNG at path, atomically.
// Values are rounded and clamped to 0..255 (NaN to 0).
func WriteImagePNG(path string, chw []float32, h, w int) error {
	if w < 1 || h < 1 || len(chw) != 3*w*h {
		return fmt.Errorf("metrics: image of %d values is not 3 x %d x %d", len(chw), h, w)
	}
	return writePNG(path, data.FloatToImage(chw, h, w))
}

func writePNG(path string, img image.Image) error {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return fmt.Errorf("metrics: %s: %w", path, err)
	}
	return writeAtomic(path, b.Bytes())
}
