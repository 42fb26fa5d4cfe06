package train_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/lmp"
	"github.com/lmpseg/lmpseg/train"
)

// stopAt cancels a training job's context once done iterations are finished.
type stopAt struct {
	done   int
	cancel context.CancelFunc
}

func (s *stopAt) Start(int, int) {}
func (s *stopAt) Step(done int, _ train.StepStats) {
	if done == s.done {
		s.cancel()
	}
}
func (s *stopAt) Note(string, ...any) {}
func (s *stopAt) Finish()             {}

// TestSamplerResume trains with each sampler for N iterations without a stop, and again stopped
// (as by a signal) after N/2, or at many iterations, and resumed each time: with one thread the last and best checkpoints
// (weights, optimiser and sampler state) and the loss logs are identical byte for byte. The
// performance sampler's order also differs from the class-uniform one's, so its state matters.
func TestSamplerResume(t *testing.T) {
	initORT(t)
	// More training images than the legacy set, so that the class draws have images to tell apart.
	dir := filepath.Join(t.TempDir(), "ds")
	if err := synth.Generate(dir, synth.Options{Seed: 4, Train: 16, Val: 3, H: 64, W: 128}); err != nil {
		t.Fatal(err)
	}
	const iters = 12
	recipe := func(sampler string, cached bool) *train.Config {
		rc := &train.Config{
			Backbone: filepath.Join(repoRoot(), "testdata", "models", "tiny_dyn_s4.onnx"), Feature: "feat_s4",
			Preprocess: data.ImageNet, Data: filepath.Join(dir, "train"), ValData: filepath.Join(dir, "val"), Ignore: 255,
			Head: graph.HeadSpec{Kind: "linear"}, Loss: train.LossConfig{Name: "lmp", Options: lmp.Options{P: 1.7, Ratio: 0.25}},
			Optim: train.OptimConfig{Name: "sgd", Momentum: 0.9}, LR: 0.05, Iters: iters, Batch: 4,
			Crop: [2]int{48, 96}, Scale: [2]float64{0.75, 1.25}, Flip: true, Seed: 5, ValEvery: 4, CkptEvery: 3,
			Sampler: sampler, SamplerMix: 0.9,
		}
		if cached {
			rc.Crop, rc.Scale, rc.Flip = [2]int{}, [2]float64{1, 1}, false
			rc.CacheFeatures, rc.CacheDir = true, filepath.Join(t.TempDir(), "cache")
		}
		return rc
	}
	csvs := map[string][]byte{}
	for _, c := range []struct {
		sampler string
		cached  bool
		stops   []int
	}{
		{train.SamplerPerformance, false, []int{iters / 2}},
		{train.SamplerPerformance, true, []int{1, 2, 3, 5, 6, 7, 8, 10}},
		{train.SamplerClassUniform, false, []int{iters / 2}},
		{"", false, []int{iters / 2}},
	} {
		name := c.sampler
		if c.cached {
			name += " cached"
		}
		t.Run(name, func(t *testing.T) {
			a := filepath.Join(t.TempDir(), "a")
			if _, err := train.Run(context.Background(), a, recipe(c.sampler, c.cached), train.Options{Threads: 1}); err != nil {
				t.Fatal(err)
			}
			b := filepath.Join(t.TempDir(), "b")
			for i, stop := range c.stops {
				ctx, cancel := context.WithCancel(context.Background())
				_, err := train.Run(ctx, b, recipe(c.sampler, c.cached), train.Options{Threads: 1, Resume: i > 0, Progress: &stopAt{stop, cancel}})
				cancel()
				if !errors.Is(err, train.ErrInterrupted) {
					t.Fatalf("run stopped at %d: %v, want it interrupted", stop, err)
				}
				if it := train.CheckpointIter(b); it != stop {
					t.Fatalf("stopped run's checkpoint is at iteration %d, want %d", it, stop)
				}
				ck, err := train.LoadCheckpoint(filepath.Join(b, train.LastCkpt))
				if err != nil {
					t.Fatal(err)
				}
				if (len(ck.Sampler) > 0) != (c.sampler == train.SamplerPerformance) {
					t.Fatalf("checkpoint holds %d bytes of sampler state", len(ck.Sampler))
				}
			}
			if _, err := train.Run(context.Background(), b, recipe(c.sampler, c.cached), train.Options{Threads: 1, Resume: true}); err != nil {
				t.Fatalf("resume: %v", err)
			}
			sameRunFiles(t, a, b, "the uninterrupted and the resumed run")
			x, _ := os.ReadFile(filepath.Join(a, train.CSVFile))
			csvs[name] = stripSeconds(t, train.CSVFile, x)
		})
	}
	if bytes.Equal(csvs[train.SamplerPerformance], csvs[train.SamplerClassUniform]) || bytes.Equal(csvs[""], csvs[train.SamplerClassUniform]) {
		t.Error("the samplers train alike: their loss logs are identical")
	}
}
