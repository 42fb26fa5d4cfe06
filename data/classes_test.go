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
