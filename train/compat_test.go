package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/internal/ortest"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/lmp"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/train"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// initORT loads onnxruntime or skips the test.
var initORT = ortest.Init

// legacyData regenerates the validation data the legacy run was evaluated on (synth is seeded).
func legacyData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	if err := synth.Generate(dir, synth.Options{Seed: 3, Train: 6, Val: 3, H: 64, W: 128}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// legacyRun copies testdata/legacy/run (written by lmpseg before the library redesign) into a
// temporary folder and points its config at the testdata backbone.
func legacyRun(t *testing.T, ds string) string {
	t.Helper()
	run := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(repoRoot(), "testdata", "legacy", "run")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == train.ConfigFile {
			b = bytes.ReplaceAll(b, []byte(`"/tmp/legacy/tiny_dyn_s4.onnx"`), []byte(`"`+filepath.Join(repoRoot(), "testdata", "models", "tiny_dyn_s4.onnx")+`"`))
			b = bytes.ReplaceAll(b, []byte(`"/tmp/legacy/ds/`), []byte(`"`+ds+`/`))
		}
		if err := os.WriteFile(filepath.Join(run, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return run
}

func wantConfusion(t *testing.T, name string) []int64 {
	t.Helper()
	r, err := metrics.Load(filepath.Join(repoRoot(), "testdata", "legacy", name))
	if err != nil {
		t.Fatal(err)
	}
	return r.Conf.M
}

func evaluate(t *testing.T, m *infer.Model, dir string) []int64 {
	t.Helper()
	defer m.Close()
	ds, err := data.Open(filepath.Join(dir, "val"), "", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conf, _, err := infer.Evaluate(context.Background(), m.Predictor, ds, len(ds.Classes()), infer.EvalOptions{Ignore: 255, Workers: 1, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return conf.M
}

// TestLegacyFormats checks that a run folder and an exported model written by lmpseg before the
// library redesign still load and evaluate to the confusion matrices that version recorded.
func TestLegacyFormats(t *testing.T) {
	initORT(t)
	dir := legacyData(t)
	o := infer.ModelOptions{Threads: 1}
	for _, c := range []struct {
		name string
		open func() (*infer.Model, error)
		want string
	}{
		{"run", func() (*infer.Model, error) { return train.OpenModel(legacyRun(t, dir), o) }, "eval-run.json"},
		{"model", func() (*infer.Model, error) {
			return infer.OpenModel(filepath.Join(repoRoot(), "testdata", "legacy", "model.onnx"), o)
		}, "eval-model.json"},
	} {
		m, err := c.open()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, want := evaluate(t, m, dir), wantConfusion(t, c.want)
		if len(got) != len(want) {
			t.Fatalf("%s: %d confusion cells, want %d", c.name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: confusion cell %d is %d, the legacy version recorded %d", c.name, i, got[i], want[i])
			}
		}
	}
	// The legacy run resumes from its checkpoint for more iterations.
	run := legacyRun(t, dir)
	rc, err := train.LoadConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	rc.Iters = 8
	if _, err := train.Run(context.Background(), run, rc, train.Options{Resume: true, Threads: 1}); err != nil {
		t.Fatalf("resuming the legacy run: %v", err)
	}
	if it := train.CheckpointIter(run); it != 8 {
		t.Fatalf("resumed legacy run ends at iteration %d, want 8", it)
	}
}

// TestRecipeReproduces trains a run, then trains its config.json again through the library into a
// new folder: with one thread the checkpoints and the loss logs are identical byte for byte.
func TestRecipeReproduces(t *testing.T) {
	initORT(t)
	dir := legacyData(t)
	rc := &train.Config{
		Backbone: filepath.Join(repoRoot(), "testdata", "models", "tiny_dyn_s4.onnx"), Feature: "feat_s4",
		Preprocess: data.ImageNet, Data: filepath.Join(dir, "train"), ValData: filepath.Join(dir, "val"), Ignore: 255,
		Head: graph.HeadSpec{Kind: "fcn", Hidden: 8, Dropout: 0.1}, Loss: train.LossConfig{Name: "lmp", Options: lmp.Options{P: 1.7, Ratio: 0.25}},
		Optim: train.OptimConfig{Name: "sgd", Momentum: 0.9, WeightDecay: 5e-4}, LR: 0.01, Iters: 6, Batch: 2,
		Crop: [2]int{48, 96}, Scale: [2]float64{0.75, 1.25}, Flip: true, Seed: 7, ValEvery: 3, CkptEvery: 2,
	}
	a := filepath.Join(t.TempDir(), "a")
	if _, err := train.Run(context.Background(), a, rc, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	again, err := train.LoadConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(t.TempDir(), "b")
	if _, err := train.Run(context.Background(), b, again, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	sameRunFiles(t, a, b, "the run and its recipe's rerun")
	ca, _ := os.ReadFile(filepath.Join(a, train.ConfigFile))
	cb, _ := os.ReadFile(filepath.Join(b, train.ConfigFile))
	var ja, jb map[string]any
	json.Unmarshal(ca, &ja)
	json.Unmarshal(cb, &jb)
	if x, y := mustJSON(ja), mustJSON(jb); x != y {
		t.Errorf("config.json differs:\n%s\n%s", x, y)
	}
}

// stripSeconds drops the wall-clock column of train.csv.
// sameRunFiles reports each checkpoint and the CSV log (less its seconds column) that differ
// between the run folders a and b, or that a lacks; what names the two runs.
func sameRunFiles(t *testing.T, a, b, what string) {
	t.Helper()
	for _, f := range []string{train.LastCkpt, train.BestCkpt, train.CSVFile} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(stripSeconds(t, f, x), stripSeconds(t, f, y)) {
			t.Errorf("%s differs between %s (%d and %d bytes)", f, what, len(x), len(y))
		}
	}
}

func stripSeconds(t *testing.T, name string, b []byte) []byte {
	if name != train.CSVFile {
		return b
	}
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if i := bytes.LastIndexByte(line, ','); i >= 0 {
			line = line[:i]
		}
		out = append(append(out, line...), '\n')
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOpenLogsKeepsLongLines: a log line too long to scan is an error, not a silent truncation of
// the rest of the file.
func TestOpenLogsKeepsLongLines(t *testing.T) {
	run := t.TempDir()
	long := `{"iter":1,"loss":1,"note":"` + string(bytes.Repeat([]byte("x"), 17<<20)) + `"}` + "\n" + `{"iter":2,"loss":0.5}` + "\n"
	p := filepath.Join(run, train.MetricsFile)
	if err := os.WriteFile(p, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := train.OpenLogs(run, 5); err == nil {
		t.Fatal("OpenLogs accepted a log it cannot read whole")
	}
	if b, _ := os.ReadFile(p); len(b) != len(long) {
		t.Fatalf("OpenLogs rewrote %s to %d bytes (was %d)", p, len(b), len(long))
	}
}
