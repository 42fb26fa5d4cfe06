package data

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestADE20KClasses(t *testing.T) {
	if len(ADE20KClasses) != 150 {
		t.Fatalf("%d classes, want 150", len(ADE20KClasses))
	}
	seen := map[string]int{}
	for i, c := range ADE20KClasses {
		if c == "" || strings.TrimSpace(c) != c {
			t.Errorf("class %d is %q", i, c)
		}
		if j, dup := seen[c]; dup {
			t.Errorf("%q at %d and %d", c, j, i)
		}
		seen[c] = i
	}
	// Spot checks against the benchmark's objectInfo150 table (label value
	// = index + 1).
	for v, name := range map[int]string{1: "wall", 3: "sky", 13: "person", 21: "car", 77: "boat", 150: "flag"} {
		if ADE20KClasses[v-1] != name {
			t.Errorf("label value %d is %q, want %q", v, ADE20KClasses[v-1], name)
		}
	}
}

func TestADE20K(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "ADEChallengeData2016")
	raw := []uint8{0, 1, 2, 150, 255, 77}
	want := []int32{255, 0, 1, 149, 255, 76}
	for _, split := range []string{"training", "validation"} {
		for _, n := range []string{"ADE_" + split + "_00000001", "ADE_" + split + "_00000002"} {
			writeFile(t, filepath.Join(root, "images", split, n+".jpg"), encodeJPEG(t, rgbImage(len(raw), 2, 9)))
			writeFile(t, filepath.Join(root, "annotations", split, n+".png"),
				encodePNG(t, grayLabel(len(raw), 2, func(x, y int) uint8 { return raw[x] })))
		}
	}
	for _, tc := range []struct {
		dir, format string
		o           Options
		first       string
	}{
		{root, "ade20k", Options{}, "ADE_training_00000001"},
		{parent, "", Options{Split: "val"}, "ADE_validation_00000001"},
		{root, "", Options{Split: "validation", Ignore: 200}, "ADE_validation_00000001"},
	} {
		ds, err := Open(tc.dir, tc.format, tc.o)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if ds.Len() != 2 || ds.Name(0) != tc.first || len(ds.Classes()) != 150 {
			t.Fatalf("%+v: %d samples, first %s, %d classes", tc, ds.Len(), ds.Name(0), len(ds.Classes()))
		}
		s, err := ds.Load(0)
		if err != nil {
			t.Fatal(err)
		}
		checkLabels(t, fmt.Sprintf("%+v: stored %v", tc, raw), s.Label[:len(raw)], want, tc.o.IgnoreLabel())
	}
	// A value beyond 150 (other than 255) is an error naming it.
	writeFile(t, filepath.Join(root, "annotations", "training", "ADE_training_00000002.png"),
		encodePNG(t, grayLabel(len(raw), 2, func(x, y int) uint8 { return 151 })))
	ds, err := Open(root, "ade20k", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Load(1); err == nil || !strings.Contains(err.Error(), "value 151") {
		t.Errorf("label 151: %v", err)
	}
	if _, err := Open(root, "ade20k", Options{Split: "test"}); err == nil || !strings.Contains(err.Error(), "test") {
		t.Errorf("missing split: %v", err)
	}
}
