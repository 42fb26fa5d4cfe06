package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register decoders for image.Decode
	_ "image/jpeg"
	"image/png"
	"io"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// MaxPixels bounds the width times height of any decoded image or label;
// larger files are rejected before their pixels are allocated.
var MaxPixels = 1 << 28

// DecodeImage decodes a PNG, JPEG, GIF, BMP, TIFF or WebP image into 3 planes
// of h*w float32 values (RGB, 0..255). Alpha is dropped as ImageToFloat
// says. A JPEG is turned as its EXIF orientation tag says (as PIL's
// exif_transpose does), so h and w are those of the displayed image; a
// missing or malformed EXIF block leaves the image as stored.
func DecodeImage(b []byte) (pix []float32, h, w int, err error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, err
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, 0, 0, err
	}
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, err
	}
	pix, h, w = ImageToFloat(img)
	if format == "jpeg" {
		pix, h, w = orient(pix, h, w, jpegOrientation(b))
	}
	return pix, h, w, nil
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("empty image (%dx%d)", w, h)
	}
	if w > MaxPixels/h {
		return fmt.Errorf("image of %dx%d pixels exceeds the limit of %d pixels", w, h, MaxPixels)
	}
	return nil
}

// ImageToFloat converts img into 3 planes of h*w float32 values in RGB order
// with values 0..255, dropping alpha. Colours are the non-premultiplied ones
// (color.NRGBAModel): a non-premultiplied image (NRGBA, NRGBA64, a palette
// of NRGBA colours: what PNG files decode to) gives its stored colour even
// where alpha is 0, a premultiplied one (RGBA, RGBA64) is divided by alpha,
// which leaves black where alpha is 0. 16-bit samples keep their high byte.
func ImageToFloat(img image.Image) (pix []float32, h, w int) {
	r := img.Bounds()
	h, w = r.Dy(), r.Dx()
	pix = make([]float32, 3*h*w)
	switch m := img.(type) {
	case *image.YCbCr:
		ycbcrToFloat(pix, m)
	case *image.RGBA:
		packedToFloat(pix, m.Pix, m.Stride, h, w, 4, true)
	case *image.NRGBA:
		packedToFloat(pix, m.Pix, m.Stride, h, w, 4, false)
	case *image.NRGBA64:
		packedToFloat(pix, m.Pix, m.Stride, h, w, 8, false)
	case *image.Gray:
		hw := h * w
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				f := float32(v)
				i := y*w + x
				pix[i], pix[hw+i], pix[2*hw+i] = f, f, f
			}
		}
	default:
		imageToFloatRef(pix, img)
	}
	return pix, h, w
}

// imageToFloatRef is the plain reference conversion, one At call per pixel.
func imageToFloatRef(dst []float32, img image.Image) {
	r := img.Bounds()
	h, w := r.Dy(), r.Dx()
	hw := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			switch c := img.At(r.Min.X+x, r.Min.Y+y).(type) {
			case color.NRGBA64: // stored colour, 16 bits to 8
				dst[i], dst[hw+i], dst[2*hw+i] = float32(c.R>>8), float32(c.G>>8), float32(c.B>>8)
			default:
				n := color.NRGBAModel.Convert(c).(color.NRGBA)
				dst[i], dst[hw+i], dst[2*hw+i] = float32(n.R), float32(n.G), float32(n.B)
			}
		}
	}
}

func ycbcrToFloat(dst []float32, m *image.YCbCr) {
	r := m.Rect
	h, w := r.Dy(), r.Dx()
	hw := h * w
	// COffset is separable: offset(x, y) = COffset(x, Min.Y) + COffset(Min.X, y).
	cols := make([]int, w)
	for x := range cols {
		cols[x] = m.COffset(r.Min.X+x, r.Min.Y)
	}
	for y := 0; y < h; y++ {
		yrow := m.Y[m.YOffset(r.Min.X, r.Min.Y+y):]
		crow := m.COffset(r.Min.X, r.Min.Y+y)
		cb, cr := m.Cb[crow:], m.Cr[crow:]
		dr, dg, db := dst[y*w:y*w+w], dst[hw+y*w:hw+y*w+w], dst[2*hw+y*w:2*hw+y*w+w]
		for x, cx := range cols {
			R, G, B := color.YCbCrToRGB(yrow[x], cb[cx], cr[cx])
			dr[x], dg[x], db[x] = float32(R), float32(G), float32(B)
		}
	}
}

// packedToFloat copies the R, G and B samples of h rows of w interleaved
// RGBA pixels (row y at pix[y*stride:], size bytes a pixel: 4 for 8-bit
// samples, 8 for big-endian 16-bit ones, of which the high byte is kept)
// into the three planes of dst. With premultiplied (8-bit samples only), a
// pixel that is not opaque is divided by its alpha as color.NRGBAModel does.
func packedToFloat(dst []float32, pix []uint8, stride, h, w, size int, premultiplied bool) {
	hw := h * w
	g, b := size/4, size/2 // where the G and B samples start
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+size*w]
		for x := 0; x < w; x++ {
			p := row[size*x : size*x+size : size*x+size]
			i := y*w + x
			if premultiplied && p[3] != 255 {
				c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
				dst[i], dst[hw+i], dst[2*hw+i] = float32(c.R), float32(c.G), float32(c.B)
				continue
			}
			dst[i], dst[hw+i], dst[2*hw+i] = float32(p[0]), float32(p[g]), float32(p[b])
		}
	}
}

// DecodeLabel decodes a label PNG into h*w class values. The PNG must be
// gray of any bit depth (the stored sample is the value: a 1-bit image holds
// 0 and 1, not 0 and 255) or paletted (the palette index is the value); an
// RGB(A) PNG is accepted only when every pixel is gray (R = G = B). A colour
// mask is rejected with an error naming the first colour pixel. DecodeLabel
// never panics on malformed input.
func DecodeLabel(r io.Reader) (label []int32, h, w int, err error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, 0, err
	}
	return decodeLabelBytes(b, nil)
}

// colourMap gives the raw label value of each colour (0xRRGGBB) of a colour
// label image; source names where the colours come from, for errors.
type colourMap struct {
	ids    map[uint32]int32
	source string
}

// rgbKey is the key of a colour in a colourMap: 0xRRGGBB.
func rgbKey(r, g, b uint8) uint32 { return uint32(r)<<16 | uint32(g)<<8 | uint32(b) }

// decodeLabelBytes decodes the label PNG in b. With a colour map, a
// true-colour PNG is mapped colour by colour (gray, paletted and 16-bit gray
// PNGs still give their values); without one it must be gray throughout.
func decodeLabelBytes(b []byte, cm *colourMap) (label []int32, h, w int, err error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("not a PNG label: %w", err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, 0, 0, err
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, err
	}
	if cm != nil {
		switch img.(type) {
		case *image.Gray, *image.Gray16, *image.Paletted:
		default:
			return colourLabel(img, cm)
		}
	}
	label, h, w, err = labelFromImage(img)
	if err != nil {
		return nil, 0, 0, err
	}
	// image/png scales 1-, 2- and 4-bit gray samples to 0..255 (a 1-bit 1
	// becomes 255); the label is the stored sample, so scale back.
	if depth, colorType, ok := pngHeader(b); ok && colorType == 0 && depth < 8 {
		step := int32(255 / (1<<depth - 1)) // 255, 85 or 17
		for i, v := range label {
			label[i] = v / step
		}
	}
	return label, h, w, nil
}

// pngHeader returns the bit depth and colour type of the PNG in b, whose
// first chunk must be IHDR.
func pngHeader(b []byte) (depth, colorType uint8, ok bool) {
	// 8-byte signature, 4-byte length, "IHDR", width, height, depth, colour type.
	if len(b) < 26 || string(b[12:16]) != "IHDR" {
		return 0, 0, false
	}
	return b[24], b[25], true
}

// errColour marks a label image that holds colours rather than indices.
var errColour = errors.New("colour label")

func labelFromImage(img image.Image) (label []int32, h, w int, err error) {
	r := img.Bounds()
	h, w = r.Dy(), r.Dx()
	label = make([]int32, h*w)
	gray := true
	var x, y int // the first colour pixel when not gray
	switch m := img.(type) {
	case *image.Gray:
		bytesToLabel(label, m.Pix, m.Stride, h, w)
	case *image.Paletted:
		bytesToLabel(label, m.Pix, m.Stride, h, w)
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			for x := 0; x < w; x++ {
				label[y*w+x] = int32(row[2*x])<<8 | int32(row[2*x+1])
			}
		}
	case *image.NRGBA:
		x, y, gray = grayToLabel(label, m.Pix, m.Stride, h, w, 4)
	case *image.RGBA:
		x, y, gray = grayToLabel(label, m.Pix, m.Stride, h, w, 4)
	case *image.NRGBA64:
		x, y, gray = grayToLabel(label, m.Pix, m.Stride, h, w, 8)
	case *image.RGBA64:
		x, y, gray = grayToLabel(label, m.Pix, m.Stride, h, w, 8)
	default:
		return nil, 0, 0, fmt.Errorf("unsupported label colour model %T", img)
	}
	if !gray {
		return nil, 0, 0, fmt.Errorf("%w: pixel (x=%d, y=%d) is %v; labels must hold class indices "+
			"(8-bit gray, 16-bit gray or paletted PNG), not colours", errColour, x, y, img.At(r.Min.X+x, r.Min.Y+y))
	}
	return label, h, w, nil
}

// bytesToLabel copies h rows of w one-byte values (row y at pix[y*stride:])
// into dst.
func bytesToLabel(dst []int32, pix []uint8, stride, h, w int) {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+w]
		for x, v := range row {
			dst[y*w+x] = int32(v)
		}
	}
}

// grayToLabel copies h rows of w interleaved RGBA pixels (row y at
// pix[y*stride:], size bytes a pixel: 4 for 8-bit samples, 8 for big-endian
// 16-bit ones) into dst, the value of a pixel being its R (= G = B) sample.
// It stops at the first pixel whose samples differ and returns it with
// gray false.
func grayToLabel(dst []int32, pix []uint8, stride, h, w, size int) (x, y int, gray bool) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := pix[y*stride+size*x : y*stride+size*x+size]
			r, g, b := int32(p[0]), int32(p[size/4]), int32(p[size/2])
			if size == 8 {
				r, g, b = r<<8|int32(p[1]), g<<8|int32(p[3]), b<<8|int32(p[5])
			}
			if r != g || r != b {
				return x, y, false
			}
			dst[y*w+x] = r
		}
	}
	return 0, 0, true
}

// colourLabel maps every pixel of img through cm by its colour, ignoring
// alpha; a colour cm lacks is an error naming the pixel.
func colourLabel(img image.Image, cm *colourMap) (label []int32, h, w int, err error) {
	r := img.Bounds()
	h, w = r.Dy(), r.Dx()
	label = make([]int32, h*w)
	last, lastID := uint32(1<<31), int32(0) // no colour is 1<<31
	lookup := func(x, y int, c uint32) (int32, error) {
		if c == last {
			return lastID, nil
		}
		id, ok := cm.ids[c]
		if !ok {
			return 0, fmt.Errorf("pixel (x=%d, y=%d) has colour (%d, %d, %d), which is not a class colour of %s",
				x, y, c>>16, c>>8&0xff, c&0xff, cm.source)
		}
		last, lastID = c, id
		return id, nil
	}
	var pix []uint8
	var stride int
	switch m := img.(type) {
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	case *image.NRGBA:
		pix, stride = m.Pix, m.Stride
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c uint32
			if pix != nil {
				p := pix[y*stride+4*x : y*stride+4*x+3]
				c = rgbKey(p[0], p[1], p[2])
			} else {
				switch v := img.At(r.Min.X+x, r.Min.Y+y).(type) {
				case color.NRGBA64:
					c = rgbKey(uint8(v.R>>8), uint8(v.G>>8), uint8(v.B>>8))
				default:
					n := color.NRGBAModel.Convert(v).(color.NRGBA)
					c = rgbKey(n.R, n.G, n.B)
				}
			}
			id, err := lookup(x, y, c)
			if err != nil {
				return nil, 0, 0, err
			}
			label[y*w+x] = id
		}
	}
	return label, h, w, nil
}
