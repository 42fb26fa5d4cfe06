package cli_test

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/internal/modelgen"
	"github.com/lmpseg/lmpseg/internal/synth"
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

// TestTrainableFrom runs the whole pipeline with the model's own decoder lifted and trained
// (train --trainable-from → eval --run → export → eval --model → predict) on a decoder of one
// input (tiny_dyn_s4: a classifier and the final Resize) and one of two inputs, a batch norm and
// a gate (tiny_two_branch, LR-ASPP-like): the two evaluations agree, and the recipe records the
// lifted decoder and its inputs.
func TestTrainableFrom(t *testing.T) {
	ds := synthData(t)
	val := filepath.Join(ds, "val")
	for _, c := range []struct {
		name, from string
		inputs     int
		extra      []string
	}{
		{"one input", "feat_s4", 1, []string{"--reset-classifier"}},
		// float16 weights reach the classifier through Cast: it must still be replaced for the
		// data's 12 classes (it was kept at the model's 5, and the loss panicked).
		{"float16_weights", "feat_s4", 1, nil},
		{"two inputs", "feat_s4", 2, []string{"--freeze-bn", "--lr-lifted", "0.5"}},
		{"two inputs, bn trained", "feat_s4", 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			bb := modelPath("tiny_dyn_s4.onnx")
			if m, err := modelgen.PatternModel(c.name); err == nil {
				bb = filepath.Join(dir, c.name+".onnx")
				if err := modelgen.WriteFile(bb, m); err != nil {
					t.Fatal(err)
				}
			}
			if c.inputs == 2 {
				bb = filepath.Join(dir, "two_branch.onnx")
				if err := modelgen.WriteFile(bb, modelgen.TinyTwoBranch(12)); err != nil {
					t.Fatal(err)
				}
			}
			run := filepath.Join(dir, "run")
			r := mustRun(t, append([]string{"train", "--backbone", bb, "--trainable-from", c.from,
				"--data", filepath.Join(ds, "train"), "--val-data", val, "--out", run,
				"--iters", "6", "--batch", "2", "--crop", "64x64", "--threads", "1"}, c.extra...)...)
			if !strings.Contains(r.stdout, "decoder  the backbone's own") {
				t.Errorf("train does not print the lifted decoder:\n%s", r.stdout)
			}
			cfg, err := train.LoadConfig(run)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Lift == nil || cfg.Lift.From != c.from || len(cfg.Lift.Inputs) != c.inputs || cfg.Head.Kind != train.LiftedKind {
				t.Fatalf("config.json records lift %+v, head %+v", cfg.Lift, cfg.Head)
			}
			model, _ := exportAgrees(t, dir, run, val)
			mustRun(t, "predict", "--model", model, "--out", filepath.Join(dir, "pred"), "--threads", "1", filepath.Join(val, "images"))
		})
	}
}

// TestTrainableFromRefusals: flags of a lifted decoder without one, a decoder that cannot be
// lifted, and a tensor that is not in the model are refused before training, naming the value.
func TestTrainableFromRefusals(t *testing.T) {
	ds := synthData(t)
	quant := filepath.Join(fastTempDir(t), "quant.onnx")
	if m, err := modelgen.PatternModel("quant_dynamic"); err != nil {
		t.Fatal(err)
	} else if err := modelgen.WriteFile(quant, m); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unsupported op", []string{"--backbone", quant, "--trainable-from", "stem.conv"}, `node "block2.conv_quant_dql" (DynamicQuantizeLinear): operator not in the supported set; lifting would work from: block2.conv_quant_int32`},
		{"freeze-bn alone", []string{"--feature", "feat_s4", "--freeze-bn"}, "--freeze-bn tunes the decoder --trainable-from lifts"},
		{"lr-lifted alone", []string{"--lr-lifted", "0.2"}, "--lr-lifted tunes the decoder"},
		{"with --head", []string{"--trainable-from", "feat_s4", "--head", "fcn"}, "drop --head"},
		{"another --feature", []string{"--trainable-from", "feat_s4", "--feature", "feat_s2"}, "drop --feature"},
		{"bad lr-lifted", []string{"--trainable-from", "feat_s4", "--lr-lifted", "0"}, "--lr-lifted 0"},
		{"no such tensor", []string{"--trainable-from", "nope"}, "nope"},
		{"no iters", []string{"--trainable-from", "feat_s4", "--iters", "-1"}, "--iters -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--data", filepath.Join(ds, "train"), "--out", filepath.Join(t.TempDir(), "run"),
				"--iters", "2", "--threads", "1", "--quiet"}, c.args...)
			r := runApp(args...)
			if r.panic != nil || r.err == nil || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%v: panic %v, err %v; want an error containing %q; stderr:\n%s", c.args, r.panic, r.err, c.want, r.stderr)
			}
		})
	}
}

// TestStaticRunScoredAsExport: on a model of fixed input size (eval resizes each image to it), a
// run is scored as its exported model is: scores upsampled to the input size, then to the image.
// After three steps the scores are near ties almost everywhere, so the confusion matrices of eval
// --run and eval --model must be equal, not only close (a one-step upsampling moved 1.3% of the
// pixels).
func TestStaticRunScoredAsExport(t *testing.T) {
	dir := fastTempDir(t)
	// Images of twice the model's 64x128, so that eval resizes them.
	ds := synthAt(t, dir, "ds", synth.Options{Seed: 3, Train: 4, Val: 2, H: 128, W: 256})
	val := filepath.Join(ds, "val")
	bb := filepath.Join(dir, "fixed.onnx")
	m, err := modelgen.PatternModel("fixed_shape")
	if err != nil {
		t.Fatal(err)
	}
	if err := modelgen.WriteFile(bb, m); err != nil {
		t.Fatal(err)
	}
	for _, from := range [][]string{{"--feature", modelgen.PatternFeature}, {"--trainable-from", modelgen.PatternFeature}} {
		run := filepath.Join(dir, from[0][2:])
		mustRun(t, "train", "--backbone", bb, from[0], from[1], "--data", filepath.Join(ds, "train"), "--out", run,
			"--iters", "3", "--batch", "2", "--threads", "1", "--quiet")
		sub := filepath.Join(dir, from[0][2:]+"-eval")
		os.MkdirAll(sub, 0o755)
		exportAndEval(t, sub, run, val)
		_, _, c1 := reportMetrics(t, filepath.Join(sub, "run.json"))
		_, _, c2 := reportMetrics(t, filepath.Join(sub, "model.json"))
		if !reflect.DeepEqual(c1, c2) {
			t.Errorf("%s: eval --run and eval --model give different confusion matrices", from[0])
		}
	}
}
