package train_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/train"
)

// cancelOnVal, when set, is called at the first load of a validation sample of the
// "test-cancel-val" format: a signal arriving while a validation runs.
var cancelOnVal atomic.Pointer[context.CancelFunc]

type cancellingDataset struct{ data.Dataset }

func (d cancellingDataset) Load(i int) (*data.Sample, error) {
	if c := cancelOnVal.Swap(nil); c != nil {
		(*c)()
	}
	return d.Dataset.Load(i)
}

func init() {
	data.RegisterFormat("test-cancel-val", data.Format{
		Layout: "images/, labels/ (a folder dataset whose val split cancels the job once)",
		Detect: func(string) bool { return false },
		Open: func(dir string, o data.Options) (data.Dataset, error) {
			ds, err := data.Open(dir, "folder", o)
			if err != nil || filepath.Base(dir) != "val" {
				return ds, err
			}
			return cancellingDataset{ds}, nil
		},
	})
}

// TestInterruptedValidationRepeats interrupts a run inside its validation at iteration 3, resumes
// it, and checks that the validation point at iteration 3 is in metrics.jsonl as if the run had
// never stopped.
func TestInterruptedValidationRepeats(t *testing.T) {
	initORT(t)
	dir := legacyData(t)
	rc := &train.Config{
		Backbone: filepath.Join(repoRoot(), "testdata", "models", "tiny_dyn_s4.onnx"), Feature: "feat_s4",
		Preprocess: data.ImageNet, Data: filepath.Join(dir, "train"), ValData: filepath.Join(dir, "val"), Format: "test-cancel-val",
		Ignore: 255, Head: graph.HeadSpec{Kind: "linear"}, Loss: train.LossConfig{Name: "ce"},
		Optim: train.OptimConfig{Name: "sgd", Momentum: 0.9}, LR: 0.01, Iters: 6, Batch: 2, Scale: [2]float64{1, 1},
		Seed: 1, ValEvery: 3, CkptEvery: 1,
	}
	run := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelOnVal.Store(&cancel)
	if _, err := train.Run(ctx, run, rc, train.Options{Threads: 1}); !errors.Is(err, train.ErrInterrupted) {
		t.Fatalf("interrupted run returned %v, want ErrInterrupted", err)
	}
	if it := train.CheckpointIter(run); it != 3 {
		t.Fatalf("interrupted at validation of iteration 3, the checkpoint is at %d", it)
	}
	if train.HasEval(run, 3) {
		t.Fatal("the interrupted validation left a result")
	}
	again, err := train.LoadConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Run(context.Background(), run, again, train.Options{Resume: true, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	for _, it := range []int{3, 6} {
		if !train.HasEval(run, it) {
			t.Errorf("after the resume metrics.jsonl has no validation at iteration %d", it)
		}
	}
}
