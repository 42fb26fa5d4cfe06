package data

import (
	"fmt"
	"slices"
	"testing"
)

// memDataset makes samples on the fly: sample i has label (i+j) % 3 at
// pixel j, and the samples in fail do not load.
type memDataset struct {
	n    int
	fail map[int]bool
}

func (d *memDataset) Len() int          { return d.n }
func (d *memDataset) Name(i int) string { return fmt.Sprintf("s%03d", i) }
func (d *memDataset) Classes() []string { return []string{"a", "b", "c"} }
func (d *memDataset) Load(i int) (*Sample, error) {
	if d.fail[i] {
		return nil, fmt.Errorf("data: broken sample %d", i)
	}
	s := &Sample{Name: d.Name(i), H: 2, W: 2, Image: make([]float32, 12), Label: make([]int32, 4)}
	for j := range s.Label {
		s.Label[j] = int32((i + j) % 3)
	}
	return s, nil
}

func TestLabelHistogram(t *testing.T) {
	ds := &memDataset{n: 37}
	got, err := LabelHistogram(ds, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, 3)
	for i := 0; i < 37; i++ {
		for j := 0; j < 4; j++ {
			want[(i+j)%3]++
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("histogram %v, want %v", got, want)
	}
	ds.fail = map[int]bool{30: true, 8: true}
	if _, err := LabelHistogram(ds, 3); err == nil {
		t.Error("failing sample not reported")
	}
	// Through LabelLoader on a folder dataset, with ignore pixels.
	dir := t.TempDir()
	makeFolder(t, dir, []string{"a", "b"}, 5, 4, 3, true)
	writeFile(t, dir+"/labels/b.png", encodePNG(t, grayLabel(5, 4, func(x, y int) uint8 {
		if x == 0 {
			return 255
		}
		return 2
	})))
	fd, err := Open(dir, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = LabelHistogram(fd, 3)
	if err != nil {
		t.Fatal(err)
	}
	want = []int64{0, 0, 16}
	for y := 0; y < 4; y++ {
		for x := 0; x < 5; x++ {
			want[(x+y)%3]++
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("folder histogram %v, want %v", got, want)
	}
}
