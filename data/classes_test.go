package data

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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
