package train_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/train"
)

// TestStaticModelValidates trains on a backbone of fixed input size (1x3x64x128) with training
// and validation images of another size (48x96): training crops to the model's size and
// validation resizes to it, as eval does, so the run finishes with a validation result.
func TestStaticModelValidates(t *testing.T) {
	initORT(t)
	dir := filepath.Join(t.TempDir(), "ds")
	if err := synth.Generate(dir, synth.Options{Seed: 5, Train: 4, Val: 2, H: 48, W: 96}); err != nil {
		t.Fatal(err)
	}
	rc := &train.Config{
		Backbone: filepath.Join(repoRoot(), "testdata", "models", "tiny_static_s8.onnx"), Feature: "feat_s8",
		Preprocess: data.ImageNet, Data: filepath.Join(dir, "train"), ValData: filepath.Join(dir, "val"), Ignore: 255,
		Head: graph.HeadSpec{Kind: "linear"}, Loss: train.LossConfig{Name: "ce"}, Optim: train.OptimConfig{Name: "sgd"},
		LR: 0.01, Iters: 3, Batch: 1, Scale: [2]float64{1, 1}, Seed: 1, CkptEvery: 10,
	}
	run := filepath.Join(t.TempDir(), "run")
	sum, err := train.Run(context.Background(), run, rc, train.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sum.BestMIoU < 0 || !train.HasEval(run, 3) {
		t.Fatalf("no validation result (best %v)", sum.BestMIoU)
	}
	if rc.Crop != [2]int{64, 128} {
		t.Fatalf("crop %v, want the model's input size 64x128", rc.Crop)
	}
}
