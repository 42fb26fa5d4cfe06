package cli_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/internal/modelgen"
	"github.com/lmpseg/lmpseg/train"
)

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
		{"two inputs", "feat_s4", 2, []string{"--freeze-bn", "--lr-lifted", "0.5"}},
		{"two inputs, bn trained", "feat_s4", 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fastTempDir(t)
			bb := modelPath("tiny_dyn_s4.onnx")
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
			model, out := exportAndEval(t, dir, run, val)
			if !strings.Contains(out, "parity check at 64x128") {
				t.Errorf("export does not report its parity check:\n%s", out)
			}
			m1, a1, _ := reportMetrics(t, filepath.Join(dir, "run.json"))
			m2, a2, _ := reportMetrics(t, filepath.Join(dir, "model.json"))
			if math.Abs(m1-m2) > 1e-4 || math.Abs(a1-a2) > 1e-4 {
				t.Errorf("eval --run (mIoU %v, aAcc %v) and eval --model (mIoU %v, aAcc %v) differ", m1, a1, m2, a2)
			}
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
