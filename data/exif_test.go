package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"slices"
	"testing"
)

// exifAPP1 returns an APP1 segment (marker included) whose IFD0 holds the
// orientation tag, in big-endian ("MM") or little-endian ("II") order,
// after a dummy tag so that the orientation is not the first entry.
func exifAPP1(orientation uint16, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II")
	if bigEndian {
		bo, tiff = binary.BigEndian, []byte("MM")
	}
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, 2) // two entries
	// 0x010f Make, ASCII, 4 bytes inline: "Go!\0".
	tiff = bo.AppendUint16(tiff, 0x010f)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, "Go!\x00"...)
	// 0x0112 Orientation, SHORT, count 1, value left-justified.
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, orientation)
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := []byte{0xff, 0xe1}
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	return append(out, seg...)
}

// spliceAfterSOI inserts segments right after a JPEG's start-of-image marker.
func spliceAfterSOI(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// quadrantJPEG is a 16x8 JPEG whose quadrants are red (top left), green
// (top right), blue (bottom left) and white (bottom right).
func quadrantJPEG(t testing.TB) []byte {
	m := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			c := [4]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}[y/4*2+x/8]
			m.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// colourName names the quadrant colour nearest to pixel (x, y).
func colourName(pix []float32, h, w, x, y int) string {
	i := y*w + x
	r, g, b := pix[i], pix[h*w+i], pix[2*h*w+i]
	switch {
	case r > 160 && g > 160 && b > 160:
		return "W"
	case r > 160 && g < 100 && b < 100:
		return "R"
	case g > 160 && r < 100 && b < 100:
		return "G"
	case b > 160 && r < 100 && g < 100:
		return "B"
	}
	return fmt.Sprintf("(%v,%v,%v)", r, g, b)
}

func TestEXIFOrientation(t *testing.T) {
	jpg := quadrantJPEG(t)
	// The displayed image's corners (top left, top right, bottom left,
	// bottom right) for each orientation, from the EXIF definitions: 6 is
	// turned 90 degrees clockwise for display, 8 counter-clockwise.
	corners := map[uint16]string{
		1: "RGBW", 2: "GRWB", 3: "WBGR", 4: "BWRG",
		5: "RBGW", 6: "BRWG", 7: "WGBR", 8: "GWRB",
	}
	for o := uint16(0); o <= 9; o++ {
		for _, be := range []bool{false, true} {
			b := spliceAfterSOI(jpg, exifAPP1(o, be))
			pix, h, w, err := DecodeImage(b)
			if err != nil {
				t.Fatalf("orientation %d: %v", o, err)
			}
			want, ok := corners[o]
			if !ok {
				want = corners[1] // 0 and 9 are not orientations: ignored
			}
			wh, ww := 8, 16
			if o >= 5 && o <= 8 {
				wh, ww = 16, 8
			}
			if h != wh || w != ww {
				t.Errorf("orientation %d (big endian %v): %dx%d, want %dx%d", o, be, w, h, ww, wh)
				continue
			}
			got := colourName(pix, h, w, 1, 1) + colourName(pix, h, w, w-2, 1) +
				colourName(pix, h, w, 1, h-2) + colourName(pix, h, w, w-2, h-2)
			if got != want {
				t.Errorf("orientation %d (big endian %v): corners %s, want %s", o, be, got, want)
			}
		}
	}
	// The EXIF segment need not come first; other APP segments come before.
	app0 := []byte{0xff, 0xe0, 0, 7, 'J', 'F', 'I', 'F', 0}
	pix, h, w, err := DecodeImage(spliceAfterSOI(jpg, app0, exifAPP1(6, true)))
	if err != nil || h != 16 || w != 8 || colourName(pix, h, w, 1, 1) != "B" {
		t.Errorf("EXIF after APP0: %dx%d, %v", w, h, err)
	}
	// A dataset sample: the image is turned, the label (a PNG) is not, so a
	// label drawn on the displayed image fits.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "images", "a.jpg"), spliceAfterSOI(jpg, exifAPP1(8, false)))
	writeFile(t, filepath.Join(dir, "labels", "a.png"), encodePNG(t, grayLabel(8, 16, func(x, y int) uint8 { return uint8(y / 8) })))
	ds, err := Open(dir, "", Options{NumClasses: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.H != 16 || s.W != 8 || colourName(s.Image, s.H, s.W, 1, 1) != "G" {
		t.Errorf("dataset sample %dx%d", s.W, s.H)
	}
}

// TestOrientInverse turns random planes of odd sizes and back: every
// orientation followed by its inverse must give the planes back exactly.
func TestOrientInverse(t *testing.T) {
	inverse := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	for _, sz := range [][2]int{{1, 1}, {1, 5}, {4, 1}, {3, 7}, {6, 5}} {
		h, w := sz[0], sz[1]
		pix := make([]float32, 3*h*w)
		for i := range pix {
			pix[i] = float32(i*7919%1000) + 0.5
		}
		for o := 1; o <= 8; o++ {
			out, oh, ow := orient(pix, h, w, o)
			back, bh, bw := orient(out, oh, ow, inverse[o])
			if bh != h || bw != w || !slices.Equal(back, pix) {
				t.Errorf("%dx%d: orientation %d then %d does not give the image back", w, h, o, inverse[o])
			}
			if o == 1 || o == 2 || o == 3 || o == 4 || o == 5 || o == 7 {
				continue
			}
			// 6 four times (or 8 four times) is the identity too.
			q, qh, qw := pix, h, w
			for k := 0; k < 4; k++ {
				q, qh, qw = orient(q, qh, qw, o)
			}
			if qh != h || qw != w || !slices.Equal(q, pix) {
				t.Errorf("%dx%d: orientation %d four times is not the identity", w, h, o)
			}
		}
	}
}

// TestEXIFMalformed feeds broken EXIF blocks: each must be ignored
// (orientation 1) without a panic.
func TestEXIFMalformed(t *testing.T) {
	good := exifAPP1(6, true)
	set := func(b []byte, off int, v ...byte) []byte {
		b = slices.Clone(b)
		copy(b[off:], v)
		return b
	}
	// Offsets in good: 0 marker, 2 length, 4 "Exif\0\0", 10 TIFF header
	// (byte order, 42, IFD offset at 14), 18 entry count, 20 first entry,
	// 32 orientation entry (type at 34, count at 36, value at 40).
	for _, tc := range []struct {
		name string
		seg  []byte
	}{
		{"bad byte order", set(good, 10, 'X', 'X')},
		{"bad magic", set(good, 12, 0, 43)},
		{"IFD offset past the end", set(good, 14, 0xff, 0xff, 0xff, 0xff)},
		{"IFD offset at the end", set(good, 14, 0, 0, 0, byte(len(good)-10))},
		{"huge entry count, no orientation", set(set(good, 18, 0xff, 0xff), 32, 0x01, 0x13)},
		{"wrong type", set(good, 34, 0, 7)},
		{"count 2", set(good, 36, 0, 0, 0, 2)},
		{"value 0", set(good, 40, 0, 0)},
		{"value 200", set(good, 40, 0, 200)},
		{"segment length 0", set(good, 2, 0, 0)},
		{"segment length 1", set(good, 2, 0, 1)},
		{"segment length past the end", set(good, 2, 0xff, 0xff)},
		{"not Exif", set(good, 4, 'E', 'x', 'i', 'g')},
		{"short TIFF", good[:16]},
	} {
		b := append([]byte{0xff, 0xd8}, tc.seg...)
		if tc.name != "short TIFF" {
			b = append(b, 0xff, 0xd9)
		} else {
			b[5] = byte(len(tc.seg) - 2) // a consistent but short segment
		}
		if o := jpegOrientation(b); o != 1 {
			t.Errorf("%s: orientation %d", tc.name, o)
		}
	}
	// Every truncation of a valid file.
	file := append(append([]byte{0xff, 0xd8}, good...), 0xff, 0xd9)
	if o := jpegOrientation(file); o != 6 {
		t.Fatalf("valid block: orientation %d", o)
	}
	for n := range file {
		if o := jpegOrientation(file[:n]); o != 1 && o != 6 {
			t.Errorf("truncated to %d bytes: orientation %d", n, o)
		}
	}
	// A broken block in a real JPEG: decoded as stored.
	jpg := quadrantJPEG(t)
	pix, h, w, err := DecodeImage(spliceAfterSOI(jpg, set(good, 14, 0xff, 0xff, 0xff, 0xff)))
	if err != nil || h != 8 || w != 16 || colourName(pix, h, w, 1, 1) != "R" {
		t.Errorf("broken EXIF in a JPEG: %dx%d, %v", w, h, err)
	}
}

// FuzzJPEGOrientation checks that any bytes give an orientation in 1..8
// and no panic.
func FuzzJPEGOrientation(f *testing.F) {
	for _, o := range []uint16{1, 3, 6, 8} {
		f.Add(append([]byte{0xff, 0xd8}, exifAPP1(o, o%2 == 0)...))
	}
	f.Add([]byte{0xff, 0xd8, 0xff, 0xff, 0xff, 0xe1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := jpegOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

// orientRef is the plain reference for orient: for every output pixel it
// names the source pixel as the EXIF definitions say.
func orientRef(pix []float32, h, w, o int) ([]float32, int, int) {
	oh, ow := h, w
	if o >= 5 && o <= 8 {
		oh, ow = w, h
	}
	src := func(x, y int) (sx, sy int) {
		switch o {
		case 2:
			return w - 1 - x, y
		case 3:
			return w - 1 - x, h - 1 - y
		case 4:
			return x, h - 1 - y
		case 5:
			return y, x
		case 6:
			return y, h - 1 - x
		case 7:
			return w - 1 - y, h - 1 - x
		case 8:
			return w - 1 - y, x
		}
		return x, y
	}
	out := make([]float32, len(pix))
	for c := 0; c < 3; c++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				sx, sy := src(x, y)
				out[c*oh*ow+y*ow+x] = pix[c*h*w+sy*w+sx]
			}
		}
	}
	return out, oh, ow
}

func TestOrientRef(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {2, 9}, {7, 3}, {8, 8}} {
		h, w := sz[0], sz[1]
		pix := make([]float32, 3*h*w)
		for i := range pix {
			pix[i] = float32(i)
		}
		for o := 0; o <= 9; o++ {
			got, gh, gw := orient(pix, h, w, o)
			want, wh, ww := orientRef(pix, h, w, o)
			if gh != wh || gw != ww || !slices.Equal(got, want) {
				t.Errorf("%dx%d orientation %d: differs from the reference", w, h, o)
			}
		}
	}
}

// BenchmarkOrient measures turning a decoded image by 90 degrees against
// the reference.
func BenchmarkOrient(b *testing.B) {
	for _, sz := range benchSizes {
		pix := make([]float32, 3*sz.h*sz.w)
		for i := range pix {
			pix[i] = float32(i % 251)
		}
		b.Run(sz.name+"/fast", func(b *testing.B) {
			for b.Loop() {
				orient(pix, sz.h, sz.w, 6)
			}
		})
		b.Run(sz.name+"/ref", func(b *testing.B) {
			for b.Loop() {
				orientRef(pix, sz.h, sz.w, 6)
			}
		})
	}
}
