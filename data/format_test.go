package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// markerFormat is a test layout: a folder holding a file named marker.
func markerFormat(marker string, n int) Format {
	return Format{
		Open: func(dir string, o Options) (Dataset, error) { return &memDataset{n: n}, nil },
		Detect: func(dir string) bool {
			_, err := os.Stat(filepath.Join(dir, marker))
			return err == nil
		},
		Layout: marker,
	}
}

// registerTestFormats registers the test layouts once per test binary, so
// that -count=N works.
var registerTestFormats = sync.OnceFunc(func() {
	RegisterFormat("test-marker", markerFormat("MARKER", 3))
	RegisterFormat("test-empty", markerFormat("EMPTY", 0))
})

func TestRegisterFormat(t *testing.T) {
	registerTestFormats()
	for _, want := range []string{"cityscapes", "folder", "voc", "test-marker", "test-empty"} {
		if !slices.Contains(Formats(), want) {
			t.Errorf("Formats() = %v lacks %s", Formats(), want)
		}
	}
	if !slices.IsSorted(Formats()) {
		t.Errorf("Formats() = %v not sorted", Formats())
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "MARKER"), nil)
	for _, format := range []string{"test-marker", ""} {
		ds, err := Open(dir, format, Options{})
		if err != nil {
			t.Fatalf("format %q: %v", format, err)
		}
		if ds.Len() != 3 {
			t.Errorf("format %q: %d samples from the registered Open", format, ds.Len())
		}
	}
	if got, err := Detect(dir); err != nil || got != "test-marker" {
		t.Errorf("Detect = %q, %v", got, err)
	}
	// Two layouts at once: detection refuses to guess.
	writeFile(t, filepath.Join(dir, "EMPTY"), nil)
	if _, err := Detect(dir); err == nil || !strings.Contains(err.Error(), "test-empty, test-marker") {
		t.Errorf("ambiguous layout: %v", err)
	}
	// Open's checks apply to registered formats too.
	if _, err := Open(dir, "test-empty", Options{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty dataset: %v", err)
	}
	if _, err := Open(dir, "test-marker", Options{Ignore: 1}); err == nil || !strings.Contains(err.Error(), "ignore") {
		t.Errorf("ignore label inside the classes: %v", err)
	}
	for _, tc := range []struct {
		name string
		f    Format
	}{
		{"test-marker", markerFormat("X", 1)},
		{"", markerFormat("X", 1)},
		{"test-nil", Format{Detect: func(string) bool { return false }}},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("RegisterFormat(%q) did not panic", tc.name)
				}
			}()
			RegisterFormat(tc.name, tc.f)
		}()
	}
}

func TestIsImage(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"a.png", true}, {"dir/b.JPG", true}, {"c.jpeg", true}, {"d.Tiff", true}, {"e.webp", true},
		{"f.bmp", true}, {"g.tif", true}, {"h.txt", false}, {"png", false}, {"i.png.bak", false}, {"", false},
	} {
		if got := IsImage(tc.path); got != tc.want {
			t.Errorf("IsImage(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	exts := ImageExts()
	for _, e := range exts {
		if !IsImage("x"+strings.ToUpper(e)) || e != strings.ToLower(e) || !strings.HasPrefix(e, ".") {
			t.Errorf("extension %q", e)
		}
	}
	exts[0] = ".txt"
	if IsImage("a.txt") {
		t.Error("ImageExts returns the table itself")
	}
}
