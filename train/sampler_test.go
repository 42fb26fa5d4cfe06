package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmpseg/lmpseg/data"
)

// TestUniformSamplerUnchanged compares the uniform sampler with the order lmpseg has always
// used, written out plainly: epoch e is rand.NewPCG(seed, e).Perm(n), and the augmentation
// source is SampleRNG(seed, e, idx).
func TestUniformSamplerUnchanged(t *testing.T) {
	for _, c := range []struct {
		n, batch int
		seed     int64
	}{{5, 2, 1}, {7, 3, 42}, {1, 4, -3}, {16, 16, 9}} {
		s := NewUniformSampler(c.n, c.batch, c.seed)
		for it := 0; it < 3*c.n; it++ {
			for k := 0; k < c.batch; k++ {
				g := it*c.batch + k
				epoch := g / c.n
				want := rand.New(rand.NewPCG(uint64(c.seed), uint64(epoch))).Perm(c.n)[g%c.n]
				idx, rng, err := s.Draw(context.Background(), it, k)
				if err != nil || idx != want {
					t.Fatalf("%+v: iteration %d slot %d: sample %d (%v), want %d", c, it, k, idx, err, want)
				}
				if got, want := rng.Uint64(), SampleRNG(c.seed, epoch, want).Uint64(); got != want {
					t.Fatalf("%+v: iteration %d slot %d: augmentation source differs", c, it, k)
				}
			}
		}
	}
}

// testPresence returns a presence matrix of n images over k classes: class 0 in every image,
// class c >= 1 in images i with i%(c+1) == 0, except the last class, which is in none.
func testPresence(n, k int) *ClassPresence {
	p := NewClassPresence(n, k)
	for i := 0; i < n; i++ {
		for c := 0; c < k-1; c++ {
			if i%(c+1) == 0 {
				p.Set(i, c)
				p.Hist[c]++
			}
		}
	}
	return p
}

// wantImageProb is the stated distribution of one draw, computed plainly: (1-mix)/n for every
// image plus mix * w_c/Σw / |images of c| for every class c the image holds.
func wantImageProb(p *ClassPresence, mix float64, w []float64) []float64 {
	var tw float64
	for _, v := range w {
		tw += v
	}
	prob := make([]float64, p.N)
	for i := range prob {
		prob[i] = (1 - mix) / float64(p.N)
		for c := 0; c < p.K; c++ {
			if p.Has(i, c) {
				prob[i] += mix * w[c] / tw / float64(len(p.Images(c)))
			}
		}
	}
	return prob
}

// TestClassSamplerFrequencies draws many slots under a fixed seed and checks that the images, and
// the classes they hold, are drawn with the stated probabilities within five standard errors.
func TestClassSamplerFrequencies(t *testing.T) {
	const n, k, draws = 24, 6, 200000
	// Accuracies fed to the performance sampler at step 0: class 1 perfect (floored), class 2
	// never seen (weight 1), class 5 absent from the data.
	acc := []float64{0.75, 1, math.NaN(), 0.2, 0.5, 0.9}
	perfW := []float64{0.25, PerformanceFloor, 1, 0.8, 0.5, 0}
	for _, c := range []struct {
		name string
		perf bool
		mix  float64
		w    []float64
	}{
		{"class-uniform mix 0.5", false, 0.5, []float64{1, 1, 1, 1, 1, 0}},
		{"class-uniform mix 1", false, 1, []float64{1, 1, 1, 1, 1, 0}},
		{"class-uniform mix 0.2", false, 0.2, []float64{1, 1, 1, 1, 1, 0}},
		{"performance mix 0.5", true, 0.5, perfW},
		{"performance mix 1", true, 1, perfW},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testPresence(n, k)
			s := &ClassSampler{P: p, Seed: 11, Mix: c.mix, Performance: c.perf}
			it := 0
			if c.perf {
				correct, total := make([]int64, k), make([]int64, k)
				for cl, a := range acc {
					if !math.IsNaN(a) {
						total[cl] = 1000
						correct[cl] = int64(math.Round(a * 1000))
					}
				}
				s.Observe(0, correct, total)
				it = 2 // the first iteration whose draws use the state after step 0
				got, err := s.Weights(context.Background(), it)
				if err != nil {
					t.Fatal(err)
				}
				for cl := range got {
					if math.Abs(got[cl]-c.w[cl]) > 1e-12 {
						t.Fatalf("class %d weighs %v, want %v", cl, got[cl], c.w[cl])
					}
				}
			}
			counts := make([]int, n)
			for slot := 0; slot < draws; slot++ {
				idx, _, err := s.Draw(context.Background(), it, slot)
				if err != nil {
					t.Fatal(err)
				}
				counts[idx]++
			}
			want := wantImageProb(p, c.mix, c.w)
			for i, q := range want {
				f := float64(counts[i]) / draws
				if tol := 5 * math.Sqrt(q*(1-q)/draws); math.Abs(f-q) > tol {
					t.Errorf("image %d drawn with frequency %.5f, want %.5f ± %.5f", i, f, q, tol)
				}
			}
			for cl := 0; cl < k; cl++ {
				var q float64
				hits := 0
				for i := 0; i < n; i++ {
					if p.Has(i, cl) {
						q += want[i]
						hits += counts[i]
					}
				}
				f := float64(hits) / draws
				if tol := 5*math.Sqrt(q*(1-q)/draws) + 1e-12; math.Abs(f-q) > tol {
					t.Errorf("class %d: images holding it drawn with frequency %.5f, want %.5f ± %.5f", cl, f, q, tol)
				}
			}
		})
	}
}

// TestPerformanceSamplerLag checks that the draws of iteration it wait for the state after it-1
// steps, that they use exactly it, and that the average follows PerformanceDecay.
func TestPerformanceSamplerLag(t *testing.T) {
	p := testPresence(10, 3)
	s := &ClassSampler{P: p, Seed: 3, Mix: 1, Performance: true}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, it := range []int{0, 1} {
		if _, _, err := s.Draw(done, it, 0); err != nil {
			t.Fatalf("iteration %d needs no observed step: %v", it, err)
		}
	}
	if _, _, err := s.Draw(done, 2, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("iteration 2 before step 0 was observed: %v, want it to wait", err)
	}
	s.Observe(0, []int64{5, 0, 0}, []int64{10, 0, 0})
	s.Observe(1, []int64{10, 3, 0}, []int64{10, 4, 0})
	if _, _, err := s.Draw(done, 3, 0); err != nil {
		t.Fatalf("iteration 3 after steps 0 and 1: %v", err)
	}
	if _, _, err := s.Draw(done, 4, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("iteration 4 before step 2 was observed: %v, want it to wait", err)
	}
	a := s.Accuracy()
	want := []float64{PerformanceDecay*0.5 + (1-PerformanceDecay)*1, 0.75, math.NaN()}
	for c := range want {
		if !(math.Abs(a[c]-want[c]) < 1e-15 || math.IsNaN(a[c]) && math.IsNaN(want[c])) {
			t.Errorf("class %d: running accuracy %v, want %v", c, a[c], want[c])
		}
	}
	w2, _ := s.Weights(done, 2)
	w3, _ := s.Weights(done, 3)
	if w2[0] != 0.5 || math.Abs(w3[0]-(1-want[0])) > 1e-15 || w2[1] != 1 || w3[1] != 0.25 {
		t.Errorf("weights of iterations 2 and 3: %v and %v", w2, w3)
	}
}

// TestClassSamplerStateRoundTrip checks that a sampler restored from MarshalBinary draws what the
// original draws at the next two iterations, and that damaged states are refused.
func TestClassSamplerStateRoundTrip(t *testing.T) {
	p := testPresence(30, 4)
	a := &ClassSampler{P: p, Seed: 5, Mix: 0.7, Performance: true}
	rng := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 9; it++ {
		correct, total := make([]int64, 4), make([]int64, 4)
		for c := range total {
			total[c] = int64(rng.IntN(3) * 50)
			if total[c] > 0 {
				correct[c] = int64(rng.IntN(int(total[c])))
			}
		}
		a.Observe(it, correct, total)
	}
	st, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := &ClassSampler{P: p, Seed: 5, Mix: 0.7, Performance: true}
	if err := restoreSampler(b, st, 9); err != nil {
		t.Fatal(err)
	}
	for _, it := range []int{9, 10} {
		for k := 0; k < 500; k++ {
			x, rx, err1 := a.Draw(context.Background(), it, k)
			y, ry, err2 := b.Draw(context.Background(), it, k)
			if err1 != nil || err2 != nil || x != y || rx.Uint64() != ry.Uint64() {
				t.Fatalf("iteration %d slot %d: %d (%v) and restored %d (%v)", it, k, x, err1, y, err2)
			}
		}
	}
	if err := restoreSampler(b, st, 8); err == nil {
		t.Error("a state of 9 steps restores into a checkpoint of iteration 8")
	}
	if err := restoreSampler(b, nil, 9); err == nil {
		t.Error("no state restores")
	}
	c := &ClassSampler{P: testPresence(30, 5), Performance: true}
	if err := c.UnmarshalBinary(st); err == nil {
		t.Error("a state of 4 classes restores into a sampler of 5")
	}
	for _, n := range []int{0, 8, 20, len(st) - 1} {
		if err := b.UnmarshalBinary(st[:n]); err == nil {
			t.Errorf("a state cut at %d bytes restores", n)
		}
	}
}

// TestCheckSampler covers the accepted names and mixes.
func TestCheckSampler(t *testing.T) {
	for _, c := range []struct {
		name string
		mix  float64
		ok   bool
	}{
		{"", 0, true}, {"uniform", 0, true}, {"class-uniform", 0.5, true}, {"performance", 1, true},
		{"class-uniform", 0, false}, {"performance", 1.5, false}, {"performance", math.NaN(), false}, {"balanced", 0.5, false},
	} {
		if err := CheckSampler(c.name, c.mix); (err == nil) != c.ok {
			t.Errorf("CheckSampler(%q, %v) = %v, want ok %v", c.name, c.mix, err, c.ok)
		}
	}
}

// labelSet is a dataset of label maps only.
type labelSet struct {
	labels [][]int32
	k      int
}

func (d *labelSet) Len() int          { return len(d.labels) }
func (d *labelSet) Name(i int) string { return fmt.Sprintf("img%03d", i) }
func (d *labelSet) Classes() []string { return make([]string, d.k) }
func (d *labelSet) Load(i int) (*data.Sample, error) {
	if d.labels[i] == nil {
		return nil, fmt.Errorf("img%03d: unreadable", i)
	}
	return &data.Sample{Name: d.Name(i), H: 1, W: len(d.labels[i]), Label: d.labels[i], Image: make([]float32, 3*len(d.labels[i]))}, nil
}

// TestClassPresence compares ComputeClassPresence with a count per image and the histogram with
// data.LabelHistogram, and checks the run-folder cache.
func TestClassPresence(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n, k = 37, 70 // more than 64 classes: two words per image
	ds := &labelSet{k: k}
	for i := 0; i < n; i++ {
		lab := make([]int32, 50)
		for j := range lab {
			lab[j] = int32(rng.IntN(k/3) * (1 + i%3))
			if rng.IntN(5) == 0 {
				lab[j] = 255
			}
		}
		ds.labels = append(ds.labels, lab)
	}
	p, err := ComputeClassPresence(ds, k)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := data.LabelHistogram(ds, k)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < k; c++ {
		if p.Hist[c] != hist[c] {
			t.Errorf("class %d: histogram %d, data.LabelHistogram %d", c, p.Hist[c], hist[c])
		}
		var imgs []int32
		for i, lab := range ds.labels {
			has := false
			for _, v := range lab {
				has = has || v == int32(c)
			}
			if has != p.Has(i, c) {
				t.Fatalf("image %d class %d: present %v, want %v", i, c, p.Has(i, c), has)
			}
			if has {
				imgs = append(imgs, int32(i))
			}
		}
		if fmt.Sprint(imgs) != fmt.Sprint(p.Images(c)) {
			t.Errorf("class %d: images %v, want %v", c, p.Images(c), imgs)
		}
	}
	// The cache: written, read back, and recomputed for another key or a damaged file.
	path := filepath.Join(t.TempDir(), PresenceFile)
	key := [32]byte{1}
	if _, err := LoadClassPresence(path, key, ds, k); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	q, ok := unmarshalPresence(b, key)
	if !ok || fmt.Sprint(q.bits, q.Hist) != fmt.Sprint(p.bits, p.Hist) {
		t.Fatal("the cached presence does not read back")
	}
	if _, ok := unmarshalPresence(b, [32]byte{2}); ok {
		t.Error("a presence file is read under another key")
	}
	b[len(b)/2] ^= 1
	if _, ok := unmarshalPresence(b, key); ok {
		t.Error("a damaged presence file is read")
	}
	// A cached file is used as it is: the dataset is not read again.
	ds.labels[3] = nil
	if _, err := LoadClassPresence(path, key, ds, k); err != nil {
		t.Errorf("cached presence not used: %v", err)
	}
	if _, err := LoadClassPresence(path, [32]byte{3}, ds, k); err == nil {
		t.Error("an unreadable label under a new key gives no error")
	}
}

// TestCheckpointSamplerFormat checks that a checkpoint without sampler state is written in the
// version 1 format byte for byte (the legacy files re-encode to themselves) and one with state
// in version 2, which reads back.
func TestCheckpointSamplerFormat(t *testing.T) {
	for _, name := range []string{LastCkpt, BestCkpt} {
		p := filepath.Join("..", "testdata", "legacy", "run", name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := LoadCheckpoint(p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := c.MarshalBinary()
		if !bytes.Equal(got, b) || c.Sampler != nil {
			t.Errorf("%s does not re-encode to its version 1 bytes", name)
		}
		c.Sampler = []byte("state")
		v2, _ := c.MarshalBinary()
		if string(v2[:len(ckptMagic2)]) != ckptMagic2 {
			t.Fatalf("%s with sampler state: header %q", name, v2[:8])
		}
		var d Checkpoint
		if err := d.UnmarshalBinary(v2); err != nil || string(d.Sampler) != "state" || !bytes.Equal(d.Head, c.Head) || !bytes.Equal(d.Optim, c.Optim) || d.Iter != c.Iter {
			t.Errorf("%s with sampler state does not read back: %v", name, err)
		}
		if err := d.UnmarshalBinary(v2[:len(v2)-9]); err == nil {
			t.Errorf("%s: a cut version 2 checkpoint loads", name)
		}
	}
}
