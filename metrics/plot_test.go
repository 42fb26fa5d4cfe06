package metrics

import (
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// plotDir returns where the plot tests write; set LMPSEG_PLOT_DIR to keep
// the PNGs for a look.
func plotDir(t *testing.T) string {
	if d := os.Getenv("LMPSEG_PLOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func checkPNG(t *testing.T, path string, minW, minH int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < minW || b.Dy() < minH {
		t.Errorf("%s is only %dx%d", path, b.Dx(), b.Dy())
	}
	// Not blank: more than a handful of distinct colours.
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("%s has only %d colours", path, len(seen))
	}
	return img
}

var cityNames = []string{"road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
	"vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"}

func TestPlots(t *testing.T) {
	dir := plotDir(t)
	r := rand.New(rand.NewPCG(9, 9))
	k := len(cityNames)
	c := NewConfusion(k)
	for g := 0; g < k; g++ {
		if g == 16 {
			continue // absent
		}
		for p := 0; p < k; p++ {
			n := r.IntN(50)
			if p == g {
				n = 200 + r.IntN(800)
			}
			if p == 16 {
				n = 0
			}
			c.M[g*k+p] = int64(n)
		}
	}
	path := filepath.Join(dir, "confusion.png")
	if err := ConfusionHeatmap(path, c, cityNames); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 400, 400)

	rep := c.Report(cityNames)
	path = filepath.Join(dir, "iou.png")
	if err := IoUBars(path, cityNames, rep.IoUs()); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 400, 300)

	curves := map[string][]XY{}
	for i, name := range []string{"ce", "lmp", "ohem", "focal"} {
		for it := 0; it <= 2000; it += 20 {
			y := (1.5+0.3*float64(i))*math.Exp(-float64(it)/(400+100*float64(i))) + 0.1 + 0.05*r.Float64()
			curves[name] = append(curves[name], XY{float64(it), y})
		}
	}
	curves["ce"] = append(curves["ce"], XY{2020, math.NaN()})
	path = filepath.Join(dir, "loss.png")
	if err := LossCurves(path, curves); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 400, 300)

	grouped := map[string][]float64{}
	for _, name := range []string{"ce", "lmp", "ohem"} {
		v := make([]float64, k)
		for i := range v {
			v[i] = 0.3 + 0.7*r.Float64()
		}
		v[16] = math.NaN()
		grouped[name] = v
	}
	path = filepath.Join(dir, "grouped.png")
	if err := GroupedIoUBars(path, cityNames, grouped); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 400, 300)

	// Bad input.
	if err := ConfusionHeatmap(filepath.Join(dir, "x.png"), c, cityNames[:3]); err == nil {
		t.Error("heatmap with 3 names for 19 classes")
	}
	if err := IoUBars(filepath.Join(dir, "x.png"), cityNames, []float64{1}); err == nil {
		t.Error("bars with 19 names for 1 value")
	}
	if err := LossCurves(filepath.Join(dir, "x.png"), nil); err == nil {
		t.Error("no curves accepted")
	}
	if err := GroupedIoUBars(filepath.Join(dir, "x.png"), nil, map[string][]float64{"a": {1, 2}, "b": {1}}); err == nil {
		t.Error("ragged groups accepted")
	}
	if err := IoUBars(filepath.Join(dir, "missing", "x.png"), nil, []float64{0.5}); err == nil {
		t.Error("unwritable path accepted")
	}
}
