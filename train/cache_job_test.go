package train_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/train"
)

func cachedRecipe(ds, cache string) *train.Config {
	return &train.Config{
		Backbone: filepath.Join(repoRoot(), "testdata", "models", "tiny_dyn_s4.onnx"), Feature: "feat_s4",
		Preprocess: data.ImageNet, Data: filepath.Join(ds, "train"), Ignore: 255, Head: graph.HeadSpec{Kind: "linear"},
		Loss: train.LossConfig{Name: "ce"}, Optim: train.OptimConfig{Name: "sgd", Momentum: 0.9}, LR: 0.05, Iters: 6, Batch: 2,
		Scale: [2]float64{1, 1}, Seed: 1, CkptEvery: 6, CacheFeatures: true, CacheDir: cache,
	}
}

func trainCkpt(t *testing.T, rc *train.Config) []byte {
	t.Helper()
	run := filepath.Join(t.TempDir(), "run")
	if _, err := train.Run(context.Background(), run, rc, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(run, train.LastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFeatureCacheJobs checks, through whole training jobs with one thread, that a warm cache
// trains exactly as a cold one, and that labels edited after the cache was filled are the ones
// used (the cache is keyed by each sample's content).
func TestFeatureCacheJobs(t *testing.T) {
	initORT(t)
	ds := legacyData(t)
	cache := filepath.Join(t.TempDir(), "cache")
	cold := trainCkpt(t, cachedRecipe(ds, cache))
	warm := trainCkpt(t, cachedRecipe(ds, cache))
	if !bytes.Equal(cold, warm) {
		t.Fatal("a run on a warm feature cache differs from the run that filled it")
	}
	// Relabel every training image to class 1 and train again on the same (now stale) cache.
	labels := filepath.Join(ds, "train", "labels")
	ents, _ := os.ReadDir(labels)
	for _, e := range ents {
		p := filepath.Join(labels, e.Name())
		f, _ := os.Open(p)
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		g := image.NewGray(img.Bounds())
		for i := range g.Pix {
			g.Pix[i] = 1
		}
		var b bytes.Buffer
		png.Encode(&b, g)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stale := trainCkpt(t, cachedRecipe(ds, cache))
	fresh := trainCkpt(t, cachedRecipe(ds, filepath.Join(t.TempDir(), "fresh")))
	if !bytes.Equal(stale, fresh) {
		t.Fatal("after the labels were edited, training on the old cache differs from training on a new one: the cache served the old labels")
	}
	if bytes.Equal(stale, cold) {
		t.Fatal("editing every label did not change training")
	}
}
