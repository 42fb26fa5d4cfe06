package data

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mapillaryFixture is a small config.json in the layout of Mapillary Vistas
// v1.2: a list of labels with name, readable name, colour and whether the
// benchmark evaluates it.
const mapillaryFixture = `{
  "labels": [
    {"color": [165, 42, 42], "instances": true, "readable": "Bird", "name": "animal--bird", "evaluate": true},
    {"color": [0, 0, 90], "instances": false, "readable": "Car Mount", "name": "void--car-mount", "evaluate": false},
    {"color": [128, 64, 128], "instances": false, "readable": "Road", "name": "construction--flat--road", "evaluate": true},
    {"color": [70, 130, 180], "instances": false, "readable": "Sky", "name": "nature--sky", "evaluate": true},
    {"color": [0, 0, 0], "instances": false, "readable": "Unlabeled", "name": "void--unlabeled", "evaluate": false}
  ],
  "version": "1.2",
  "mapping": "public"
}`

func TestMapillary(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.json"), []byte(mapillaryFixture))
	colours := []color.NRGBA{{165, 42, 42, 255}, {0, 0, 90, 255}, {128, 64, 128, 255}, {70, 130, 180, 255}, {0, 0, 0, 255}}
	// Row 0 of every label holds config positions 0..4 (and 255 for the
	// index kinds); the expected classes follow.
	raw := []int{0, 1, 2, 3, 4, 255}
	want := []int32{0, 255, 1, 2, 255, 255}
	w := len(raw)
	colourLab := image.NewNRGBA(image.Rect(0, 0, w-1, 1)) // a colour PNG has no 255
	for x := 0; x < w-1; x++ {
		colourLab.SetNRGBA(x, 0, colours[raw[x]])
	}
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.NRGBA{uint8(i), 7, 7, 255}
	}
	for i, c := range colours {
		pal[i] = c
	}
	indexLab := image.NewPaletted(image.Rect(0, 0, w, 1), pal)
	for x, v := range raw {
		indexLab.Pix[x] = uint8(v)
	}
	grayLab := grayLabel(w, 1, func(x, y int) uint8 { return uint8(raw[x]) })
	for _, split := range []string{"training", "validation"} {
		for i, lab := range []image.Image{colourLab, indexLab, grayLab} {
			key := split[:1] + strings.Repeat("k", 20) + string(rune('a'+i))
			writeFile(t, filepath.Join(dir, split, "images", key+".jpg"), encodeJPEG(t, rgbImage(lab.Bounds().Dx(), 1, 3)))
			writeFile(t, filepath.Join(dir, split, "labels", key+".png"), encodePNG(t, lab))
		}
	}
	for _, tc := range []struct {
		format string
		o      Options
	}{{"mapillary", Options{}}, {"", Options{Split: "val"}}, {"mapillary", Options{Split: "validation", Ignore: 99}}} {
		ds, err := Open(dir, tc.format, tc.o)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if got := ds.Classes(); !slices.Equal(got, []string{"Bird", "Road", "Sky"}) {
			t.Fatalf("%+v: classes %q", tc, got)
		}
		if ds.Len() != 3 {
			t.Fatalf("%+v: %d samples", tc, ds.Len())
		}
		for i, kind := range []string{"colour", "paletted", "gray"} {
			s, err := ds.Load(i)
			if err != nil {
				t.Fatalf("%+v %s: %v", tc, kind, err)
			}
			checkLabels(t, fmt.Sprintf("%+v %s: config labels %v", tc, kind, raw), s.Label, want, tc.o.IgnoreLabel())
		}
	}
	// A colour that no label has, and a value beyond the label list.
	bad := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	bad.SetNRGBA(2, 0, color.NRGBA{1, 2, 3, 255})
	for x := 0; x < 2; x++ {
		bad.SetNRGBA(x, 0, colours[0])
	}
	writeFile(t, filepath.Join(dir, "training", "images", "bad.jpg"), encodeJPEG(t, rgbImage(3, 1, 3)))
	writeFile(t, filepath.Join(dir, "training", "labels", "bad.png"), encodePNG(t, bad))
	writeFile(t, filepath.Join(dir, "training", "images", "big.jpg"), encodeJPEG(t, rgbImage(3, 1, 3)))
	writeFile(t, filepath.Join(dir, "training", "labels", "big.png"), encodePNG(t, grayLabel(3, 1, func(x, y int) uint8 { return 5 })))
	ds, err := Open(dir, "mapillary", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int][]string{0: {"bad.png", "x=2, y=0", "(1, 2, 3)", "config.json"}, 1: {"big.png", "value 5"}} {
		_, err := ds.Load(i)
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("sample %s: error %v lacks %q", ds.Name(i), err, w)
			}
		}
	}
	if _, err := Open(dir, "mapillary", Options{Split: "testing"}); err == nil || !strings.Contains(err.Error(), "testing") {
		t.Errorf("missing split: %v", err)
	}
}

func TestMapillaryBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         string
	}{
		{"not JSON", "{labels: [", "config.json"},
		{"no labels", `{"labels": []}`, "no labels"},
		{"bad colour", `{"labels": [{"name": "a", "color": [1, 2]}]}`, "colour"},
		{"colour out of range", `{"labels": [{"name": "a", "color": [1, 2, 300]}]}`, "colour"},
		{"shared colour", `{"labels": [{"name": "a", "color": [1, 2, 3]}, {"name": "b", "color": [1, 2, 3]}]}`, "share"},
		{"no name", `{"labels": [{"color": [1, 2, 3]}]}`, "no name"},
		{"nothing evaluated", `{"labels": [{"name": "a", "color": [1, 2, 3], "evaluate": false}]}`, "evaluated"},
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "config.json"), []byte(tc.config))
		writeFile(t, filepath.Join(dir, "training", "images", "a.jpg"), encodeJPEG(t, rgbImage(2, 2, 0)))
		writeFile(t, filepath.Join(dir, "training", "labels", "a.png"), encodePNG(t, grayLabel(2, 2, func(x, y int) uint8 { return 0 })))
		_, err := Open(dir, "", Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "data: ") {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
	// Repeated readable names fall back to the unique names.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.json"), []byte(`{"labels": [
		{"name": "x--sign", "readable": "Sign", "color": [1, 2, 3]},
		{"name": "y--sign", "readable": "Sign", "color": [4, 5, 6]}]}`))
	writeFile(t, filepath.Join(dir, "training", "images", "a.jpg"), encodeJPEG(t, rgbImage(2, 2, 0)))
	writeFile(t, filepath.Join(dir, "training", "labels", "a.png"), encodePNG(t, grayLabel(2, 2, func(x, y int) uint8 { return 1 })))
	ds, err := Open(dir, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Classes(); !slices.Equal(got, []string{"x--sign", "y--sign"}) {
		t.Errorf("classes %q", got)
	}
}

// atOnly hides an image's type, so that code takes its generic At path.
type atOnly struct{ image.Image }

// TestColourLabelPaths compares the direct-pixel path of colour mapping with
// the generic one, for opaque RGBA, translucent NRGBA and 16-bit images.
func TestColourLabelPaths(t *testing.T) {
	cm := camvidColours()
	pal := CamVidPalette()
	r := image.Rect(2, 1, 13, 8)
	rgba, nrgba, n64 := image.NewRGBA(r), image.NewNRGBA(r), image.NewNRGBA64(r)
	seed := uint32(3)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			seed = seed*1664525 + 1013904223
			c := pal[seed>>24%uint32(len(pal))]
			rgba.SetRGBA(x, y, c)
			nrgba.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(seed >> 8)})
			n64.SetNRGBA64(x, y, color.NRGBA64{uint16(c.R)<<8 | 0x7f, uint16(c.G) << 8, uint16(c.B) << 8, 0xffff})
		}
	}
	want, _, _, err := colourLabel(atOnly{rgba}, cm)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []image.Image{rgba, nrgba, n64, atOnly{nrgba}} {
		got, h, w, err := colourLabel(img, cm)
		if err != nil {
			t.Fatalf("%T: %v", img, err)
		}
		if h != 7 || w != 11 || !slices.Equal(got, want) {
			t.Errorf("%T: labels differ from the generic path", img)
		}
	}
}
