package data

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Palette gives the colour of each class index.
type Palette []color.RGBA

// IgnoreColor is the colour of pixels without a palette entry (the ignore
// label, or values beyond the palette): fully transparent black.
var IgnoreColor = color.RGBA{}

// CityscapesPalette returns the official colours of the 19 Cityscapes
// training classes, in trainId order.
func CityscapesPalette() Palette {
	return Palette{
		{128, 64, 128, 255}, {244, 35, 232, 255}, {70, 70, 70, 255}, {102, 102, 156, 255},
		{190, 153, 153, 255}, {153, 153, 153, 255}, {250, 170, 30, 255}, {220, 220, 0, 255},
		{107, 142, 35, 255}, {152, 251, 152, 255}, {70, 130, 180, 255}, {220, 20, 60, 255},
		{255, 0, 0, 255}, {0, 0, 142, 255}, {0, 0, 70, 255}, {0, 60, 100, 255},
		{0, 80, 100, 255}, {0, 0, 230, 255}, {119, 11, 32, 255},
	}
}

// VOCPalette returns the first n colours of the PASCAL VOC palette, in which
// the bits of the class index are interleaved into the high bits of R, G
// and B (bit 0 to red, bit 1 to green, bit 2 to blue, then the next three
// bits one position lower, and so on). Class 0 is black, 1 is (128, 0, 0).
func VOCPalette(n int) Palette {
	p := make(Palette, n)
	for i := range p {
		var r, g, b uint8
		c := i
		for j := 7; j >= 0 && c > 0; j-- {
			r |= uint8(c&1) << j
			g |= uint8(c>>1&1) << j
			b |= uint8(c>>2&1) << j
			c >>= 3
		}
		p[i] = color.RGBA{r, g, b, 255}
	}
	return p
}

// DistinctPalette returns n colours whose hues step by the golden angle,
// with saturation and value cycling through three levels, so that
// neighbouring class indices get clearly different colours.
func DistinctPalette(n int) Palette {
	p := make(Palette, n)
	const golden = 0.618033988749895
	h := 0.1
	for i := range p {
		s := []float64{0.85, 0.6, 0.95}[i%3]
		v := []float64{0.95, 0.75, 0.55}[(i/3)%3]
		p[i] = HSV(h, s, v)
		h = math.Mod(h+golden, 1)
	}
	return p
}

// HSV returns the opaque colour of hue h, saturation s and value v, each
// in [0, 1] (a hue of 1 is red again), with each channel rounded to 0..255.
func HSV(h, s, v float64) color.RGBA {
	i := math.Floor(h * 6)
	f := h*6 - i
	pp, q, t := v*(1-s), v*(1-f*s), v*(1-(1-f)*s)
	var r, g, b float64
	switch int(i) % 6 {
	case 0:
		r, g, b = v, t, pp
	case 1:
		r, g, b = q, v, pp
	case 2:
		r, g, b = pp, v, t
	case 3:
		r, g, b = pp, q, v
	case 4:
		r, g, b = t, pp, v
	default:
		r, g, b = v, pp, q
	}
	c := func(x float64) uint8 { return uint8(math.Round(x * 255)) }
	return color.RGBA{c(r), c(g), c(b), 255}
}

// PaletteFor picks a palette for the class names: the Cityscapes palette
// for the 19 Cityscapes classes, the VOC palette for the 21 VOC classes
// (and for other class lists of those sizes), the CamVid palette for the 11
// CamVid classes, a DistinctPalette otherwise.
func PaletteFor(names []string) Palette {
	switch {
	case slices.Equal(names, CamVidClasses):
		return CamVidPalette()
	case slices.Equal(names, CityscapesClasses), len(names) == 19:
		return CityscapesPalette()
	case slices.Equal(names, VOCClasses), len(names) == 21:
		return VOCPalette(21)
	}
	return DistinctPalette(len(names))
}

// ColorMask paints a label map: class c gets p[c], every other value
// IgnoreColor. For palettes of at most 255 colours the result is an
// *image.Paletted whose index is the label value (index 255 and any unused
// index hold IgnoreColor), so the PNG written from it is itself a valid label
// file; for larger palettes it is an *image.RGBA. It panics if
// len(label) != h*w.
func ColorMask(label []int32, h, w int, p Palette) image.Image {
	if len(label) != h*w {
		panic(fmt.Sprintf("data: ColorMask: %d labels for %dx%d", len(label), h, w))
	}
	r := image.Rect(0, 0, w, h)
	if len(p) <= 255 {
		pal := make(color.Palette, 256)
		for i := range pal {
			pal[i] = IgnoreColor
		}
		for i, c := range p {
			pal[i] = c
		}
		m := image.NewPaletted(r, pal)
		for i, v := range label {
			if v < 0 || int(v) >= len(p) {
				v = 255
			}
			m.Pix[i] = uint8(v)
		}
		return m
	}
	m := image.NewRGBA(r)
	for i, v := range label {
		c := IgnoreColor
		if v >= 0 && int(v) < len(p) {
			c = p[v]
		}
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// FloatToImage converts 3 planes of h*w RGB values in 0..255 (a Sample's
// Image) into an RGBA image, rounding and clamping.
func FloatToImage(pix []float32, h, w int) *image.RGBA {
	if len(pix) != 3*h*w {
		panic(fmt.Sprintf("data: FloatToImage: %d values for 3x%dx%d", len(pix), h, w))
	}
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	hw := h * w
	q := func(v float32) uint8 {
		if !(v > 0) {
			return 0
		}
		if v >= 255 {
			return 255
		}
		return uint8(v + 0.5)
	}
	for i := 0; i < hw; i++ {
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = q(pix[i]), q(pix[hw+i]), q(pix[2*hw+i]), 255
	}
	return m
}

// Overlay blends mask over img: each output pixel is
// img*(1-a) + mask*a with a = alpha times the mask pixel's opacity, so
// transparent (ignored) mask pixels leave the image as it is. The images
// must have the same size.
func Overlay(img, mask image.Image, alpha float64) (*image.RGBA, error) {
	ib, mb := img.Bounds(), mask.Bounds()
	if ib.Dx() != mb.Dx() || ib.Dy() != mb.Dy() {
		return nil, fmt.Errorf("data: overlay: image is %dx%d but mask is %dx%d", ib.Dx(), ib.Dy(), mb.Dx(), mb.Dy())
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("data: overlay: alpha %g outside [0, 1]", alpha)
	}
	out := image.NewRGBA(image.Rect(0, 0, ib.Dx(), ib.Dy()))
	for y := 0; y < ib.Dy(); y++ {
		for x := 0; x < ib.Dx(); x++ {
			ic := color.NRGBAModel.Convert(img.At(ib.Min.X+x, ib.Min.Y+y)).(color.NRGBA)
			mc := color.NRGBAModel.Convert(mask.At(mb.Min.X+x, mb.Min.Y+y)).(color.NRGBA)
			a := alpha * float64(mc.A) / 255
			mix := func(i, m uint8) uint8 { return uint8(math.Round(float64(i)*(1-a) + float64(m)*a)) }
			o := 4 * (y*ib.Dx() + x)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = mix(ic.R, mc.R), mix(ic.G, mc.G), mix(ic.B, mc.B), 255
		}
	}
	return out, nil
}

// LabelImage returns the label map as an 8-bit gray image (the class index
// per pixel). Values outside 0..255 are an error.
func LabelImage(label []int32, h, w int) (*image.Gray, error) {
	if len(label) != h*w {
		return nil, fmt.Errorf("data: %d labels for %dx%d", len(label), h, w)
	}
	m := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range label {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("data: label value %d at (x=%d, y=%d) does not fit an 8-bit PNG", v, i%w, i/w)
		}
		m.Pix[i] = uint8(v)
	}
	return m, nil
}

// WriteLabelPNG writes the label map as an 8-bit gray PNG (class index per
// pixel), atomically.
func WriteLabelPNG(path string, label []int32, h, w int) error {
	m, err := LabelImage(label, h, w)
	if err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return WritePNG(path, m)
}

// WriteColorPNG writes ColorMask(label, h, w, p) as a PNG, atomically.
func WriteColorPNG(path string, label []int32, h, w int, p Palette) error {
	return WritePNG(path, ColorMask(label, h, w, p))
}

// WritePNG encodes img to path through a temporary file in the same folder,
// synced and renamed, so path never holds a partial image.
func WritePNG(path string, img image.Image) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	tmp := f.Name()
	err = png.Encode(f, img)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("data: write %s: %w", path, err)
	}
	return nil
}
