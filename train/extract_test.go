package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/onnx"
)

// blockFeatures is a deterministic stand-in backbone: stride-4 block means of the input's
// channels, C channels (channel c reads input channel c%3, scaled by c+1).
type blockFeatures struct {
	C    int
	mu   sync.Mutex
	runs int
}

func (b *blockFeatures) Run(x []float32, n, h, w int) ([]float32, []int64, error) {
	b.mu.Lock()
	b.runs++
	b.mu.Unlock()
	fh, fw := h/4, w/4
	out := make([]float32, n*b.C*fh*fw)
	for k := 0; k < n; k++ {
		for c := 0; c < b.C; c++ {
			src := x[(k*3+c%3)*h*w:]
			dst := out[(k*b.C+c)*fh*fw:]
			for i := 0; i < fh; i++ {
				for j := 0; j < fw; j++ {
					s := float32(0)
					for di := 0; di < 4; di++ {
						for dj := 0; dj < 4; dj++ {
							s += src[(4*i+di)*w+4*j+dj]
						}
					}
					dst[i*fw+j] = s / 16 * float32(c+1)
				}
			}
		}
	}
	return out, []int64{int64(n), int64(b.C), int64(fh), int64(fw)}, nil
}

// tmpDir is a temporary folder on /dev/shm when there is one: entries are written with fsync,
// which a tmpfs makes cheap without changing the rename semantics under test.
func tmpDir(t *testing.T) string {
	t.Helper()
	root := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		root = "/dev/shm"
	}
	d, err := os.MkdirTemp(root, "lmpseg-train-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func synthSet(t *testing.T, train, val int) string {
	t.Helper()
	dir := filepath.Join(tmpDir(t), "ds")
	if err := synth.Generate(dir, synth.Options{Seed: 5, Train: train, Val: val, H: 32, W: 64}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openSplit(t *testing.T, dir, name string) cacheSplit {
	t.Helper()
	ds, err := data.Open(dir, "", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cacheSplit{name, dir, ds}
}

// readEntries returns the entry files of a cache folder by name.
func readEntries(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func testEntry(c, h, w int, v float32) (*graph.Tensor, []int32) {
	f := graph.NewTensor(1, c, h, w)
	for i := range f.Data {
		f.Data[i] = v + float32(i%97)/8
	}
	lab := make([]int32, 4*h*4*w)
	for i := range lab {
		lab[i] = int32(i % 7)
	}
	return f, lab
}

func TestCacheCheck(t *testing.T) {
	sum, other := [16]byte{1, 2, 3}, [16]byte{9}
	for _, tc := range []struct {
		name        string
		damage      func(path string) error
		sum         [16]byte
		header      EntryState // Check without full
		full        EntryState
		wantDimsOfC int // dims[0] when present
	}{
		{"whole", nil, sum, EntryPresent, EntryPresent, 5},
		{"other content hash", nil, other, EntryStale, EntryStale, 0},
		{"missing", os.Remove, sum, EntryMissing, EntryMissing, 0},
		{"truncated", func(p string) error { return os.Truncate(p, 100) }, sum, EntryStale, EntryStale, 0},
		{"header only", func(p string) error { return os.Truncate(p, 20) }, sum, EntryStale, EntryStale, 0},
		{"older format", func(p string) error { return flipByte(p, 7) }, sum, EntryStale, EntryStale, 0},
		{"flipped feature byte", func(p string) error { return flipByte(p, cacheHeader+3) }, sum, EntryPresent, EntryStale, 5},
		{"flipped checksum", func(p string) error { return flipByte(p, -1) }, sum, EntryPresent, EntryStale, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenFeatureCache(tmpDir(t), "k")
			if err != nil {
				t.Fatal(err)
			}
			f, lab := testEntry(5, 3, 4, 1)
			if err := c.Put("train-x", 2, sum, f, lab, 12, 16); err != nil {
				t.Fatal(err)
			}
			if tc.damage != nil {
				if err := tc.damage(c.path("train-x", 2)); err != nil {
					t.Fatal(err)
				}
			}
			for _, full := range []bool{false, true} {
				want := tc.header
				if full {
					want = tc.full
				}
				st, dims, err := c.Check("train-x", 2, tc.sum, full)
				if err != nil {
					t.Fatalf("full %v: %v", full, err)
				}
				if st != want {
					t.Errorf("full %v: state %v, want %v", full, st, want)
				}
				if st == EntryPresent && dims != [5]int{tc.wantDimsOfC, 3, 4, 12, 16} {
					t.Errorf("full %v: dims %v, want [%d 3 4 12 16]", full, dims, tc.wantDimsOfC)
				}
				// A full Check agrees with Get, which training uses.
				if full {
					_, _, _, _, ok, err := c.Get("train-x", 2, tc.sum)
					if err != nil || ok != (st == EntryPresent) {
						t.Errorf("Get: ok %v, err %v; Check says %v", ok, err, st)
					}
				}
			}
		})
	}
}

func flipByte(path string, at int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x5a
	return os.WriteFile(path, b, 0o644)
}

// Entries written by one process while another reads them: the reader sees the whole old entry,
// the whole new one or none, never a mixture or a prefix. The writer is this test binary run
// again with LMPSEG_CACHE_WRITER set (TestCacheWriterProcess).
func TestCacheAtomicAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := tmpDir(t)
	const rounds = 150
	want := map[string]bool{}
	size := 0
	ref, err := OpenFeatureCache(tmpDir(t), "ref")
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 2; v++ {
		f, lab := writerEntry(v)
		if err := ref.Put("train-x", v, writerSum(v), f, lab, 4*f.H, 4*f.W); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(ref.path("train-x", v))
		if err != nil {
			t.Fatal(err)
		}
		want[string(b)] = true
		size = len(b)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCacheWriterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LMPSEG_CACHE_WRITER="+dir, "LMPSEG_CACHE_ROUNDS="+strconv.Itoa(rounds))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c := &FeatureCache{Dir: filepath.Join(dir, "k")}
	path := c.path("train-x", 0)
	reads, whole := 0, 0
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer: %v\n%s", err, out.String())
			}
			finished = true
		default:
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		reads++
		if !want[string(b)] {
			t.Fatalf("read %d: %d bytes that are neither entry (each of %d bytes)", reads, len(b), size)
		}
		whole++
		// Get reads the file again, perhaps another version of it: whole, or an error.
		if _, _, _, _, _, err := c.Get("train-x", 0, writerSum(0)); err != nil {
			t.Fatal(err)
		}
	}
	if whole == 0 {
		t.Fatal("the reader never saw an entry")
	}
	if tmps, _ := filepath.Glob(filepath.Join(c.Dir, ".*.tmp-*")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	t.Logf("%d reads, all whole", reads)
}

// writerEntry is entry v (0 or 1) of the writer process: about 1 MB, so that a write that is not
// atomic would be seen half done.
func writerEntry(v int) (*graph.Tensor, []int32) { return testEntry(64, 64, 64, float32(10*v)) }

func writerSum(v int) [16]byte { return [16]byte{byte(v + 1), 42} }

// TestCacheWriterProcess is the writer of TestCacheAtomicAcrossProcesses; it does nothing in an
// ordinary run.
func TestCacheWriterProcess(t *testing.T) {
	dir := os.Getenv("LMPSEG_CACHE_WRITER")
	if dir == "" {
		t.Skip("the writer process of TestCacheAtomicAcrossProcesses")
	}
	rounds, _ := strconv.Atoi(os.Getenv("LMPSEG_CACHE_ROUNDS"))
	c, err := OpenFeatureCache(dir, "k")
	if err != nil {
		t.Fatal(err)
	}
	var f [2]*graph.Tensor
	var lab [2][]int32
	for v := range f {
		f[v], lab[v] = writerEntry(v)
	}
	for r := 0; r < rounds; r++ {
		v := r % 2
		if err := c.Put("train-x", 0, writerSum(v), f[v], lab[v], 4*f[v].H, 4*f[v].W); err != nil {
			t.Fatal(err)
		}
	}
}

// Shards extracted at once into one folder give the entries of one unsharded extraction, and
// those are the entries that CachedSource writes itself on misses, byte for byte.
func TestExtractShards(t *testing.T) {
	ds := synthSet(t, 7, 3)
	pre := data.ImageNet
	splits := func() []cacheSplit {
		return []cacheSplit{openSplit(t, filepath.Join(ds, "train"), "train-a"), openSplit(t, filepath.Join(ds, "val"), "val-b")}
	}
	open := func(t *testing.T) *FeatureCache {
		c, err := OpenFeatureCache(tmpDir(t), "k")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	whole := open(t)
	st, err := extract(context.Background(), whole, splits(), metrics.Whole, &blockFeatures{C: 6}, pre, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Images != 10 || st.Written != 10 || st.Present != 0 {
		t.Fatalf("whole extraction: %+v, want 10 images written", st)
	}
	want := readEntries(t, whole.Dir)
	if len(want) != 10 {
		t.Fatalf("whole extraction wrote %d files, want 10", len(want))
	}

	for _, n := range []int{2, 3, 11} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			c := open(t)
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					_, errs[i] = extract(context.Background(), c, splits(), metrics.Shard{I: i, N: n}, &blockFeatures{C: 6}, pre, nil)
				}(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("shard %d/%d: %v", i, n, err)
				}
			}
			got := readEntries(t, c.Dir)
			if len(got) != len(want) {
				t.Fatalf("%d files, want %d", len(got), len(want))
			}
			for name, b := range want {
				if !bytes.Equal(got[name], b) {
					t.Errorf("%s differs from the unsharded extraction", name)
				}
			}
		})
	}

	t.Run("again", func(t *testing.T) {
		bf := &blockFeatures{C: 6}
		st, err := extract(context.Background(), whole, splits(), metrics.Shard{I: 1, N: 2}, bf, pre, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Shard 1/2 of 7 training and 3 validation images: 3 + 1.
		if st.Images != 4 || st.Present != 4 || st.Written != 0 || bf.runs != 0 {
			t.Fatalf("extracting a complete shard again: %+v and %d backbone runs, want 4 present, none written or run", st, bf.runs)
		}
	})

	t.Run("as training writes them", func(t *testing.T) {
		c := open(t)
		for _, sp := range splits() {
			cs := &CachedSource{DS: sp.ds, Backbone: &blockFeatures{C: 6}, Pre: pre, Cache: c, Split: sp.name, BatchSize: 1}
			for i := 0; i < sp.ds.Len(); i++ {
				if _, _, _, _, _, err := cs.Sample(i); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := readEntries(t, c.Dir)
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Errorf("%s differs from the entry training writes", name)
			}
		}
	})
}

func TestCacheStatus(t *testing.T) {
	ds := synthSet(t, 6, 0)
	trainDir := filepath.Join(ds, "train")
	root := tmpDir(t)
	c, err := OpenFeatureCache(root, "key1")
	if err != nil {
		t.Fatal(err)
	}
	sp := openSplit(t, trainDir, "train-a")
	// Entries 0, 2 and 4 under key1; 1 under another key (another backbone, tensor or
	// preprocessing); 3 and 5 nowhere. Then sample 2's label changes.
	if _, err := extract(context.Background(), c, []cacheSplit{sp}, metrics.Shard{I: 0, N: 2}, &blockFeatures{C: 3}, data.ImageNet, nil); err != nil {
		t.Fatal(err)
	}
	other, err := OpenFeatureCache(root, "key2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := extract(context.Background(), other, []cacheSplit{sp}, metrics.Shard{I: 1, N: 6}, &blockFeatures{C: 3}, data.ImageNet, nil); err != nil {
		t.Fatal(err)
	}
	status := func() SplitStatus {
		t.Helper()
		st, err := cacheStatus(context.Background(), root, "key1", []cacheSplit{openSplit(t, trainDir, "train-a")}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Splits) != 1 {
			t.Fatalf("%d splits", len(st.Splits))
		}
		if (st.Shape != nil) != (st.Splits[0].Present > 0) || st.Shape != nil && fmt.Sprint(st.Shape) != "[1 3 8 16]" {
			t.Errorf("shape %v", st.Shape)
		}
		return st.Splits[0]
	}
	for _, step := range []struct {
		name                    string
		change                  func()
		present, missing, stale int
	}{
		{"as written", func() {}, 3, 2, 1},
		{"a label edited", func() { editLabel(t, sp.ds, trainDir, 2) }, 2, 2, 2},
		{"remaining shards extracted", func() {
			if _, err := extract(context.Background(), c, []cacheSplit{openSplit(t, trainDir, "train-a")}, metrics.Shard{I: 1, N: 2}, &blockFeatures{C: 3}, data.ImageNet, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := extract(context.Background(), c, []cacheSplit{openSplit(t, trainDir, "train-a")}, metrics.Whole, &blockFeatures{C: 3}, data.ImageNet, nil); err != nil {
				t.Fatal(err)
			}
		}, 6, 0, 0},
	} {
		step.change()
		got := status()
		if got.Images != 6 || got.Present != step.present || got.Missing != step.missing || got.Stale != step.stale {
			t.Errorf("%s: %d images, %d present, %d missing, %d stale; want 6, %d, %d, %d", step.name, got.Images, got.Present, got.Missing, got.Stale, step.present, step.missing, step.stale)
		}
	}
}

// editLabel rewrites the label file of sample i of the folder dataset dir with one pixel changed.
func editLabel(t *testing.T, ds data.Dataset, dir string, i int) {
	t.Helper()
	name := ds.Name(i)
	matches, _ := filepath.Glob(filepath.Join(dir, "labels", name+".*"))
	if len(matches) != 1 {
		t.Fatalf("label of %s: %v", name, matches)
	}
	smp, err := ds.Load(i)
	if err != nil {
		t.Fatal(err)
	}
	lab := append([]int32(nil), smp.Label...)
	lab[0] = (lab[0] + 1) % int32(len(ds.Classes()))
	if err := data.WriteLabelPNG(matches[0], lab, smp.H, smp.W); err != nil {
		t.Fatal(err)
	}
	smp2, err := ds.Load(i)
	if err != nil {
		t.Fatal(err)
	}
	if SampleSum(smp2) == SampleSum(smp) {
		t.Fatal("the edited label has the old content hash")
	}
}

// A training job on a complete cache opens no onnxruntime session and takes the head's input
// shape from the cache; on an incomplete one it opens the session up front.
func TestJobBackboneOnCompleteCache(t *testing.T) {
	ds := synthSet(t, 4, 0)
	trainDir := filepath.Join(ds, "train")
	model := filepath.Join("..", "testdata", "models", "tiny_dyn_s4.onnx")
	sha, err := onnx.Sha256(model)
	if err != nil {
		t.Fatal(err)
	}
	root := tmpDir(t)
	rc := &Config{Backbone: model, Data: trainDir, Preprocess: data.ImageNet, CacheFeatures: true, CacheDir: root}
	// The model's first output is the feature tensor when none is named.
	feature, err := defaultFeature(model, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenFeatureCache(root, CacheKey(sha, feature, rc.Preprocess))
	if err != nil {
		t.Fatal(err)
	}
	sp := openSplit(t, trainDir, trainSplit(trainDir))
	if _, err := extract(context.Background(), c, []cacheSplit{sp}, metrics.Shard{I: 0, N: 2}, &blockFeatures{C: 7}, data.ImageNet, nil); err != nil {
		t.Fatal(err)
	}
	var notes []string
	o := Options{Threads: 1, Progress: notesTo(&notes)}
	if !ortAvailable() {
		t.Log("no onnxruntime: the incomplete case is not run")
	} else {
		j, err := openJobBackbone(context.Background(), rc, sha, sp.ds, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		if !j.Opened() {
			t.Error("incomplete cache: the session was not opened")
		}
		j.Close()
	}
	if _, err := extract(context.Background(), c, []cacheSplit{sp}, metrics.Shard{I: 1, N: 2}, &blockFeatures{C: 7}, data.ImageNet, nil); err != nil {
		t.Fatal(err)
	}
	notes = nil
	j, err := openJobBackbone(context.Background(), rc, sha, sp.ds, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.Opened() {
		t.Error("complete cache: the session was opened")
	}
	if j.Feature() != feature {
		t.Errorf("feature %q, want %q", j.Feature(), feature)
	}
	shape, err := j.probe(nil, 32, 64)
	if err != nil || fmt.Sprint(shape) != "[1 7 8 16]" {
		t.Errorf("probe: %v %v, want [1 7 8 16] from the cache", shape, err)
	}
	if len(notes) != 1 || !bytes.Contains([]byte(notes[0]), []byte("4 present, 0 missing, 0 stale of 4")) {
		t.Errorf("notes %q, want one status line", notes)
	}
	if j.Opened() {
		t.Error("the probe opened the session")
	}
	if !ortAvailable() {
		return
	}
	// An entry damaged after the status was taken: reading it opens the session, which computes
	// the features again and rewrites the entry.
	if err := flipByte(c.path(sp.name, 3), cacheHeader+1); err != nil {
		t.Fatal(err)
	}
	cs := &CachedSource{DS: sp.ds, Backbone: j, Pre: rc.Preprocess, Cache: c, Split: sp.name, BatchSize: 1}
	if _, _, _, _, _, err := cs.Sample(3); err != nil {
		t.Fatal(err)
	}
	if !j.Opened() {
		t.Error("a damaged entry was read without opening the session")
	}
	sum, _, err := sampleKey(sp.ds, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, _, err := c.Check(sp.name, 3, sum, true); err != nil || st != EntryPresent {
		t.Errorf("the damaged entry is %v (%v) after the read, want present", st, err)
	}
}

type noteList struct {
	silent
	dst *[]string
}

func (n noteList) Note(format string, args ...any) {
	*n.dst = append(*n.dst, fmt.Sprintf(format, args...))
}

func notesTo(dst *[]string) Progress { return noteList{dst: dst} }

func ortAvailable() bool {
	_, err := onnx.InitRuntime("")
	return err == nil
}

// encodeEntryRef is the plain version of encodeEntry (the format as first written).
func encodeEntryRef(sum [16]byte, feat *graph.Tensor, label []int32, H, W int) []byte {
	var b bytes.Buffer
	b.WriteString(cacheMagic)
	b.Write(sum[:])
	for _, v := range []uint32{uint32(feat.C), uint32(feat.H), uint32(feat.W), uint32(H), uint32(W)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	tmp := make([]byte, 2)
	for _, v := range feat.Data {
		binary.LittleEndian.PutUint16(tmp, f32to16(v))
		b.Write(tmp)
	}
	for _, v := range label {
		binary.LittleEndian.PutUint16(tmp, uint16(v))
		b.Write(tmp)
	}
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes()
}

// sampleSumRef is the plain version of SampleSum.
func sampleSumRef(s *data.Sample) [16]byte {
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, [2]int32{int32(s.H), int32(s.W)})
	binary.Write(h, binary.LittleEndian, s.Image)
	binary.Write(h, binary.LittleEndian, s.Label)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

func randomSample(rng *rand.Rand, h, w int) *data.Sample {
	s := &data.Sample{H: h, W: w, Image: make([]float32, 3*h*w), Label: make([]int32, h*w)}
	for i := range s.Image {
		s.Image[i] = float32(rng.IntN(256))
	}
	for i := range s.Label {
		s.Label[i] = int32(rng.IntN(20))
		if rng.IntN(10) == 0 {
			s.Label[i] = 255
		}
	}
	return s
}

func randomFeatures(rng *rand.Rand, c, h, w int) *graph.Tensor {
	f := graph.NewTensor(1, c, h, w)
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-8, -6e-5, 65504, 65520, 1e9}
	for i := range f.Data {
		if rng.IntN(20) == 0 {
			f.Data[i] = special[rng.IntN(len(special))]
		} else {
			f.Data[i] = float32(rng.NormFloat64() * 4)
		}
	}
	return f
}

// TestFloat16RoundTrip checks f32to16 and f16to32, the cache's storage of features.
func TestFloat16RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in, want float32
	}{
		{0, 0}, {1, 1}, {-2.5, -2.5}, {65504, 65504}, {1e6, float32(math.Inf(1))},
		{5.960464477539063e-08, 5.960464477539063e-08}, {1e-9, 0}, {0.1, 0.0999755859375},
		{1.0009765625, 1.0009765625}, {1.00048828125, 1}, // tie rounds to even
	} {
		if got := f16to32(f32to16(tc.in)); got != tc.want {
			t.Errorf("f16(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(float64(f16to32(f32to16(float32(math.NaN()))))) {
		t.Error("NaN not preserved")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		v := float32(rng.NormFloat64() * 100)
		got := f16to32(f32to16(v))
		if math.Abs(float64(got-v)) > math.Abs(float64(v))/1024 {
			t.Fatalf("f16(%g) = %g: relative error above 2^-10", v, got)
		}
	}
	// Every half value must survive a round trip exactly.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads
		}
		if back := f32to16(f16to32(uint16(h))); back != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f16to32(uint16(h)), back)
		}
	}
}

func TestEncodeEntryMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ c, h, w, H, W int }{{1, 1, 1, 1, 1}, {3, 2, 5, 8, 20}, {81, 8, 16, 64, 128}, {7, 1, 3, 1, 0}} {
		f := randomFeatures(rng, tc.c, tc.h, tc.w)
		lab := randomSample(rng, tc.H, tc.W).Label
		sum := [16]byte{byte(tc.c), 7}
		if got, want := encodeEntry(sum, f, lab, tc.H, tc.W), encodeEntryRef(sum, f, lab, tc.H, tc.W); !bytes.Equal(got, want) {
			t.Errorf("%+v: entry differs from the reference encoding", tc)
		}
	}
}

func TestSampleSumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[[16]byte]bool{}
	// Sizes around the chunk of 1024 values.
	for _, hw := range [][2]int{{0, 0}, {1, 1}, {1, 341}, {1, 342}, {32, 32}, {1, 1025}, {17, 300}} {
		s := randomSample(rng, hw[0], hw[1])
		got, want := SampleSum(s), sampleSumRef(s)
		if got != want {
			t.Errorf("%dx%d: %x, reference %x", hw[0], hw[1], got, want)
		}
		seen[got] = true
	}
	if len(seen) != 7 {
		t.Errorf("%d distinct sums of 7 samples", len(seen))
	}
}

var benchSizes = []struct {
	name          string
	c, h, w, H, W int
}{{"Small", 81, 32, 64, 256, 512}, {"Large", 256, 128, 256, 1024, 2048}}

func BenchmarkEncodeEntry(b *testing.B) {
	for _, sz := range benchSizes {
		rng := rand.New(rand.NewPCG(1, 1))
		f := randomFeatures(rng, sz.c, sz.h, sz.w)
		lab := randomSample(rng, sz.H, sz.W).Label
		for _, impl := range []struct {
			name string
			fn   func([16]byte, *graph.Tensor, []int32, int, int) []byte
		}{{"ref", encodeEntryRef}, {"fast", encodeEntry}} {
			b.Run(sz.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(cacheHeader + 2*len(f.Data) + 2*len(lab) + 4))
				for b.Loop() {
					impl.fn([16]byte{}, f, lab, sz.H, sz.W)
				}
			})
		}
	}
}

func BenchmarkSampleSum(b *testing.B) {
	for _, sz := range benchSizes {
		s := randomSample(rand.New(rand.NewPCG(1, 1)), sz.H, sz.W)
		for _, impl := range []struct {
			name string
			fn   func(*data.Sample) [16]byte
		}{{"ref", sampleSumRef}, {"fast", SampleSum}} {
			b.Run(sz.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(16 * sz.H * sz.W))
				for b.Loop() {
					impl.fn(s)
				}
			})
		}
	}
}

// BenchmarkExtract extracts a synthetic dataset with the stand-in backbone into a cache on tmpfs;
// "decode" is the baseline of loading the same images alone.
func BenchmarkExtract(b *testing.B) {
	for _, sz := range []struct {
		name string
		h, w int
	}{{"Small", 64, 128}, {"Large", 256, 512}} {
		root := b.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			d, err := os.MkdirTemp("/dev/shm", "lmpseg-bench-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(d)
			root = d
		}
		dir := filepath.Join(root, "ds")
		if err := synth.Generate(dir, synth.Options{Seed: 1, Train: 8, Val: 1, H: sz.h, W: sz.w}); err != nil {
			b.Fatal(err)
		}
		ds, err := data.Open(filepath.Join(dir, "train"), "", data.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sz.name+"/decode", func(b *testing.B) {
			for b.Loop() {
				for i := 0; i < ds.Len(); i++ {
					if _, err := ds.Load(i); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*ds.Len())/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(sz.name+"/extract", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				os.RemoveAll(filepath.Join(root, "cache"))
				c, err := OpenFeatureCache(filepath.Join(root, "cache"), "k")
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := extract(context.Background(), c, []cacheSplit{{"train-a", dir, ds}}, metrics.Whole, &blockFeatures{C: 81}, data.ImageNet, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*ds.Len())/b.Elapsed().Seconds(), "images/s")
		})
	}
}
