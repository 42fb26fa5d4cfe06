package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
)

// legacyRun is a real run folder written by an earlier lmpseg; the fuzz targets seed from it.
const legacyRun = "../testdata/legacy/run"

func readLegacy(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join(legacyRun, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// fuzzDir returns a folder removed when f ends, in memory (/dev/shm) where there is one: the run
// folder functions sync what they write, which on a disk holds the fuzzer to a few execs a second.
func fuzzDir(f *testing.F) string {
	d, err := os.MkdirTemp("/dev/shm", "lmpseg-train-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// fixCRCs returns a copy of a checkpoint file whose head and file checksums are recomputed, so
// that the fuzzer reaches the decoding behind them. Bytes not laid out as a checkpoint come back
// with only the trailing checksum recomputed, or unchanged when shorter than one.
func fixCRCs(b []byte) []byte {
	b = bytes.Clone(b)
	const pre = len(ckptMagic) + 24
	if len(b) >= pre+8+4 {
		if n := binary.LittleEndian.Uint64(b[pre:]); n >= 4 && n <= uint64(len(b)-pre-8-4) {
			head := b[pre+8 : pre+8+int(n)]
			binary.LittleEndian.PutUint32(head[len(head)-4:], crc32.ChecksumIEEE(head[:len(head)-4]))
		}
	}
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	}
	return b
}

// seedVariants returns b, truncations of it and copies with single bits flipped at spread-out
// offsets.
func seedVariants(b []byte) [][]byte {
	out := [][]byte{b}
	for _, n := range []int{0, 4, len(ckptMagic), len(ckptMagic) + 24, len(b) / 2, len(b) - 4, len(b) - 1} {
		if n >= 0 && n < len(b) {
			out = append(out, b[:n])
		}
	}
	for _, at := range []int{len(ckptMagic), len(ckptMagic) + 8, len(ckptMagic) + 24, len(ckptMagic) + 40, len(b) / 3, len(b) - 5} {
		if at >= 0 && at < len(b) {
			c := bytes.Clone(b)
			c[at] ^= 0x10
			out = append(out, c)
		}
	}
	return out
}

// FuzzConfig checks that any config.json either fails to load or loads into a recipe that
// validates without panicking, is compatible with itself, and survives SaveConfig unchanged.
func FuzzConfig(f *testing.F) {
	cfg := readLegacy(f, ConfigFile)
	f.Add(cfg)
	f.Add(cfg[:len(cfg)/2])
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"loss":{"name":"lmp","p_inf":true}}`,
		`{"head":{"kind":"fcn","in_channels":4,"classes":3,"hidden":2},"lr":0.1,"batch":1,"ckpt_every":1,"iters":1,"scale":[1,1]}`,
		`{"crop":[1],"scale":[1,2,3],"optimizer":{"name":"adamw"},"epochs":-1}`,
		`{"loss":{"name":"wce","class_weighting":"median"}}`, `{"loss":{"name":"topk","options":{"TopK":0}}}`,
		`{"lift":{"from":"feat_s4","lr_mult":0.1,"inputs":["feat_s4","feat_s2"]},"head":{"kind":"lifted"},"iters":0}`,
		`{"lift":{"lr_mult":-1}}`, `{"lift":null}`,
	} {
		f.Add([]byte(s))
	}
	dir, dir2 := fuzzDir(f), fuzzDir(f) // each fuzz worker runs inputs one at a time
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(dir)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		_ = c.Validate()
		if err := Compatible(c, c); err != nil {
			t.Fatalf("a config is not compatible with itself: %v", err)
		}
		if err := SaveConfig(dir2, c); err != nil {
			return // a value JSON cannot hold; SaveConfig reports it
		}
		c2, err := LoadConfig(dir2)
		if err != nil {
			t.Fatalf("config written by SaveConfig does not load: %v", err)
		}
		if err := Compatible(c, c2); err != nil {
			t.Fatalf("config changed by SaveConfig and LoadConfig: %v", err)
		}
	})
}

// TestValidateLargeHead checks that validating a recipe whose head names the largest sizes a spec
// allows does not build a head of that size (it once allocated 144 GiB and died).
func TestValidateLargeHead(t *testing.T) {
	for _, kind := range []string{graph.KindLinear, graph.KindFCN} {
		c := &Config{LR: 0.1, CkptEvery: 1, Batch: 1, Iters: 1, Scale: [2]float64{1, 1},
			Loss: LossConfig{Name: "ce"}, Preprocess: data.ImageNet}
		c.Head = graph.HeadSpec{Kind: kind, InChannels: 1 << 16, Classes: 1 << 16}
		if kind == graph.KindFCN {
			c.Head.Hidden = 1 << 16
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
			t.Errorf("%s: Validate allocated %d MiB", kind, d>>20)
		}
	}
}

// smallCheckpoint returns a checkpoint file of a tiny head of kind with the state of optimiser
// name after one step: a seed that the fuzzer mutates (and minimises) quickly.
func smallCheckpoint(f *testing.F, kind, name string) []byte {
	f.Helper()
	spec := graph.HeadSpec{Kind: kind, InChannels: 1, Classes: 2}
	if kind == graph.KindFCN {
		spec.Hidden = 1
	}
	h, err := graph.NewHead(spec, 1)
	if err != nil {
		f.Fatal(err)
	}
	o, err := NewOptimizer(OptimConfig{Name: name, Momentum: 0.9})
	if err != nil {
		f.Fatal(err)
	}
	o.Step(h.Params(), 0.1)
	p := filepath.Join(f.TempDir(), LastCkpt)
	if err := SaveCheckpoint(p, 1, -1, 0, h, o); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzCheckpoint checks that any checkpoint file either fails to load or decodes into a checkpoint
// that encodes back to the same bytes, whose head round-trips, and whose optimiser state is
// refused or fits the head well enough to take a step. With fix set the checksums are recomputed
// first. Seeds: the legacy run's checkpoints, and tiny ones with truncations and bit flips.
func FuzzCheckpoint(f *testing.F) {
	f.Add(readLegacy(f, BestCkpt), false)
	f.Add(readLegacy(f, LastCkpt), true)
	for _, b := range [][]byte{smallCheckpoint(f, graph.KindLinear, "sgd"), smallCheckpoint(f, graph.KindFCN, "adamw")} {
		for _, v := range seedVariants(b) {
			f.Add(v, false)
			f.Add(v, true)
		}
	}
	dir := fuzzDir(f) // each fuzz worker runs inputs one at a time
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			b = fixCRCs(b)
		}
		p := filepath.Join(dir, LastCkpt)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadCheckpoint(p)
		if err != nil {
			if c != nil {
				t.Fatal("checkpoint returned with an error")
			}
		} else {
			got, err := c.MarshalBinary()
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("checkpoint does not encode back to its bytes (err %v)", err)
			}
		}
		h, hc, err := LoadHead(p)
		if err != nil {
			if h != nil || hc != nil {
				t.Fatal("head returned with an error")
			}
			return
		}
		if c == nil {
			t.Fatal("LoadHead accepts a checkpoint that LoadCheckpoint refuses")
		}
		hb, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded head does not encode: %v", err)
		}
		h2 := new(graph.Head)
		if err := h2.UnmarshalBinary(hb); err != nil {
			t.Fatalf("encoded head does not decode: %v", err)
		}
		if h2.Spec() != h.Spec() {
			t.Fatalf("head spec %+v reads back as %+v", h.Spec(), h2.Spec())
		}
		if hb2, _ := h2.MarshalBinary(); !bytes.Equal(hb, hb2) {
			t.Fatal("head encoding is not stable")
		}
		for _, name := range []string{"sgd", "adamw"} {
			o, err := NewOptimizer(OptimConfig{Name: name, Momentum: 0.9})
			if err != nil {
				t.Fatal(err)
			}
			if o.UnmarshalBinary(c.Optim) != nil || o.CheckState(h.Params()) != nil {
				continue
			}
			o.Step(h.Params(), 0.01) // a resumed run's first step; state that fits must not panic
		}
	})
}

// FuzzRunFolder checks a run folder built from fuzzed config.json, checkpoint, metrics.jsonl and
// train.csv with checkRunFolder. The seeds are the legacy run's files with the head cut down to
// a tiny one (so that the fuzzer minimises new inputs in seconds, not a minute each);
// TestLegacyRunFolder checks the legacy run itself.
func FuzzRunFolder(f *testing.F) {
	cfg := tinyHeadConfig(f)
	small := smallCheckpoint(f, graph.KindLinear, "sgd")
	metrics := bytes.SplitAfter(readLegacy(f, MetricsFile), []byte("\n"))
	csv := bytes.SplitAfter(readLegacy(f, CSVFile), []byte("\n"))
	tiny := []byte(`{"head":{"kind":"linear","in_channels":1,"classes":2}}`)
	f.Add(cfg, small, bytes.Join(metrics[:4], nil), bytes.Join(csv, nil), false, true, 3)
	f.Add(tiny, small, bytes.Join(metrics[2:4], nil), bytes.Join(csv[:3], nil), false, false, 2)
	f.Add(tiny[:len(tiny)-1], small[:len(small)-1], metrics[0][:len(metrics[0])/2], csv[0][:10], true, true, 6)
	f.Add([]byte(`{"head":{"kind":"fcn","in_channels":1,"classes":2,"hidden":1}}`), small,
		[]byte("{\"iter\":2}\n{\"iter\":1.5,\"loss\":1}\n{\"iter\":2,\"val_miou\":0.5}\r\n"), []byte("x,y\n-1,2\n9,9"), true, false, 2)
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, false, false, -1)
	// A lifted decoder: OpenRun lifts it from the model before reading the checkpoint.
	if bb, err := filepath.Abs(filepath.Join("..", "testdata", "models", "tiny_dyn_s4.onnx")); err == nil {
		lifted := fmt.Sprintf(`{"backbone":%q,"classes":["a","b"],"head":{"kind":"lifted"},"lift":{"from":"feat_s4","lr_mult":0.1,"inputs":["feat_s4"]}}`, bb)
		f.Add([]byte(lifted), small, bytes.Join(metrics[:4], nil), bytes.Join(csv[:3], nil), false, true, 3)
	}
	root := fuzzDir(f) // each fuzz worker runs inputs one at a time
	n := 0
	f.Fuzz(func(t *testing.T, cfg, ckpt, metrics, csv []byte, fix, isBest bool, k int) {
		n++
		dir := filepath.Join(root, strconv.Itoa(n))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		checkRunFolder(t, dir, cfg, ckpt, metrics, csv, fix, isBest, k)
	})
}

// tinyHeadConfig returns the legacy run's config.json, compacted, with its head replaced by the
// linear head of smallCheckpoint.
func tinyHeadConfig(f *testing.F) []byte {
	f.Helper()
	var m map[string]any
	if err := json.Unmarshal(readLegacy(f, ConfigFile), &m); err != nil {
		f.Fatal(err)
	}
	m["head"] = map[string]any{"kind": graph.KindLinear, "in_channels": 1, "classes": 2}
	delete(m, "classes")
	b, err := json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// TestLegacyRunFolder runs checkRunFolder on the legacy run folder as it is, for several
// iterations to resume from.
func TestLegacyRunFolder(t *testing.T) {
	var b [4][]byte
	for i, name := range []string{ConfigFile, BestCkpt, MetricsFile, CSVFile} {
		var err error
		if b[i], err = os.ReadFile(filepath.Join(legacyRun, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []int{-1, 0, 3, 6, 7} {
		if err := checkRunFolder(t, t.TempDir(), b[0], b[1], b[2], b[3], false, true, k); err != nil {
			t.Fatalf("k %d: %v", k, err)
		}
	}
	if !HasEval(legacyRun, 3) || !HasEval(legacyRun, 6) || HasEval(legacyRun, 4) {
		t.Error("legacy run: want evaluations at iterations 3 and 6 only")
	}
}

// checkRunFolder writes a run folder into dir (config.json, the checkpoint as best.ckpt or
// last.ckpt, checksums fixed first with fix, metrics.jsonl, train.csv) and checks it: OpenRun
// returns an error or a head the config describes; HasEval and ReadLossCurve do not panic;
// OpenLogs keeps exactly the lines up to iteration k, keeps the evaluation at k, and leaves the
// logs unchanged when run again. It returns OpenRun's error.
func checkRunFolder(t *testing.T, dir string, cfg, ckpt, metrics, csv []byte, fix, isBest bool, k int) (openErr error) {
	t.Helper()
	if fix {
		ckpt = fixCRCs(ckpt)
	}
	name := LastCkpt
	if isBest {
		name = BestCkpt
	}
	for _, w := range []struct {
		name string
		b    []byte
	}{{ConfigFile, cfg}, {name, ckpt}, {MetricsFile, metrics}, {CSVFile, csv}} {
		if err := os.WriteFile(filepath.Join(dir, w.name), w.b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, h, ck, err := OpenRun(dir)
	openErr = err
	switch {
	case err != nil && (c != nil || h != nil || ck != nil):
		t.Fatal("run returned with an error")
	case err == nil && (c == nil || h == nil || ck == nil):
		t.Fatal("OpenRun returned nil without an error")
	case err == nil && c.Lift == nil && h.(*graph.Head).Spec() != c.Head:
		t.Fatalf("OpenRun returned a %+v head for a config of a %+v head", h.(*graph.Head).Spec(), c.Head)
	}

	evalAtK := HasEval(dir, k)
	if _, err := ReadLossCurve(dir); err != nil {
		t.Fatalf("ReadLossCurve on an existing metrics file: %v", err)
	}
	l, err := OpenLogs(dir, k)
	if err != nil {
		t.Fatalf("OpenLogs: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if evalAtK && !HasEval(dir, k) {
		t.Fatalf("OpenLogs(%d) dropped the evaluation at iteration %d", k, k)
	}
	curve, err := ReadLossCurve(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range curve {
		if pt[0] > float64(k) {
			t.Fatalf("OpenLogs(%d) kept a loss at iteration %v", k, pt[0])
		}
	}
	before := readAll(t, dir)
	if !strings.HasPrefix(string(before[CSVFile]), "iter,") && len(csv) == 0 {
		t.Fatalf("empty %s got no header: %q", CSVFile, before[CSVFile])
	}
	l, err = OpenLogs(dir, k)
	if err != nil {
		t.Fatalf("OpenLogs again: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	after := readAll(t, dir)
	for _, n := range []string{MetricsFile, CSVFile} {
		if !bytes.Equal(before[n], after[n]) {
			t.Fatalf("OpenLogs(%d) again changed %s:\n%q\nto\n%q", k, n, before[n], after[n])
		}
	}
	return openErr
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, n := range []string{MetricsFile, CSVFile} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		m[n] = b
	}
	return m
}
