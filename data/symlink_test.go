package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func symlink(t *testing.T, target, link string) {
	t.Helper()
	mkdir(t, filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symbolic links unavailable: %v", err)
	}
}

// TestSymlinks builds datasets out of symbolic links: images/ itself, a
// linked sub-folder, linked files, a link back to an ancestor (a loop) and
// a linked Cityscapes city, and expects every image to be listed once.
func TestSymlinks(t *testing.T) {
	store := t.TempDir()
	dir := t.TempDir()
	img := encodePNG(t, rgbImage(3, 2, 1))
	lab := encodePNG(t, grayLabel(3, 2, func(x, y int) uint8 { return 1 }))
	for _, n := range []string{"a", "b"} {
		writeFile(t, filepath.Join(store, "imgs", n+".png"), img)
	}
	for _, n := range []string{"c", "d"} {
		writeFile(t, filepath.Join(store, "extra", n+".png"), img)
	}
	writeFile(t, filepath.Join(store, "loose", "e.png"), img)
	writeFile(t, filepath.Join(store, "loose", "f.png"), img)
	symlink(t, filepath.Join(store, "imgs"), filepath.Join(dir, "images"))
	symlink(t, filepath.Join(store, "extra"), filepath.Join(store, "imgs", "sub"))
	symlink(t, filepath.Join(store, "loose", "e.png"), filepath.Join(store, "imgs", "e.png"))
	symlink(t, "../loose/f.png", filepath.Join(store, "extra", "f.png")) // relative
	symlink(t, "../imgs", filepath.Join(store, "extra", "loop"))         // back to images/
	for _, n := range []string{"a", "b", "e", "sub/c", "sub/d", "sub/f"} {
		writeFile(t, filepath.Join(dir, "labels", n+".png"), lab)
	}
	want := []string{"a", "b", "e", "sub/c", "sub/d", "sub/f"}
	ds, err := Open(dir, "", Options{NumClasses: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 0; i < ds.Len(); i++ {
		names = append(names, ds.Name(i))
	}
	if !slices.Equal(names, want) {
		t.Errorf("folder through links: names %v, want %v", names, want)
	}
	if _, err := ds.Load(len(names) - 1); err != nil {
		t.Error(err)
	}
	files, err := ListImages(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("ListImages through links: %v", files)
	}
	// A link to nothing is an error naming it.
	symlink(t, filepath.Join(store, "nowhere"), filepath.Join(store, "imgs", "dangling.png"))
	if _, err := Open(dir, "", Options{NumClasses: 2}); err == nil || !strings.Contains(err.Error(), "dangling.png") {
		t.Errorf("dangling link: %v", err)
	}

	// Cityscapes with one city linked in from elsewhere.
	cs := t.TempDir()
	for _, city := range []string{"aachen", "bonn"} {
		root := cs
		if city == "bonn" {
			root = store
		}
		writeFile(t, filepath.Join(root, "leftImg8bit", "train", city, city+"_000000_000019_leftImg8bit.png"), img)
		writeFile(t, filepath.Join(cs, "gtFine", "train", city, city+"_000000_000019_gtFine_labelTrainIds.png"), lab)
	}
	symlink(t, filepath.Join(store, "leftImg8bit", "train", "bonn"), filepath.Join(cs, "leftImg8bit", "train", "bonn"))
	ds, err = Open(cs, "cityscapes", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 || ds.Name(1) != "bonn/bonn_000000_000019" {
		t.Errorf("cityscapes with a linked city: %d samples", ds.Len())
	}
}
