package data

import (
	"bytes"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPalettes(t *testing.T) {
	voc := VOCPalette(256)
	// Published VOC colours.
	for i, want := range map[int]color.RGBA{
		0: {0, 0, 0, 255}, 1: {128, 0, 0, 255}, 2: {0, 128, 0, 255}, 3: {128, 128, 0, 255},
		4: {0, 0, 128, 255}, 8: {64, 0, 0, 255}, 15: {192, 128, 128, 255}, 20: {0, 64, 128, 255},
		255: {224, 224, 192, 255},
	} {
		if voc[i] != want {
			t.Errorf("VOC colour %d = %v, want %v", i, voc[i], want)
		}
	}
	if c := CityscapesPalette(); len(c) != 19 || c[0] != (color.RGBA{128, 64, 128, 255}) || c[18] != (color.RGBA{119, 11, 32, 255}) {
		t.Errorf("cityscapes palette %v", c)
	}
	for _, n := range []int{1, 7, 50, 150} {
		p := DistinctPalette(n)
		seen := map[color.RGBA]bool{}
		for _, c := range p {
			if seen[c] {
				t.Errorf("DistinctPalette(%d) repeats %v", n, c)
			}
			seen[c] = true
		}
		if len(p) != n {
			t.Errorf("DistinctPalette(%d) has %d colours", n, len(p))
		}
	}
	if !slices.Equal(PaletteFor(CityscapesClasses), CityscapesPalette()) || !slices.Equal(PaletteFor(VOCClasses), VOCPalette(21)) ||
		len(PaletteFor(make([]string, 5))) != 5 {
		t.Error("PaletteFor picks the wrong palette")
	}
}

func TestMaskWriters(t *testing.T) {
	dir := t.TempDir()
	h, w := 3, 4
	label := []int32{0, 1, 2, 255, 3, 4, 5, 6, 7, 8, 1, 0}
	p := DistinctPalette(9)
	path := filepath.Join(dir, "color.png")
	if err := WriteColorPNG(path, label, h, w, p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got, gh, gw, err := DecodeLabel(bytes.NewReader(b))
	if err != nil || gh != h || gw != w || !slices.Equal(got, label) {
		t.Fatalf("colour mask does not read back as the label: %v %v", got, err)
	}
	// Big palettes fall back to RGBA.
	m := ColorMask([]int32{299, 5}, 1, 2, DistinctPalette(300))
	if c := m.At(0, 0); c != color.Color(DistinctPalette(300)[299]) {
		t.Errorf("RGBA mask pixel %v", c)
	}
	path = filepath.Join(dir, "label.png")
	if err := WriteLabelPNG(path, label, h, w); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got, _, _, err = DecodeLabel(bytes.NewReader(b))
	if err != nil || !slices.Equal(got, label) {
		t.Fatalf("label PNG reads back as %v, %v", got, err)
	}
	if err := WriteLabelPNG(path, []int32{256}, 1, 1); err == nil {
		t.Error("label 256 written to an 8-bit PNG")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestOverlay(t *testing.T) {
	img := FloatToImage([]float32{100, 200, 10, 20, 30, 40}, 1, 2) // red 100,200; green 10,20; blue 30,40
	mask := ColorMask([]int32{1, 255}, 1, 2, VOCPalette(2))        // (128,0,0) then ignore
	for _, tc := range []struct {
		alpha float64
		want  [2]color.RGBA
	}{
		{0, [2]color.RGBA{{100, 10, 30, 255}, {200, 20, 40, 255}}},
		{1, [2]color.RGBA{{128, 0, 0, 255}, {200, 20, 40, 255}}},
		{0.5, [2]color.RGBA{{114, 5, 15, 255}, {200, 20, 40, 255}}},
	} {
		o, err := Overlay(img, mask, tc.alpha)
		if err != nil {
			t.Fatal(err)
		}
		for x := 0; x < 2; x++ {
			if c := o.RGBAAt(x, 0); c != tc.want[x] {
				t.Errorf("alpha %g pixel %d = %v, want %v", tc.alpha, x, c, tc.want[x])
			}
		}
	}
	if _, err := Overlay(img, image.NewGray(image.Rect(0, 0, 3, 1)), 0.5); err == nil {
		t.Error("size mismatch accepted")
	}
	if _, err := Overlay(img, mask, 2); err == nil {
		t.Error("alpha 2 accepted")
	}
}
