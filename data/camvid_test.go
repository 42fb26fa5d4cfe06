package data

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"
)

func TestCamVid(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "CamVid")
	raw := []uint8{0, 4, 10, 11, 255, 3}
	want := []int32{0, 4, 10, 255, 255, 3}
	w := len(raw)
	// The same classes as colours (255 has none; black is void).
	colours := []color.NRGBA{{128, 128, 128, 255}, {0, 0, 192, 255}, {0, 128, 192, 255}, {0, 0, 0, 255}, {0, 0, 0, 255}, {128, 64, 128, 255}}
	colourLab := image.NewNRGBA(image.Rect(0, 0, w, 1))
	for x, c := range colours {
		colourLab.SetNRGBA(x, 0, c)
	}
	for _, split := range []string{"train", "val", "test"} {
		writeFile(t, filepath.Join(root, split, "0001TP_006690.png"), encodePNG(t, rgbImage(w, 1, 5)))
		writeFile(t, filepath.Join(root, split+"annot", "0001TP_006690.png"),
			encodePNG(t, grayLabel(w, 1, func(x, y int) uint8 { return raw[x] })))
		writeFile(t, filepath.Join(root, split, "Seq05VD_f00000.png"), encodePNG(t, rgbImage(w, 1, 5)))
		writeFile(t, filepath.Join(root, split+"annot", "Seq05VD_f00000.png"), encodePNG(t, colourLab))
	}
	for _, tc := range []struct {
		dir, format string
		o           Options
	}{{root, "camvid", Options{}}, {parent, "", Options{Split: "val"}}, {root, "", Options{Split: "test", Ignore: 30}}} {
		ds, err := Open(tc.dir, tc.format, tc.o)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if ds.Len() != 2 || len(ds.Classes()) != 11 || ds.Classes()[10] != "Bicyclist" {
			t.Fatalf("%+v: %d samples, classes %v", tc, ds.Len(), ds.Classes())
		}
		for i, kind := range []string{"index", "colour"} {
			s, err := ds.Load(i)
			if err != nil {
				t.Fatalf("%+v %s: %v", tc, kind, err)
			}
			checkLabels(t, fmt.Sprintf("%+v %s", tc, kind), s.Label, want, tc.o.IgnoreLabel())
		}
	}
	if p := PaletteFor(CamVidClasses); len(p) != 11 || p[4] != (color.RGBA{60, 40, 222, 255}) {
		t.Errorf("PaletteFor(CamVidClasses) = %v", p)
	}
	writeFile(t, filepath.Join(root, "trainannot", "0001TP_006690.png"), encodePNG(t, grayLabel(w, 1, func(x, y int) uint8 { return 12 })))
	ds, err := Open(root, "camvid", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Load(0); err == nil || !strings.Contains(err.Error(), "value 12") {
		t.Errorf("label 12: %v", err)
	}
}
