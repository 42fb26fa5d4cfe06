package train

import "testing"

func TestDefaultCrop(t *testing.T) {
	for _, c := range []struct {
		sh, sw, h, w int
		want         [2]int
	}{
		{0, 0, 1024, 2048, [2]int{512, 512}},
		{0, 0, 64, 128, [2]int{64, 64}},
		{0, 0, 375, 500, [2]int{352, 352}},
		{0, 0, 500, 375, [2]int{352, 352}},
		{0, 0, 40, 90, [2]int{32, 32}},
		{0, 0, 20, 90, [2]int{20, 20}},
		{512, 1024, 64, 128, [2]int{512, 1024}},
		{0, 96, 200, 300, [2]int{192, 96}},
	} {
		if got := DefaultCrop(c.sh, c.sw, c.h, c.w); got != c.want {
			t.Errorf("DefaultCrop(%d, %d, %d, %d) = %v, want %v", c.sh, c.sw, c.h, c.w, got, c.want)
		}
	}
}

func TestNeedsDefaultCrop(t *testing.T) {
	scaled := [2]float64{0.5, 2}
	none := [2]float64{1, 1}
	for _, c := range []struct {
		name         string
		rc           Config
		sh, sw, h, w int
		want         bool
	}{
		{"scale, batch 2", Config{Scale: scaled, Batch: 2}, 0, 0, 64, 128, true},
		{"scale, batch 1", Config{Scale: scaled, Batch: 1}, 0, 0, 64, 128, false},
		{"no scale, batch 2", Config{Scale: none, Batch: 2}, 0, 0, 64, 128, false},
		{"crop given", Config{Scale: scaled, Batch: 2, Crop: [2]int{32, 32}}, 0, 0, 64, 128, false},
		{"feature cache", Config{Scale: scaled, Batch: 2, CacheFeatures: true}, 0, 0, 64, 128, false},
		{"fixed size, image of that size", Config{Scale: none, Batch: 2}, 64, 128, 64, 128, false},
		{"fixed size, another image size", Config{Scale: none, Batch: 1}, 64, 64, 64, 128, true},
		{"fixed size, scale, batch 1", Config{Scale: scaled, Batch: 1}, 64, 128, 64, 128, true},
	} {
		if got := needsDefaultCrop(&c.rc, c.sh, c.sw, c.h, c.w); got != c.want {
			t.Errorf("%s: needsDefaultCrop %v, want %v", c.name, got, c.want)
		}
	}
}
