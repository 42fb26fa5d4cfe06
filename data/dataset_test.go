package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rgbImage returns an image whose pixel (x, y) is (x*10+y, y*10, c).
func rgbImage(w, h int, c uint8) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x*10 + y), uint8(y * 10), c, 255})
		}
	}
	return m
}

func grayLabel(w, h int, f func(x, y int) uint8) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetGray(x, y, color.Gray{f(x, y)})
		}
	}
	return m
}

// checkLabels reports, as what, every pixel of got whose value differs from
// want's, in which 255 stands for the ignore label.
func checkLabels(t *testing.T, what string, got, want []int32, ignore int32) {
	t.Helper()
	for x, v := range got {
		exp := want[x]
		if exp == 255 {
			exp = ignore
		}
		if v != exp {
			t.Errorf("%s: pixel %d -> %d, want %d", what, x, v, exp)
		}
	}
}

// makeFolder writes a folder dataset with the named samples, all w x h,
// labels (x+y) % k.
func makeFolder(t testing.TB, dir string, names []string, w, h, k int, classes bool) {
	for i, n := range names {
		writeFile(t, filepath.Join(dir, "images", n+".png"), encodePNG(t, rgbImage(w, h, uint8(i))))
		writeFile(t, filepath.Join(dir, "labels", n+".png"), encodePNG(t, grayLabel(w, h, func(x, y int) uint8 { return uint8((x + y) % k) })))
	}
	if classes {
		var s strings.Builder
		for c := 0; c < k; c++ {
			s.WriteString("# comment\nc" + string(rune('a'+c)) + "\n\n")
		}
		writeFile(t, filepath.Join(dir, "classes.txt"), []byte(s.String()))
	}
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	makeFolder(t, dir, []string{"b", "a", "sub/c"}, 5, 4, 3, true)
	// A JPEG image with its label.
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, rgbImage(5, 4, 7), &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "images", "d.JPG"), buf.Bytes())
	writeFile(t, filepath.Join(dir, "labels", "d.png"), encodePNG(t, grayLabel(5, 4, func(x, y int) uint8 { return 255 })))
	writeFile(t, filepath.Join(dir, "images", "notes.txt"), []byte("not an image"))

	for _, format := range []string{"folder", ""} {
		ds, err := Open(dir, format, Options{})
		if err != nil {
			t.Fatalf("format %q: %v", format, err)
		}
		if got, want := ds.Classes(), []string{"ca", "cb", "cc"}; !slices.Equal(got, want) {
			t.Errorf("classes %v, want %v", got, want)
		}
		var names []string
		for i := 0; i < ds.Len(); i++ {
			names = append(names, ds.Name(i))
		}
		if want := []string{"a", "b", "d", "sub/c"}; !slices.Equal(names, want) {
			t.Fatalf("names %v, want %v", names, want)
		}
		s, err := ds.Load(1) // "b", written with c = 0
		if err != nil {
			t.Fatal(err)
		}
		if s.H != 4 || s.W != 5 || s.Name != "b" {
			t.Fatalf("sample %s %dx%d", s.Name, s.W, s.H)
		}
		hw := 20
		for y := 0; y < 4; y++ {
			for x := 0; x < 5; x++ {
				i := y*5 + x
				if s.Image[i] != float32(x*10+y) || s.Image[hw+i] != float32(y*10) || s.Image[2*hw+i] != 0 {
					t.Fatalf("pixel (%d,%d) = %v %v %v", x, y, s.Image[i], s.Image[hw+i], s.Image[2*hw+i])
				}
				if s.Label[i] != int32((x+y)%3) {
					t.Fatalf("label (%d,%d) = %d", x, y, s.Label[i])
				}
			}
		}
		s, err = ds.Load(2) // JPEG, all ignore
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range s.Label {
			if v != 255 {
				t.Fatalf("jpeg sample label[%d] = %d", i, v)
			}
		}
		// Quality-100 JPEG: close to the original.
		if d := s.Image[3] - float32(30); d > 10 || d < -10 { // chroma subsampling blurs colour
			t.Errorf("jpeg pixel (3,0) red = %v, want about 30", s.Image[3])
		}
	}
}

func TestFolderClasses(t *testing.T) {
	dir := t.TempDir()
	makeFolder(t, dir, []string{"a"}, 3, 3, 4, false)
	if _, err := Open(dir, "folder", Options{}); err == nil || !strings.Contains(err.Error(), "classes.txt") {
		t.Fatalf("no classes: err = %v", err)
	}
	ds, err := Open(dir, "folder", Options{NumClasses: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Classes(); len(got) != 4 || got[3] != "class3" {
		t.Fatalf("classes %v", got)
	}
	ds, err = Open(dir, "folder", Options{ClassNames: []string{"w", "x", "y", "z"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Classes(); got[2] != "y" {
		t.Fatalf("classes %v", got)
	}
	if _, err := Open(dir, "folder", Options{NumClasses: 3, ClassNames: []string{"a"}}); err == nil {
		t.Fatal("mismatched class names accepted")
	}
	makeFolder(t, dir, []string{"a"}, 3, 3, 4, true)
	if _, err := Open(dir, "folder", Options{NumClasses: 5}); err == nil || !strings.Contains(err.Error(), "classes.txt") {
		t.Fatalf("classes.txt 4 vs 5: err = %v", err)
	}
	if _, err := Open(dir, "folder", Options{Ignore: 2}); err == nil || !strings.Contains(err.Error(), "ignore") {
		t.Fatalf("ignore inside classes: err = %v", err)
	}
	// Custom ignore label: 9 passes, 255 is now an error.
	ds, err = Open(dir, "folder", Options{Ignore: 9})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "labels", "a.png"), encodePNG(t, grayLabel(3, 3, func(x, y int) uint8 { return 9 })))
	if _, err := ds.Load(0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "labels", "a.png"), encodePNG(t, grayLabel(3, 3, func(x, y int) uint8 { return 255 })))
	if _, err := ds.Load(0); err == nil {
		t.Fatal("255 accepted with ignore 9")
	}
}

func TestClassesFile(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
		err        []string // substrings of the error; nil for success
	}{
		{"plain", "road\nsky\n", []string{"road", "sky"}, nil},
		{"BOM", "\ufeffroad\nsky\n", []string{"road", "sky"}, nil},
		{"BOM and CRLF", "\ufeffroad\r\nsky\r\n", []string{"road", "sky"}, nil},
		{"blank trailing lines", "road\nsky\n\n\n  \n", []string{"road", "sky"}, nil},
		{"comments", "# names\nroad\n\n# more\nsky", []string{"road", "sky"}, nil},
		{"duplicate", "road\nsky\n# x\nroad\n", nil, []string{"classes.txt", "road", "lines 1 and 4"}},
		{"duplicate after BOM", "\ufeffcar\nbus\ncar\n", nil, []string{"classes.txt", "car", "lines 1 and 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeFolder(t, dir, []string{"a"}, 3, 2, 2, false)
			writeFile(t, filepath.Join(dir, "classes.txt"), []byte(tc.text))
			ds, err := Open(dir, "folder", Options{})
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := ds.Classes(); !slices.Equal(got, tc.want) {
					t.Fatalf("classes %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: classes %q", ds.Classes())
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCheckSameClasses(t *testing.T) {
	train := []string{"road", "car", "sky"}
	for _, tc := range []struct {
		name string
		val  []string
		want []string // substrings of the error; nil for no error
	}{
		{"same", []string{"road", "car", "sky"}, nil},
		{"swapped", []string{"car", "road", "sky"}, []string{"VAL/classes.txt lists car at 0 but TRAIN/classes.txt at 1", "same class ids"}},
		{"moved", []string{"car", "sky", "road"}, []string{"lists car at 0 but TRAIN/classes.txt at 1"}},
		{"renamed", []string{"road", "auto", "sky"}, []string{"lists auto at 1, which TRAIN/classes.txt does not list", "car"}},
		{"shorter", []string{"road", "car"}, []string{"2 classes", "3"}},
		{"longer", []string{"road", "car", "sky", "bus"}, []string{"4 classes", "3"}},
	} {
		err := CheckSameClasses(tc.val, train, "VAL/classes.txt", "TRAIN/classes.txt")
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "data: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}

// cityscapesIDImage builds a labelIds image whose row y holds the ids.
func TestCityscapes(t *testing.T) {
	dir := t.TempDir()
	ids := []uint8{7, 8, 26, 33, 0, 1, 34, 255, 24, 31}
	want := []int32{0, 1, 13, 18, 255, 255, 255, 255, 11, 16}
	w := len(ids)
	for _, split := range []string{"train", "val"} {
		base := filepath.Join(dir, "leftImg8bit", split, "aachen", "aachen_000000_000019_leftImg8bit.png")
		writeFile(t, base, encodePNG(t, rgbImage(w, 2, 1)))
		writeFile(t, filepath.Join(dir, "gtFine", split, "aachen", "aachen_000000_000019_gtFine_labelIds.png"),
			encodePNG(t, grayLabel(w, 2, func(x, y int) uint8 { return ids[x] })))
		writeFile(t, filepath.Join(dir, "gtFine", split, "aachen", "aachen_000000_000019_gtFine_color.png"),
			encodePNG(t, rgbImage(w, 2, 3)))
	}
	// A second city with trainIds present: those win.
	writeFile(t, filepath.Join(dir, "leftImg8bit", "train", "bonn", "bonn_000001_000019_leftImg8bit.png"), encodePNG(t, rgbImage(w, 2, 1)))
	writeFile(t, filepath.Join(dir, "gtFine", "train", "bonn", "bonn_000001_000019_gtFine_labelIds.png"),
		encodePNG(t, grayLabel(w, 2, func(x, y int) uint8 { return 7 })))
	writeFile(t, filepath.Join(dir, "gtFine", "train", "bonn", "bonn_000001_000019_gtFine_labelTrainIds.png"),
		encodePNG(t, grayLabel(w, 2, func(x, y int) uint8 { return []uint8{3, 255}[y] })))

	for _, tc := range []struct {
		format string
		o      Options
		n      int
	}{{"cityscapes", Options{}, 2}, {"", Options{Split: "val"}, 1}, {"cityscapes", Options{Ignore: 100}, 2}} {
		ds, err := Open(dir, tc.format, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != tc.n || len(ds.Classes()) != 19 || ds.Classes()[18] != "bicycle" {
			t.Fatalf("%+v: %d samples, classes %v", tc, ds.Len(), ds.Classes())
		}
		if ds.Name(0) != "aachen/aachen_000000_000019" {
			t.Errorf("name %q", ds.Name(0))
		}
		s, err := ds.Load(0)
		if err != nil {
			t.Fatal(err)
		}
		ign := tc.o.IgnoreLabel()
		checkLabels(t, fmt.Sprintf("%+v: labelIds %v", tc, ids), s.Label[:w], want, ign)
		if tc.n == 2 {
			s, err := ds.Load(1)
			if err != nil {
				t.Fatal(err)
			}
			if s.Label[0] != 3 || s.Label[w] != ign {
				t.Errorf("trainIds file not used: %v", s.Label)
			}
		}
	}
	if _, err := Open(dir, "cityscapes", Options{Split: "test"}); err == nil || !strings.Contains(err.Error(), "test") {
		t.Errorf("missing split: %v", err)
	}
	if _, err := Open(dir, "cityscapes", Options{NumClasses: 20}); err == nil {
		t.Error("20 classes accepted for cityscapes")
	}
}

func TestCityscapesTrainID(t *testing.T) {
	// The official table, written out independently of cityscapesIDs.
	table := map[int32]int32{7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
		24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
	for id := int32(-1); id < 300; id++ {
		want, ok := table[id]
		if !ok {
			want = 255
		}
		if got := CityscapesTrainID(id, 255); got != want {
			t.Errorf("labelId %d -> %d, want %d", id, got, want)
		}
	}
}

func palettedLabel(w, h int, f func(x, y int) uint8) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette(VOCPaletteColors(256)))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetColorIndex(x, y, f(x, y))
		}
	}
	return m
}

func VOCPaletteColors(n int) []color.Color {
	var c []color.Color
	for _, p := range VOCPalette(n) {
		c = append(c, p)
	}
	return c
}

func makeVOC(t testing.TB, root string, ids []string, lab func(x, y int) uint8) {
	for _, id := range ids {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, rgbImage(6, 4, 9), nil); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "JPEGImages", id+".jpg"), buf.Bytes())
		writeFile(t, filepath.Join(root, "SegmentationClass", id+".png"), encodePNG(t, palettedLabel(6, 4, lab)))
	}
}

func TestVOC(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "VOCdevkit", "VOC2012")
	makeVOC(t, root, []string{"2007_000032", "2007_000033", "2007_000039"}, func(x, y int) uint8 {
		if y == 0 {
			return 255
		}
		return uint8(x + 14)
	})
	writeFile(t, filepath.Join(root, "ImageSets", "Segmentation", "train.txt"), []byte("2007_000032\n2007_000039\n"))
	writeFile(t, filepath.Join(root, "ImageSets", "Segmentation", "val.txt"), []byte("2007_000033\r\n"))
	for _, d := range []string{dir, filepath.Join(dir, "VOCdevkit"), root} {
		for _, tc := range []struct {
			format, split string
			n             int
		}{{"voc", "", 2}, {"", "val", 1}} {
			ds, err := Open(d, tc.format, Options{Split: tc.split})
			if err != nil {
				t.Fatalf("%s: %v", d, err)
			}
			if ds.Len() != tc.n || len(ds.Classes()) != 21 {
				t.Fatalf("%s %+v: %d samples %d classes", d, tc, ds.Len(), len(ds.Classes()))
			}
			s, err := ds.Load(0)
			if err != nil {
				t.Fatal(err)
			}
			for x := 0; x < 6; x++ {
				if s.Label[x] != 255 || s.Label[6+x] != int32(x+14) {
					t.Fatalf("label row: %v", s.Label[:12])
				}
			}
		}
	}
}

func TestDetectNone(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, filepath.Join(dir, "imgs"))
	writeFile(t, filepath.Join(dir, "readme.md"), nil)
	_, err := Open(dir, "", Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{dir, "folder (images/, labels/)", "cityscapes (leftImg8bit/, gtFine/)", "voc (", "imgs/", "readme.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = Open(dir, "cityscapes", Options{})
	if err == nil || !strings.Contains(err.Error(), "cityscapes layout") || strings.Contains(err.Error(), "voc") || !strings.Contains(err.Error(), "imgs/") {
		t.Errorf("explicit cityscapes: %v", err)
	}
	if _, err := Open(dir, "coco", Options{}); err == nil || !strings.Contains(err.Error(), "coco") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "nope"), "", Options{}); err == nil {
		t.Error("missing folder accepted")
	}
}

// TestBadInput checks that every data error is one line naming the file
// and the offending detail.
func TestBadInput(t *testing.T) {
	type setup func(t *testing.T, dir string)
	label := func(name string, img image.Image) setup {
		return func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "labels", name+".png"), encodePNG(t, img))
		}
	}
	for _, tc := range []struct {
		name   string
		setup  setup
		atOpen bool
		want   []string
	}{
		{"label value", label("b", grayLabel(5, 4, func(x, y int) uint8 {
			if x == 3 && y == 2 {
				return 7
			}
			return 1
		})), false, []string{"labels/b.png", "x=3, y=2", "value 7", "0..2", "ignore label 255"}},
		{"16-bit label value", label("b", func() image.Image {
			m := image.NewGray16(image.Rect(0, 0, 5, 4))
			m.SetGray16(4, 1, color.Gray16{1000})
			return m
		}()), false, []string{"labels/b.png", "x=4, y=1", "value 1000"}},
		{"size mismatch", label("b", grayLabel(4, 3, func(x, y int) uint8 { return 0 })), false,
			[]string{"images/b.png", "5x4", "labels/b.png", "4x3"}},
		{"colour label", label("b", rgbImage(5, 4, 200)), false, []string{"labels/b.png", "colour", "x=0, y=0"}},
		{"undecodable image", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "images", "b.png"), []byte("\x89PNG\r\n\x1a\ngarbage"))
		}, false, []string{"decode image", "images/b.png"}},
		{"undecodable label", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "labels", "b.png"), []byte("GIF89a"))
		}, false, []string{"decode label", "labels/b.png"}},
		{"missing label", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "labels", "b.png"))
		}, true, []string{"images/b.png", "no label", "labels/b.png"}},
		{"empty", func(t *testing.T, dir string) {
			for _, n := range []string{"a", "b"} {
				os.Remove(filepath.Join(dir, "images", n+".png"))
			}
		}, true, []string{"empty", "images"}},
		{"empty classes.txt", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "classes.txt"), []byte("\n# none\n"))
		}, true, []string{"classes.txt", "no classes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeFolder(t, dir, []string{"a", "b"}, 5, 4, 3, true)
			tc.setup(t, dir)
			ds, err := Open(dir, "", Options{})
			if !tc.atOpen {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if _, err := ds.Load(0); err != nil {
					t.Fatalf("good sample: %v", err)
				}
				_, err = ds.Load(1)
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "data: ") {
				t.Errorf("error not one prefixed line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(filepath.ToSlash(msg), w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestBadInputVOC(t *testing.T) {
	dir := t.TempDir()
	makeVOC(t, dir, []string{"x1"}, func(x, y int) uint8 { return uint8(21 * (x / 5)) })
	writeFile(t, filepath.Join(dir, "ImageSets", "Segmentation", "train.txt"), []byte("x1\nx2\n"))
	_, err := Open(dir, "voc", Options{})
	if err == nil || !strings.Contains(err.Error(), "x2") {
		t.Fatalf("missing image: %v", err)
	}
	writeFile(t, filepath.Join(dir, "ImageSets", "Segmentation", "train.txt"), []byte("x1\n"))
	ds, err := Open(dir, "voc", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.Load(0)
	if err == nil || !strings.Contains(err.Error(), "x1.png") || !strings.Contains(err.Error(), "x=5, y=0") || !strings.Contains(err.Error(), "value 21") {
		t.Fatalf("palette index 21: %v", err)
	}
	writeFile(t, filepath.Join(dir, "ImageSets", "Segmentation", "train.txt"), []byte("\n"))
	if _, err := Open(dir, "voc", Options{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty list: %v", err)
	}
}

func TestDecodeLabelKinds(t *testing.T) {
	want := func(x, y int) int32 { return int32(x*3 + y) }
	g16 := image.NewGray16(image.Rect(0, 0, 4, 3))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	n64 := image.NewNRGBA64(image.Rect(0, 0, 4, 3))
	for y := 0; y < 3; y++ {
		for x := 0; x < 4; x++ {
			v := uint8(want(x, y))
			g16.SetGray16(x, y, color.Gray16{uint16(v)})
			nrgba.SetNRGBA(x, y, color.NRGBA{v, v, v, 128})
			n64.SetNRGBA64(x, y, color.NRGBA64{uint16(v) + 300, uint16(v) + 300, uint16(v) + 300, 1000})
		}
	}
	for _, tc := range []struct {
		name   string
		img    image.Image
		offset int32
	}{
		{"gray", grayLabel(4, 3, func(x, y int) uint8 { return uint8(want(x, y)) }), 0},
		{"paletted", palettedLabel(4, 3, func(x, y int) uint8 { return uint8(want(x, y)) }), 0},
		{"gray16", g16, 0},
		{"gray nrgba", nrgba, 0},
		{"gray nrgba64", n64, 300},
	} {
		lab, h, w, err := DecodeLabel(bytes.NewReader(encodePNG(t, tc.img)))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if h != 3 || w != 4 {
			t.Errorf("%s: %dx%d", tc.name, w, h)
			continue
		}
		for y := 0; y < 3; y++ {
			for x := 0; x < 4; x++ {
				if lab[y*4+x] != want(x, y)+tc.offset {
					t.Errorf("%s: (%d,%d) = %d", tc.name, x, y, lab[y*4+x])
				}
			}
		}
	}
	old := MaxPixels
	MaxPixels = 10
	defer func() { MaxPixels = old }()
	if _, _, _, err := DecodeLabel(bytes.NewReader(encodePNG(t, g16))); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over MaxPixels: %v", err)
	}
}

func TestImageToFloatFast(t *testing.T) {
	r := image.Rect(1, 2, 18, 13)
	rgba := image.NewRGBA(r)
	nrgba := image.NewNRGBA(r)
	n64 := image.NewNRGBA64(r)
	gray := image.NewGray(r)
	var ycc []*image.YCbCr
	for _, s := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		ycc = append(ycc, image.NewYCbCr(r, s))
	}
	seed := uint32(1)
	rnd := func() uint8 { seed = seed*1664525 + 1013904223; return uint8(seed >> 24) }
	for i := range rgba.Pix {
		rgba.Pix[i] = rnd()
		nrgba.Pix[i] = rnd()
	}
	for i := range n64.Pix {
		n64.Pix[i] = rnd()
	}
	for i := 3; i < len(nrgba.Pix); i += 20 {
		nrgba.Pix[i] = 0 // some fully transparent pixels
		n64.Pix[2*i], n64.Pix[2*i+1] = 0, 0
	}
	for i := 3; i < len(rgba.Pix); i += 4 {
		if i%8 == 3 {
			rgba.Pix[i] = 255 // half opaque, half not
		}
		for j := 1; j <= 3; j++ { // premultiplied: colour <= alpha
			rgba.Pix[i-j] = min(rgba.Pix[i-j], rgba.Pix[i])
		}
	}
	for i := range gray.Pix {
		gray.Pix[i] = rnd()
	}
	imgs := []image.Image{rgba, nrgba, n64, gray}
	for _, m := range ycc {
		for _, p := range [][]uint8{m.Y, m.Cb, m.Cr} {
			for i := range p {
				p[i] = rnd()
			}
		}
		imgs = append(imgs, m)
	}
	for _, m := range imgs {
		got, h, w := ImageToFloat(m)
		if h != 11 || w != 17 {
			t.Fatalf("%T: %dx%d", m, w, h)
		}
		want := make([]float32, len(got))
		imageToFloatRef(want, m)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%T: value %d = %v, reference %v", m, i, got[i], want[i])
			}
		}
	}
}

func TestLoadImageList(t *testing.T) {
	dir := t.TempDir()
	makeFolder(t, dir, []string{"b", "a", "sub/c"}, 5, 4, 3, false)
	writeFile(t, filepath.Join(dir, "images", "x.txt"), []byte("no"))
	got, err := ListImages(filepath.Join(dir, "images"), filepath.Join(dir, "labels", "a.png"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"images/a.png", "images/b.png", "images/sub/c.png", "labels/a.png"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range got {
		if rel, _ := filepath.Rel(dir, got[i]); filepath.ToSlash(rel) != want[i] {
			t.Errorf("image %d = %s, want %s", i, rel, want[i])
		}
	}
	if _, err := ListImages(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing path accepted")
	}
	mkdir(t, filepath.Join(dir, "empty"))
	if _, err := ListImages(filepath.Join(dir, "empty")); err == nil {
		t.Error("empty folder accepted")
	}
	s, err := LoadImage(got[1])
	if err != nil || s.Name != "b" || s.H != 4 || s.W != 5 || s.Label != nil || s.Image[5] != 1 {
		t.Fatalf("LoadImage: %+v %v", s, err)
	}
	if _, err := LoadImage(filepath.Join(dir, "images", "x.txt")); err == nil || !strings.Contains(err.Error(), "x.txt") {
		t.Errorf("text file as image: %v", err)
	}
}
