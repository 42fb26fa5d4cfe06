package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// readTree returns every file under dir keyed by its relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDeterministic(t *testing.T) {
	gen := func(o Options) map[string][]byte {
		dir := t.TempDir()
		if err := Generate(dir, o); err != nil {
			t.Fatal(err)
		}
		return readTree(t, dir)
	}
	base := Options{Seed: 7, Train: 4, Val: 2, H: 64, W: 128}
	a := gen(base)
	if len(a) != 2*(4+2)+2 {
		t.Fatalf("%d files, want %d", len(a), 2*(4+2)+2)
	}
	for _, c := range []struct {
		name    string
		o       Options
		differs bool
	}{
		{"same seed", base, false},
		{"one worker", Options{Seed: 7, Train: 4, Val: 2, H: 64, W: 128, Workers: 1}, false},
		{"five workers", Options{Seed: 7, Train: 4, Val: 2, H: 64, W: 128, Workers: 5}, false},
		{"other seed", Options{Seed: 8, Train: 4, Val: 2, H: 64, W: 128}, true},
	} {
		b := gen(c.o)
		same := len(a) == len(b)
		for k, v := range a {
			if strings.HasSuffix(k, ".txt") {
				continue
			}
			if !bytes.Equal(v, b[k]) {
				same = false
			}
		}
		if same == c.differs {
			t.Errorf("%s: outputs identical = %v, want %v", c.name, same, !c.differs)
		}
	}
	// Image i of a split does not depend on how many images are generated.
	more := gen(Options{Seed: 7, Train: 6, Val: 1, H: 64, W: 128})
	for _, k := range []string{"train/images/0003.png", "train/labels/0003.png", "val/labels/0000.png"} {
		if !bytes.Equal(a[k], more[k]) {
			t.Errorf("%s changed with the split sizes", k)
		}
	}
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, Options{Seed: 3, Train: 2, Val: 1, H: 48, W: 80}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path  string
		model string // "rgb" or "gray"
	}{
		{"train/images/0000.png", "rgb"}, {"train/images/0001.png", "rgb"}, {"val/images/0000.png", "rgb"},
		{"train/labels/0000.png", "gray"}, {"train/labels/0001.png", "gray"}, {"val/labels/0000.png", "gray"},
	} {
		f, err := os.Open(filepath.Join(dir, c.path))
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		im, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if b := im.Bounds(); b.Dx() != 80 || b.Dy() != 48 {
			t.Errorf("%s: %dx%d, want 80x48", c.path, b.Dx(), b.Dy())
		}
		switch im.(type) {
		case *image.Gray:
			if c.model != "gray" {
				t.Errorf("%s: grey image, want %s", c.path, c.model)
			}
		case *image.RGBA:
			if c.model != "rgb" {
				t.Errorf("%s: RGB image, want %s", c.path, c.model)
			}
		default:
			t.Errorf("%s: decoded as %T", c.path, im)
		}
	}
	for _, sp := range []string{"train", "val"} {
		b, err := os.ReadFile(filepath.Join(dir, sp, "classes.txt"))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSpace(string(b)), "\n")
		if strings.Join(got, ",") != strings.Join(Classes[:], ",") {
			t.Errorf("%s/classes.txt = %q", sp, got)
		}
	}
	// The files hold exactly what Scene renders.
	for _, c := range []struct {
		split string
		i     int
	}{{"train", 1}, {"val", 0}} {
		img, lab := Scene(3, c.split, c.i, 48, 80)
		for _, f := range []struct {
			sub string
			pix []uint8
		}{{"images", img.Pix}, {"labels", lab.Pix}} {
			r, err := os.Open(filepath.Join(dir, c.split, f.sub, fmt.Sprintf("%04d.png", c.i)))
			if err != nil {
				t.Fatal(err)
			}
			im, err := png.Decode(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			var got []uint8
			switch m := im.(type) {
			case *image.RGBA:
				got = m.Pix
			case *image.Gray:
				got = m.Pix
			}
			if !bytes.Equal(got, f.pix) {
				t.Errorf("%s/%s/%04d.png differs from Scene", c.split, f.sub, c.i)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "train", "images", "0002.png")); err == nil {
		t.Error("train has a third image")
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{{Train: -1}, {Val: -2}, {H: 16, W: 64}, {H: 64, W: 8}, {Workers: -1}} {
		err := Generate(t.TempDir(), o)
		if err == nil || !strings.HasPrefix(err.Error(), "synth: ") {
			t.Errorf("%+v: error %v, want a synth: error", o, err)
		}
	}
	// A file where a folder must go.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "train"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Generate(dir, Options{Train: 1, Val: 1, H: 32, W: 32}); err == nil {
		t.Error("no error when train is a file")
	}
}

// writeLabels writes a handmade split for Stats.
func writeLabels(t *testing.T, dir, split string, classes []string, labels [][]uint8, w int) {
	t.Helper()
	for _, sub := range []string{"labels", "images"} {
		if err := os.MkdirAll(filepath.Join(dir, split, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, split, "classes.txt"), []byte(strings.Join(classes, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, l := range labels {
		g := image.NewGray(image.Rect(0, 0, w, len(l)/w))
		copy(g.Pix, l)
		f, err := os.Create(filepath.Join(dir, split, "labels", fmt.Sprintf("%04d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, g); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func TestStats(t *testing.T) {
	dir := t.TempDir()
	cls := []string{"a", "b", "c"}
	writeLabels(t, dir, "train", cls, [][]uint8{{0, 0, 1, 255}, {0, 2, 2, 2}}, 2)
	writeLabels(t, dir, "val", cls, [][]uint8{{1, 1, 1, 7, 0, 0}}, 3)
	st, err := Stats(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		split   string
		pixels  []int64
		present []int
		ignored int64
		images  int
	}{
		{"train", []int64{3, 1, 3}, []int{2, 1, 1}, 1, 2},
		{"val", []int64{2, 3, 0}, []int{1, 1, 0}, 1, 1},
	} {
		s := st.Splits[c.split]
		if s == nil {
			t.Fatalf("%s: missing", c.split)
		}
		if fmt.Sprint(s.Pixels) != fmt.Sprint(c.pixels) || fmt.Sprint(s.Present) != fmt.Sprint(c.present) ||
			s.Ignored != c.ignored || s.Images != c.images {
			t.Errorf("%s: got pixels %v present %v ignored %d images %d, want %v %v %d %d",
				c.split, s.Pixels, s.Present, s.Ignored, s.Images, c.pixels, c.present, c.ignored, c.images)
		}
		f := s.Freq()
		for k := range f {
			if want := float64(c.pixels[k]) / float64(s.Total()); f[k] != want {
				t.Errorf("%s: freq[%d] = %g, want %g", c.split, k, f[k], want)
			}
		}
	}

	// Errors: no splits, mismatched classes, a label that is not grey.
	if _, err := Stats(t.TempDir()); err == nil {
		t.Error("no error for an empty folder")
	}
	bad := t.TempDir()
	writeLabels(t, bad, "train", cls, [][]uint8{{0}}, 1)
	writeLabels(t, bad, "val", []string{"a", "b"}, [][]uint8{{0}}, 1)
	if _, err := Stats(bad); err == nil {
		t.Error("no error for classes that differ between splits")
	}
	rgbDir := t.TempDir()
	writeLabels(t, rgbDir, "train", cls, nil, 1)
	f, _ := os.Create(filepath.Join(rgbDir, "train", "labels", "0000.png"))
	png.Encode(f, image.NewRGBA(image.Rect(0, 0, 2, 2)))
	f.Close()
	if _, err := Stats(rgbDir); err == nil || !strings.HasPrefix(err.Error(), "synth: ") {
		t.Errorf("RGB label: error %v", err)
	}
}

// TestLongTail renders the default dataset in memory (Generate writes exactly
// what Scene returns, see TestLayout) and checks its class distribution: a
// Cityscapes-like long tail with every class present in train.
func TestLongTail(t *testing.T) {
	if testing.Short() {
		t.Skip("renders the full default dataset")
	}
	o, err := Options{Seed: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range Splits {
		n := o.Train
		if sp == "val" {
			n = o.Val
		}
		counts := make([][NumClasses + 1]int64, n)
		var wg sync.WaitGroup
		next := make(chan int)
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					_, lab := Scene(o.Seed, sp, i, o.H, o.W)
					for _, v := range lab.Pix {
						counts[i][min(int(v), NumClasses)]++
					}
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		s := SplitStats{Images: n, Pixels: make([]int64, NumClasses), Present: make([]int, NumClasses)}
		for _, c := range counts {
			for k := range NumClasses {
				s.Pixels[k] += c[k]
				if c[k] > 0 {
					s.Present[k]++
				}
			}
			s.Ignored += c[NumClasses]
		}
		if s.Ignored != 0 {
			t.Errorf("%s: %d ignored pixels", sp, s.Ignored)
		}
		f := s.Freq()
		idx := make([]int, len(f))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return f[idx[a]] > f[idx[b]] })
		var table strings.Builder
		for _, k := range idx {
			fmt.Fprintf(&table, "  %-13s %6.2f%%  in %3d images\n", Classes[k], 100*f[k], s.Present[k])
		}
		t.Logf("%s:\n%s", sp, table.String())
		if top := f[idx[0]]; top < 0.20 || top > 0.45 {
			t.Errorf("%s: largest class %s has %.1f%% of the pixels, want 20-45%%", sp, Classes[idx[0]], 100*top)
		}
		if low := f[idx[len(idx)-1]]; low >= 0.005 || low == 0 {
			t.Errorf("%s: rarest class %s has %.3f%% of the pixels, want in (0, 0.5%%)", sp, Classes[idx[len(idx)-1]], 100*low)
		}
		if sp == "train" {
			for k, m := range s.Present {
				if m == 0 {
					t.Errorf("class %s absent from train", Classes[k])
				}
			}
		}
	}
}

func TestSceneAndColorize(t *testing.T) {
	img, lab := Scene(5, "val", 3, 40, 72)
	if img.Bounds().Dx() != 72 || img.Bounds().Dy() != 40 || lab.Bounds() != img.Bounds() {
		t.Fatalf("bounds %v %v", img.Bounds(), lab.Bounds())
	}
	col := Colorize(lab)
	for _, p := range []image.Point{{0, 0}, {71, 39}, {36, 20}} {
		v := lab.GrayAt(p.X, p.Y).Y
		if int(v) >= NumClasses {
			t.Fatalf("label %d at %v", v, p)
		}
		if col.RGBAAt(p.X, p.Y) != Palette[v] {
			t.Errorf("colour at %v: %v, want %v", p, col.RGBAAt(p.X, p.Y), Palette[v])
		}
	}
	// Top-left is sky or a facade, bottom centre is ground.
	if v := lab.GrayAt(36, 39).Y; v != Road && v != Car && v != Person && v != Bicycle && v != Pole && v != Sign {
		t.Errorf("bottom centre labelled %s", Classes[v])
	}
	other, _ := Scene(5, "train", 3, 40, 72)
	if bytes.Equal(other.Pix, img.Pix) {
		t.Error("train and val image 3 are identical")
	}
}
