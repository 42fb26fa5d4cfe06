package cli_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/internal/modelgen"
	"github.com/lmpseg/lmpseg/train"
)

// TestPattern runs the whole pipeline on each of modelgen's pattern models (the ways models
// from elsewhere are written: fixed shapes, NHWC, uint8 or float16 inputs, float16 or
// quantized weights, unsorted nodes, opset 11, a channels-last stage): train with validation,
// eval --run, export (the parity check must be printed), eval --model, which must give the
// mIoU of eval --run, and predict with the exported model.
func TestPattern(t *testing.T) {
	ds := synthData(t)
	val := filepath.Join(ds, "val")
	// The patterns that compute the network exactly as float32 NCHW does (no float16, no
	// quantization, no extra stage) must train to the same head and so reach the same mIoU: a
	// pattern fed the wrong preprocessing or layout would not.
	exact := map[string]bool{"fixed_shape": true, "fixed_batch1": true, "nhwc": true, "nhwc_uint8": true, "unsorted": true, "opset11": true}
	miou := map[string]float64{}
	for _, p := range modelgen.Patterns() {
		t.Run(p.Name, func(t *testing.T) {
			dir := fastTempDir(t)
			bb := filepath.Join(dir, p.Name+".onnx")
			if err := modelgen.WriteFile(bb, p.Model()); err != nil {
				t.Fatal(err)
			}
			run := filepath.Join(dir, "run")
			mustRun(t, "train", "--backbone", bb, "--feature", modelgen.PatternFeature,
				"--data", filepath.Join(ds, "train"), "--val-data", val, "--out", run,
				"--iters", "20", "--batch", "2", "--loss", "ce", "--lr", "0.05", "--scale", "1,1",
				"--threads", "1", "--quiet")
			model, m := exportAgrees(t, dir, run, val)
			miou[p.Name] = m
			pred := filepath.Join(dir, "pred")
			mustRun(t, "predict", "--model", model, "--out", pred, "--threads", "1", filepath.Join(val, "images"))
			classes := map[uint8]bool{}
			for _, name := range []string{"0000", "0001", "0002"} {
				path := filepath.Join(pred, name+"_labels.png")
				g := asGray(t, path, readPNG(t, path))
				if b := g.Bounds(); b.Dx() != 128 || b.Dy() != 64 {
					t.Errorf("%s is %dx%d, want 128x64", path, b.Dx(), b.Dy())
				}
				for _, v := range g.Pix {
					classes[v] = true
				}
			}
			// A head that gave one class everywhere would make the agreement above trivial.
			t.Logf("predict: %d classes in the masks", len(classes))
			if len(classes) < 2 {
				t.Errorf("the masks hold %d class(es); the head learnt nothing to compare", len(classes))
			}
		})
	}
	ref, refName := math.NaN(), ""
	for _, p := range modelgen.Patterns() {
		v, ok := miou[p.Name]
		if !exact[p.Name] || !ok {
			continue
		}
		if refName == "" {
			ref, refName = v, p.Name
		} else if math.Abs(v-ref) > 1e-4 {
			t.Errorf("%s reaches mIoU %.6f, %s %.6f: the same network should train alike", p.Name, v, refName, ref)
		}
	}
}

// TestPatternChannelsLastFeature trains on the channels-last tensor [N,H,W,C] of the
// channels_last pattern (24 channels at stride 4). lmpseg must either refuse it, saying that it
// is channels-last, or train a head on its 24 channels. It trains one (train checks the feature
// with onnx.CheckFeature and records "feature_layout": "nhwc"), and the run and its export, which
// transposes the tensor before the head, evaluate alike. Before, train read the [1,16,32,24]
// tensor of a 64x128 image as 16 channels at 32x24, and every step succeeded on that.
func TestPatternChannelsLastFeature(t *testing.T) {
	ds := synthData(t)
	dir := fastTempDir(t)
	m, err := modelgen.PatternModel("channels_last")
	if err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(dir, "channels_last.onnx")
	if err := modelgen.WriteFile(bb, m); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	r := runApp("train", "--backbone", bb, "--feature", modelgen.PatternMixNHWC,
		"--data", filepath.Join(ds, "train"), "--out", run, "--iters", "2", "--loss", "ce",
		"--scale", "1,1", "--threads", "1", "--quiet")
	if r.panic != nil {
		t.Fatalf("train panicked: %v", r.panic)
	}
	if r.err != nil {
		msg := strings.ToLower(r.err.Error())
		if !strings.Contains(msg, "nhwc") && !strings.Contains(msg, "channels-last") && !strings.Contains(msg, "channels last") {
			t.Errorf("train refused the channels-last feature without saying why: %v", r.err)
		}
		return
	}
	cfg, err := train.LoadConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Head.InChannels != modelgen.PatternMixChannels {
		t.Fatalf("train took the channels-last feature (shape %v) as %d channels, want %d", cfg.FeatureShape, cfg.Head.InChannels, modelgen.PatternMixChannels)
	}
	if _, out := exportAndEval(t, dir, run, filepath.Join(ds, "val")); !strings.Contains(out, "parity check") {
		t.Fatalf("export: %s", out)
	}
	m1, _, _ := reportMetrics(t, filepath.Join(dir, "run.json"))
	m2, _, _ := reportMetrics(t, filepath.Join(dir, "model.json"))
	if math.Abs(m1-m2) > 1e-4 {
		t.Fatalf("channels-last run mIoU %v, its export %v", m1, m2)
	}
}
