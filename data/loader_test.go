package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memDataset makes samples on the fly, with random delays, and tracks how
// many samples are alive (loaded and not yet released by the test).
type memDataset struct {
	n     int
	fail  map[int]bool
	delay bool
	live  atomic.Int64
	peak  atomic.Int64
}

func (d *memDataset) Len() int          { return d.n }
func (d *memDataset) Name(i int) string { return fmt.Sprintf("s%03d", i) }
func (d *memDataset) Classes() []string { return []string{"a", "b", "c"} }
func (d *memDataset) release()          { d.live.Add(-1) }
func (d *memDataset) Load(i int) (*Sample, error) {
	if d.delay {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	}
	if d.fail[i] {
		return nil, fmt.Errorf("data: broken sample %d", i)
	}
	v := d.live.Add(1)
	for {
		p := d.peak.Load()
		if v <= p || d.peak.CompareAndSwap(p, v) {
			break
		}
	}
	s := &Sample{Name: d.Name(i), H: 2, W: 2, Image: make([]float32, 12), Label: make([]int32, 4)}
	for j := range s.Label {
		s.Label[j] = int32((i + j) % 3)
		s.Image[j] = float32(i)
	}
	return s, nil
}

// collect runs a stream to the end and returns the names, the first pixel
// values (which carry the transform's random draws) and the errors.
func collect(t *testing.T, l *Loader, epoch int) (names []string, vals []float32, errs []string) {
	t.Helper()
	st := l.Epoch(context.Background(), epoch)
	defer st.Close()
	for {
		s, err := st.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			var se *SampleError
			if !errors.As(err, &se) {
				t.Fatalf("not a SampleError: %v", err)
			}
			errs = append(errs, se.Name+": "+err.Error())
			continue
		}
		names = append(names, s.Name)
		vals = append(vals, s.Image[1])
		if md, ok := l.Data.(*memDataset); ok {
			md.release()
		}
	}
}

func TestLoaderOrderAndDeterminism(t *testing.T) {
	transform := func(s *Sample, r *rand.Rand) error {
		s.Image[1] = float32(r.IntN(1 << 20))
		return nil
	}
	var ref []string
	var refVals []float32
	for _, workers := range []int{1, 2, 7} {
		ds := &memDataset{n: 50, delay: true}
		l := &Loader{Data: ds, Workers: workers, Prefetch: 3, Seed: 42, Shuffle: true, Transform: transform}
		names, vals, errs := collect(t, l, 3)
		if len(errs) > 0 || len(names) != 50 {
			t.Fatalf("workers %d: %d samples, errors %v", workers, len(names), errs)
		}
		order := l.Order(3)
		for i, idx := range order {
			if names[i] != ds.Name(idx) {
				t.Fatalf("workers %d: position %d is %s, want %s", workers, i, names[i], ds.Name(idx))
			}
		}
		if ref == nil {
			ref, refVals = names, vals
			continue
		}
		if !slices.Equal(names, ref) || !slices.Equal(vals, refVals) {
			t.Errorf("workers %d: output differs from 1 worker", workers)
		}
		if p := ds.peak.Load(); p > int64(3+workers+2) {
			t.Errorf("workers %d prefetch 3: %d samples alive at once", workers, p)
		}
	}
	l := &Loader{Data: &memDataset{n: 50}, Seed: 42, Shuffle: true}
	o1, o2 := l.Order(1), l.Order(2)
	if slices.Equal(o1, o2) {
		t.Error("epochs 1 and 2 have the same order")
	}
	if !slices.Equal(o1, l.Order(1)) {
		t.Error("order of epoch 1 not reproducible")
	}
	s := slices.Clone(o1)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			t.Fatal("order is not a permutation")
		}
	}
	l.Shuffle = false
	if o := l.Order(5); o[0] != 0 || o[49] != 49 {
		t.Error("unshuffled order not sequential")
	}
	// The per-sample random source depends on the epoch and the index.
	a, b, c := SampleRand(1, 0, 5).Uint64(), SampleRand(1, 1, 5).Uint64(), SampleRand(1, 0, 6).Uint64()
	if a == b || a == c || a != SampleRand(1, 0, 5).Uint64() {
		t.Error("SampleRand does not separate epochs and indices")
	}
}

func TestLoaderErrorsInOrder(t *testing.T) {
	ds := &memDataset{n: 20, fail: map[int]bool{3: true, 11: true}, delay: true}
	l := &Loader{Data: ds, Workers: 4, Transform: func(s *Sample, r *rand.Rand) error {
		if s.Name == "s007" {
			return errors.New("bad crop")
		}
		return nil
	}}
	names, _, errs := collect(t, l, 0)
	if len(names) != 17 {
		t.Errorf("%d good samples, want 17", len(names))
	}
	want := []string{"s003: data: broken sample 3", "s007: data: transform s007: bad crop", "s011: data: broken sample 11"}
	if !slices.Equal(errs, want) {
		t.Errorf("errors %q, want %q", errs, want)
	}
	// Out-of-range indices are errors too.
	st := l.Stream(context.Background(), []int{0, 99}, 0)
	defer st.Close()
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); err == nil {
		t.Error("index 99 of 20 accepted")
	}
}

func TestLoaderCancel(t *testing.T) {
	ds := &memDataset{n: 1000, delay: true}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Loader{Data: ds, Workers: 3, Prefetch: 2}
	st := l.Epoch(ctx, 0)
	for i := 0; i < 5; i++ {
		if _, err := st.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); st.Close() }()
	wg.Wait()
	if _, err := st.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	// Close before the end, without cancellation.
	st = l.Epoch(context.Background(), 0)
	st.Next()
	st.Close()
	st.Close()
	if _, err := st.Next(); err == nil || err == io.EOF {
		t.Errorf("after close: %v", err)
	}
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

// TestLoaderFolderAugment runs the real pipeline (folder dataset, Augment)
// with one and with three workers and expects identical samples.
func TestLoaderFolderAugment(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := 0; i < 12; i++ {
		names = append(names, fmt.Sprintf("im%02d", i))
	}
	makeFolder(t, dir, names, 9+len(names)%4, 7, 3, true)
	ds, err := Open(dir, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	aug := DefaultAugment(8, 8)
	run := func(workers int) []*Sample {
		l := &Loader{Data: ds, Workers: workers, Prefetch: 2, Seed: 5, Shuffle: true, Transform: aug.Apply}
		st := l.Epoch(context.Background(), 1)
		defer st.Close()
		var out []*Sample
		for {
			s, err := st.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
	a, b := run(1), run(3)
	if len(a) != 12 || len(b) != 12 {
		t.Fatalf("%d and %d samples", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Image, b[i].Image) || !slices.Equal(a[i].Label, b[i].Label) {
			t.Fatalf("sample %d differs between 1 and 3 workers", i)
		}
		if a[i].H != 8 || a[i].W != 8 {
			t.Fatalf("sample %d is %dx%d", i, a[i].W, a[i].H)
		}
	}
}
