package cli_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/internal/synth"
)

// TestExportKeepsOldModel: an export whose parity check fails leaves the file that was at --out.
func TestExportKeepsOldModel(t *testing.T) {
	run, _ := trainedRun(t)
	out := filepath.Join(fastTempDir(t), "model.onnx")
	old := []byte("the user's earlier model")
	writeFile(t, out, old)
	r := runApp("export", "--run", run, "--out", out, "--threads", "1", "--tolerance", "1e-30")
	if r.err == nil || !strings.Contains(r.stderr, "parity") {
		t.Fatalf("export with an impossible tolerance: err %v, stderr %q", r.err, r.stderr)
	}
	if got := readFile(t, out); !bytes.Equal(got, old) {
		t.Fatalf("a failed export replaced %s (%d bytes now)", out, len(got))
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Fatalf("a failed export left %d files beside the model", len(ents)-1)
	}
}

// TestResumeWithoutLastCheckpoint: a copy of a run without last.ckpt restarts from 0 and does not
// keep the old best.ckpt, which eval would otherwise take for the new run's.
func TestResumeWithoutLastCheckpoint(t *testing.T) {
	src, _ := trainedRun(t)
	run := filepath.Join(fastTempDir(t), "run")
	copyDir(t, src, run)
	os.Remove(filepath.Join(run, "last.ckpt"))
	oldBest := readFile(t, filepath.Join(run, "best.ckpt"))
	mustRun(t, "train", "--out", run, "--resume", "--iters", "4", "--val-every", "0", "--threads", "1", "--quiet")
	if b, err := os.ReadFile(filepath.Join(run, "best.ckpt")); err == nil && bytes.Equal(b, oldBest) {
		t.Fatal("the restarted run kept the old run's best.ckpt")
	}
	csv := strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(run, "train.csv")))), "\n")
	if len(csv) != 1+4 {
		t.Fatalf("train.csv has %d rows after a 4-iteration restart, want 4 and a header", len(csv)-1)
	}
}

// TestFlagsAfterArguments runs the README's form of eval merge (flags after the files) and a
// predict of two images with one base name, whose masks must both be kept.
func TestFlagsAfterArguments(t *testing.T) {
	run, _ := trainedRun(t)
	ds := synthData(t)
	dir := fastTempDir(t)
	var shards []string
	for _, s := range []string{"0/2", "1/2"} {
		p := filepath.Join(dir, "shard-"+s[:1]+".json")
		mustRun(t, "eval", "--run", run, "--data", filepath.Join(ds, "val"), "--threads", "1", "--shard", s, "--json", p)
		shards = append(shards, p)
	}
	all := filepath.Join(dir, "all.json")
	mustRun(t, append(append([]string{"eval", "merge"}, shards...), "--json", all)...)
	if _, err := os.Stat(all); err != nil {
		t.Fatalf("eval merge A B --json OUT wrote no %s: %v", all, err)
	}
	for _, d := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		writeFile(t, filepath.Join(dir, d, "img.png"), readFile(t, filepath.Join(ds, "val", "images", "0000.png")))
	}
	masks := filepath.Join(dir, "masks")
	mustRun(t, "predict", "--run", run, "--out", masks, filepath.Join(dir, "a", "img.png"), filepath.Join(dir, "b", "img.png"), "--threads", "1")
	ents, _ := os.ReadDir(masks)
	if len(ents) != 4 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("predict of a/img.png and b/img.png wrote %v, want two label and two colour masks", names)
	}
}

// TestEvalAugTest: eval --aug-test with the single scale 1 equals plain eval; with flip and
// several scales it runs (on the run and on its export) and reports a result; predict takes it too.
func TestEvalAugTest(t *testing.T) {
	run, model := trainedRun(t)
	val := filepath.Join(synthData(t), "val")
	dir := fastTempDir(t)
	mustRun(t, "eval", "--run", run, "--data", val, "--threads", "1", "--json", filepath.Join(dir, "plain.json"))
	mustRun(t, "eval", "--run", run, "--data", val, "--threads", "1", "--aug-test", "--scales", "1", "--json", filepath.Join(dir, "one.json"))
	m1, _, c1 := reportMetrics(t, filepath.Join(dir, "plain.json"))
	m2, _, c2 := reportMetrics(t, filepath.Join(dir, "one.json"))
	if m1 != m2 || len(c1) != len(c2) {
		t.Fatalf("--aug-test --scales 1 gives mIoU %v, plain eval %v", m2, m1)
	}
	for _, src := range [][]string{{"--run", run}, {"--model", model}} {
		a := append([]string{"eval", "--data", val, "--threads", "1", "--aug-test", "--scales", "0.75,1,1.25", "--flip"}, src...)
		if r := mustRun(t, a...); !strings.Contains(r.stdout, "mIoU") {
			t.Fatalf("eval %v printed no mIoU:\n%s", src, r.stdout)
		}
	}
	mustRun(t, "predict", "--run", run, "--out", filepath.Join(dir, "masks"), "--aug-test", "--flip", "--threads", "1", filepath.Join(val, "images"))
	if r := runApp("eval", "--run", run, "--data", val, "--scales", "1"); r.err == nil || !strings.Contains(r.stderr, "--aug-test") {
		t.Fatalf("--scales without --aug-test: %v %q", r.err, r.stderr)
	}
}

// TestExportFlip: export --flip bakes flip averaging in; the file passes its parity check and
// evaluates as the run does with --aug-test --scales 1 --flip.
func TestExportFlip(t *testing.T) {
	run, _ := trainedRun(t)
	val := filepath.Join(synthData(t), "val")
	dir := fastTempDir(t)
	model := filepath.Join(dir, "flip.onnx")
	r := mustRun(t, "export", "--run", run, "--out", model, "--flip", "--threads", "1", "--probe", "64x128")
	if !strings.Contains(r.stdout, "parity check") {
		t.Fatalf("export --flip output:\n%s", r.stdout)
	}
	mustRun(t, "eval", "--model", model, "--data", val, "--threads", "1", "--json", filepath.Join(dir, "model.json"))
	mustRun(t, "eval", "--run", run, "--data", val, "--threads", "1", "--aug-test", "--scales", "1", "--flip", "--json", filepath.Join(dir, "run.json"))
	m1, a1, _ := reportMetrics(t, filepath.Join(dir, "model.json"))
	m2, a2, _ := reportMetrics(t, filepath.Join(dir, "run.json"))
	if math.Abs(m1-m2) > 1e-4 || math.Abs(a1-a2) > 1e-4 {
		t.Fatalf("flip export: mIoU %v aAcc %v; the run with flip augmentation: mIoU %v aAcc %v", m1, a1, m2, a2)
	}
	labels := filepath.Join(dir, "labels.onnx")
	mustRun(t, "export", "--run", run, "--out", labels, "--flip", "--output", "labels", "--threads", "1", "--probe", "64x128")
	if r := runApp("export", "--run", run, "--out", filepath.Join(dir, "x.onnx"), "--flip", "--output", "logits"); r.err == nil {
		t.Fatal("export --flip --output logits accepted")
	}
}

// TestExportOnModelOutput trains a head on the backbone's own output (the default --feature),
// which is named "logits", and exports it: the export's output must not clash with that name
// (it failed with 'output "logits" of node "lmpseg_resize_resize" (Resize) clashes with an
// existing tensor name').
func TestExportOnModelOutput(t *testing.T) {
	ds := synthData(t)
	dir := fastTempDir(t)
	run := filepath.Join(dir, "run")
	mustRun(t, "train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--data", filepath.Join(ds, "train"), "--out", run,
		"--iters", "3", "--scale", "1,1", "--threads", "1", "--quiet")
	model := filepath.Join(dir, "model.onnx")
	r := mustRun(t, "export", "--run", run, "--out", model, "--threads", "1", "--probe", "64x128")
	if !strings.Contains(r.stdout, `output "logits_2"`) {
		t.Fatalf("export on the model's output named its output otherwise:\n%s", r.stdout)
	}
	mustRun(t, "eval", "--model", model, "--data", filepath.Join(ds, "val"), "--threads", "1")
}

// TestTrainConfigRerun: lmpseg train --config RUN/config.json --out NEW reproduces RUN bit for bit
// with --threads 1 (augmentation, validation and an fcn head with dropout included).
func TestTrainConfigRerun(t *testing.T) {
	ds := synthData(t)
	dir := fastTempDir(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mustRun(t, "train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4", "--data", filepath.Join(ds, "train"),
		"--val-data", filepath.Join(ds, "val"), "--out", a, "--iters", "6", "--crop", "48x96", "--head", "fcn", "--hidden", "8",
		"--val-every", "3", "--threads", "1", "--quiet")
	mustRun(t, "train", "--config", filepath.Join(a, "config.json"), "--out", b, "--threads", "1", "--quiet")
	for _, f := range []string{"last.ckpt", "best.ckpt"} {
		if !bytes.Equal(readFile(t, filepath.Join(a, f)), readFile(t, filepath.Join(b, f))) {
			t.Errorf("%s of the --config rerun differs from the original run's", f)
		}
	}
}

// TestStaticModelSlide: a model of fixed input size (64x128) evaluates with --mode slide on images
// larger and smaller than its size (windows are padded to the full size, not clipped to the image),
// and with the default mode (resize) on both.
func TestStaticModelSlide(t *testing.T) {
	dir := fastTempDir(t)
	ds := synthAt(t, dir, "ds", synth.Options{Seed: 4, Train: 2, Val: 2, H: 96, W: 160})
	small := synthAt(t, dir, "small", synth.Options{Seed: 5, Train: 1, Val: 2, H: 48, W: 80})
	run := filepath.Join(dir, "run")
	mustRun(t, "train", "--backbone", modelPath("tiny_static_s8.onnx"), "--feature", "feat_s8", "--data", filepath.Join(ds, "train"),
		"--out", run, "--iters", "2", "--batch", "1", "--scale", "1,1", "--threads", "1", "--quiet")
	for _, val := range []string{filepath.Join(ds, "val"), filepath.Join(small, "val")} {
		mustRun(t, "eval", "--run", run, "--data", val, "--mode", "slide", "--stride", "32x64", "--threads", "1")
		mustRun(t, "eval", "--run", run, "--data", val, "--threads", "1")
	}
}
