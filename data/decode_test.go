package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// rawPNG builds a non-interlaced PNG of the given bit depth and colour type
// from one sample value per pixel (vals[y][x], below 1<<depth), packing
// samples into bytes as the PNG specification says. plte and trns, when
// set, are written as the PLTE and tRNS chunks.
func rawPNG(t testing.TB, depth, colorType uint8, vals [][]int, plte, trns []byte) []byte {
	t.Helper()
	h, w := len(vals), len(vals[0])
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		buf.Write(n[:])
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		buf.WriteString(typ)
		buf.Write(data)
		binary.BigEndian.PutUint32(n[:], c.Sum32())
		buf.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, colorType
	chunk("IHDR", ihdr)
	if plte != nil {
		chunk("PLTE", plte)
	}
	if trns != nil {
		chunk("tRNS", trns)
	}
	var raw bytes.Buffer
	for _, row := range vals {
		raw.WriteByte(0) // filter type None
		line := make([]byte, (w*int(depth)+7)/8)
		for x, v := range row {
			if depth == 16 {
				binary.BigEndian.PutUint16(line[2*x:], uint16(v))
				continue
			}
			bit := x * int(depth)
			line[bit/8] |= byte(v) << (8 - int(depth) - bit%8)
		}
		raw.Write(line)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return buf.Bytes()
}

// TestDecodeLabelBitDepths checks that the label is the stored sample value
// at every gray bit depth (image/png scales 1-, 2- and 4-bit gray to 0..255)
// and the index at every palette depth.
func TestDecodeLabelBitDepths(t *testing.T) {
	const w, h = 11, 3 // odd width: rows end inside a byte
	for _, tc := range []struct {
		name             string
		depth, colorType uint8
		trns             []byte
	}{
		{"gray 1-bit", 1, 0, nil}, {"gray 2-bit", 2, 0, nil}, {"gray 4-bit", 4, 0, nil},
		{"gray 8-bit", 8, 0, nil}, {"gray 16-bit", 16, 0, nil},
		// With a transparent gray value image/png returns NRGBA pixels.
		{"gray 1-bit tRNS", 1, 0, []byte{0, 1}}, {"gray 2-bit tRNS", 2, 0, []byte{0, 2}},
		{"gray 4-bit tRNS", 4, 0, []byte{0, 5}},
		{"palette 1-bit", 1, 3, nil}, {"palette 2-bit", 2, 3, nil}, {"palette 4-bit", 4, 3, nil},
		{"palette 8-bit", 8, 3, nil}, {"palette 4-bit tRNS", 4, 3, []byte{0, 128, 255}},
	} {
		max := 1<<tc.depth - 1
		if tc.depth == 16 {
			max = 1000
		}
		vals := make([][]int, h)
		for y := range vals {
			vals[y] = make([]int, w)
			for x := range vals[y] {
				vals[y][x] = (x*7 + y*3) % (min(max, 255) + 1)
			}
		}
		vals[1][4] = max
		var plte []byte
		if tc.colorType == 3 {
			plte = make([]byte, 3<<tc.depth)
			for i := range plte {
				plte[i] = byte(i * 37)
			}
		}
		lab, lh, lw, err := DecodeLabel(bytes.NewReader(rawPNG(t, tc.depth, tc.colorType, vals, plte, tc.trns)))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if lh != h || lw != w {
			t.Errorf("%s: %dx%d, want %dx%d", tc.name, lw, lh, w, h)
			continue
		}
	check:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if got := lab[y*w+x]; got != int32(vals[y][x]) {
					t.Errorf("%s: pixel (x=%d, y=%d) = %d, stored %d", tc.name, x, y, got, vals[y][x])
					break check
				}
			}
		}
	}
}

// TestDecodeImageAlpha checks the documented handling of transparency: a
// non-premultiplied image gives its stored colour whatever the alpha, also
// at alpha 0; a premultiplied one is un-premultiplied (alpha 0 gives
// black). PNG files decode to non-premultiplied images.
func TestDecodeImageAlpha(t *testing.T) {
	type px struct{ r, g, b float32 }
	nrgba := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{10, 20, 30, 0})
	nrgba.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128})
	nrgba.SetNRGBA(2, 0, color.NRGBA{1, 2, 3, 255})
	n64 := image.NewNRGBA64(image.Rect(0, 0, 3, 1))
	n64.SetNRGBA64(0, 0, color.NRGBA64{10 << 8, 20 << 8, 30 << 8, 0})
	n64.SetNRGBA64(1, 0, color.NRGBA64{200 << 8, 100 << 8, 50 << 8, 0x8000})
	n64.SetNRGBA64(2, 0, color.NRGBA64{1<<8 | 0xff, 2 << 8, 3 << 8, 0xffff})
	pal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{
		color.NRGBA{10, 20, 30, 0}, color.NRGBA{200, 100, 50, 128}, color.NRGBA{1, 2, 3, 255}})
	pal.Pix = []uint8{0, 1, 2}
	gray := image.NewNRGBA(image.Rect(0, 0, 3, 1)) // gray + alpha PNG
	gray.SetNRGBA(0, 0, color.NRGBA{77, 77, 77, 0})
	gray.SetNRGBA(1, 0, color.NRGBA{5, 5, 5, 9})
	gray.SetNRGBA(2, 0, color.NRGBA{255, 255, 255, 255})
	stored := []px{{10, 20, 30}, {200, 100, 50}, {1, 2, 3}}
	for _, tc := range []struct {
		name string
		img  image.Image
		want []px
	}{
		{"nrgba", nrgba, stored},
		{"nrgba64", n64, stored},
		{"paletted", pal, stored},
		{"gray alpha", gray, []px{{77, 77, 77}, {5, 5, 5}, {255, 255, 255}}},
	} {
		for _, viaPNG := range []bool{false, true} {
			img := tc.img
			if viaPNG {
				var err error
				if img, err = png.Decode(bytes.NewReader(encodePNG(t, tc.img))); err != nil {
					t.Fatal(err)
				}
			}
			got, h, w := ImageToFloat(img)
			ref := make([]float32, len(got))
			imageToFloatRef(ref, img)
			if h != 1 || w != 3 {
				t.Fatalf("%s: %dx%d", tc.name, w, h)
			}
			for x, p := range tc.want {
				if g := (px{got[x], got[3+x], got[6+x]}); g != p {
					t.Errorf("%s (png %v, %T): pixel %d = %v, want %v", tc.name, viaPNG, img, x, g, p)
				}
				if r := (px{ref[x], ref[3+x], ref[6+x]}); r != p {
					t.Errorf("%s (png %v, %T): reference pixel %d = %v, want %v", tc.name, viaPNG, img, x, r, p)
				}
			}
		}
	}
	// Premultiplied: colour divided by alpha, black where alpha is 0.
	rgba := image.NewRGBA(image.Rect(0, 0, 3, 1))
	rgba.Pix = []uint8{0, 0, 0, 0, 64, 32, 0, 128, 1, 2, 3, 255}
	got, _, _ := ImageToFloat(rgba)
	want := []px{{0, 0, 0}, {127, 63, 0}, {1, 2, 3}}
	for x, p := range want {
		if g := (px{got[x], got[3+x], got[6+x]}); g != p {
			t.Errorf("rgba: pixel %d = %v, want %v", x, g, p)
		}
	}
}
