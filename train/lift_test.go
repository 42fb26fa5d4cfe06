package train_test

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/export"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/internal/modelgen"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/lmp"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// liftFixture writes tiny_two_branch (an LR-ASPP-like decoder reading feat_s4 and feat_s2) with
// the synthetic data's class count, and that data.
func liftFixture(t *testing.T) (model, ds string) {
	t.Helper()
	dir := t.TempDir()
	ds = filepath.Join(dir, "ds")
	if err := synth.Generate(ds, synth.Options{Seed: 3, Train: 6, Val: 2, H: 64, W: 128}); err != nil {
		t.Fatal(err)
	}
	classes, err := data.Open(filepath.Join(ds, "train"), "", data.Options{Ignore: 255})
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "two_branch.onnx")
	if err := modelgen.WriteFile(model, modelgen.TinyTwoBranch(len(classes.Classes()))); err != nil {
		t.Fatal(err)
	}
	return model, ds
}

func liftRecipe(model, ds string, iters int) *train.Config {
	return &train.Config{
		Backbone: model, Preprocess: data.ImageNet, Data: filepath.Join(ds, "train"), ValData: filepath.Join(ds, "val"), Ignore: 255,
		Lift: &train.LiftConfig{From: "feat_s4", LRMult: 0.1}, Loss: train.LossConfig{Name: "lmp", Options: lmp.Options{P: 1.7, Ratio: 0.25}},
		Optim: train.OptimConfig{Name: "sgd", Momentum: 0.9, WeightDecay: 1e-4}, LR: 0.05, Iters: iters, Batch: 2,
		Crop: [2]int{48, 96}, Scale: [2]float64{0.75, 1.25}, Flip: true, Seed: 7, ValEvery: 4, CkptEvery: 3,
	}
}

// TestLiftedResume trains the lifted two-input decoder (packed features, a batch norm in training
// mode) without a stop and stopped after 5 iterations and resumed: with one thread the checkpoints
// and the loss log are identical byte for byte. Training changes the checkpoint, and --lr-lifted
// changes the result, so the comparison has something to see.
func TestLiftedResume(t *testing.T) {
	initORT(t)
	model, ds := liftFixture(t)
	const iters = 8
	a := filepath.Join(t.TempDir(), "a")
	rc := liftRecipe(model, ds, iters)
	if _, err := train.Run(context.Background(), a, rc, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"feat_s4", "feat_s2"}; !slices.Equal(rc.Lift.Inputs, want) {
		t.Fatalf("lifted inputs %v, want %v", rc.Lift.Inputs, want)
	}
	if rc.Head.Kind != train.LiftedKind || rc.Feature != "feat_s4" {
		t.Fatalf("recipe records head %+v on %q", rc.Head, rc.Feature)
	}
	b := filepath.Join(t.TempDir(), "b")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := train.Run(ctx, b, liftRecipe(model, ds, iters), train.Options{Threads: 1, Progress: &stopAt{done: 5, cancel: cancel}})
	if err == nil {
		t.Fatal("the stopped run finished")
	}
	if it := train.CheckpointIter(b); it != 5 {
		t.Fatalf("stopped at iteration %d, want 5", it)
	}
	if _, err := train.Run(context.Background(), b, liftRecipe(model, ds, iters), train.Options{Threads: 1, Resume: true}); err != nil {
		t.Fatal(err)
	}
	sameRunFiles(t, a, b, "the uninterrupted and the resumed lifted run")
	z := filepath.Join(t.TempDir(), "zero")
	if _, err := train.Run(context.Background(), z, liftRecipe(model, ds, 0), train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(t.TempDir(), "mult")
	rm := liftRecipe(model, ds, iters)
	rm.Lift.LRMult = 1
	if _, err := train.Run(context.Background(), m, rm, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	last := func(dir string) []byte {
		ck, err := train.LoadCheckpoint(filepath.Join(dir, train.LastCkpt))
		if err != nil {
			t.Fatal(err)
		}
		return ck.Head
	}
	if bytes.Equal(last(a), last(z)) {
		t.Error("8 iterations left the lifted decoder as it was")
	}
	if bytes.Equal(last(a), last(m)) {
		t.Error("--lr-lifted 0.1 and 1 trained the same decoder")
	}
}

// TestLiftedItersZero exports a run of 0 iterations of the model's own decoder (its classes, the
// classifier kept) and checks that the exported model reproduces the original: the same argmax on
// at least 99.99% of pixels and logits within the parity tolerance.
func TestLiftedItersZero(t *testing.T) {
	initORT(t)
	model, ds := liftFixture(t)
	run := filepath.Join(t.TempDir(), "run")
	rc := liftRecipe(model, ds, 0)
	if _, err := train.Run(context.Background(), run, rc, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model.onnx")
	if _, err := export.Run(run, out, export.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	const h, w = 72, 136
	x := make([]float32, 3*h*w)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37) + 0.5*math.Cos(float64(i%w)*0.11))
	}
	score := func(path string) []float32 {
		s, err := onnx.OpenSession(path, onnx.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		outs, err := s.Run(x, 1, 3, h, w)
		if err != nil {
			t.Fatal(err)
		}
		return outs[0].Data
	}
	want, got := score(model), score(out)
	if len(want) != len(got) {
		t.Fatalf("the original gives %d values, the export %d", len(want), len(got))
	}
	k := len(rc.Classes)
	var maxAbs, scale float64
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	same := 0
	for p := 0; p < h*w; p++ {
		a, b := 0, 0
		for c := 1; c < k; c++ {
			if want[c*h*w+p] > want[a*h*w+p] {
				a = c
			}
			if got[c*h*w+p] > got[b*h*w+p] {
				b = c
			}
		}
		if a == b {
			same++
		}
	}
	rel, agree := maxAbs/math.Max(1, scale), float64(same)/float64(h*w)
	t.Logf("exported vs original: max relative logit difference %.3g, argmax agreement %.6f", rel, agree)
	if !(rel <= 1e-4) || agree < 0.9999 {
		t.Errorf("the exported model does not reproduce the original: relative difference %.3g, argmax agreement %.6f", rel, agree)
	}
}

// TestLiftedCache trains the two-input decoder on the feature cache, which keeps both tensors
// packed: a cold and a warm cache train identically, and the cache key differs from the one of
// the first tensor alone (a head on feat_s4 fills its own entries).
func TestLiftedCache(t *testing.T) {
	initORT(t)
	model, ds := liftFixture(t)
	cache := filepath.Join(t.TempDir(), "cache")
	rc := func() *train.Config {
		r := liftRecipe(model, ds, 4)
		r.Crop, r.Scale, r.Flip = [2]int{}, [2]float64{1, 1}, false
		r.CacheFeatures, r.CacheDir = true, cache
		return r
	}
	runs := []string{filepath.Join(t.TempDir(), "cold"), filepath.Join(t.TempDir(), "warm")}
	for _, dir := range runs {
		if _, err := train.Run(context.Background(), dir, rc(), train.Options{Threads: 1}); err != nil {
			t.Fatal(err)
		}
	}
	sameRunFiles(t, runs[0], runs[1], "the cold- and the warm-cache lifted run")
	keys, _ := filepath.Glob(filepath.Join(cache, "*"))
	head := liftRecipe(model, ds, 2)
	head.Lift, head.Head, head.Feature = nil, graph.HeadSpec{Kind: "linear"}, "feat_s4"
	head.Crop, head.Scale, head.Flip = [2]int{}, [2]float64{1, 1}, false
	head.CacheFeatures, head.CacheDir = true, cache
	if _, err := train.Run(context.Background(), filepath.Join(t.TempDir(), "head"), head, train.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	if after, _ := filepath.Glob(filepath.Join(cache, "*")); len(keys) != 1 || len(after) != 2 {
		t.Errorf("cache keys: %d after the lifted runs, %d after a head on feat_s4; want 1 and 2", len(keys), len(after))
	}
}

// TestLiftedScoresOutput lifts the decoder of models that end in a softmax or an argmax (a
// label map cast to uint8): the decoder ends at the class scores those are computed from.
func TestLiftedScoresOutput(t *testing.T) {
	initORT(t)
	_, ds := liftFixture(t)
	for _, c := range []struct {
		name string
		tail func(g *pb.GraphProto) string
	}{
		{"softmax", func(g *pb.GraphProto) string {
			g.Node = append(g.Node, onnx.Node("Softmax", "sm", []string{"out"}, []string{"probs"}, onnx.AttrInt("axis", 1)))
			return "probs"
		}},
		{"argmax cast", func(g *pb.GraphProto) string {
			g.Node = append(g.Node, onnx.Node("ArgMax", "am", []string{"out"}, []string{"lab64"}, onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", 1)),
				onnx.Node("Cast", "cast", []string{"lab64"}, []string{"labels"}, onnx.AttrInt("to", int64(pb.TensorProto_UINT8))))
			return "labels"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := modelgen.TinyDynS4()
			out := c.tail(m.Graph)
			m.Graph.Output = []*pb.ValueInfoProto{onnx.ValueInfo(out, pb.TensorProto_FLOAT, "batch", "classes", "height", "width")}
			path := filepath.Join(t.TempDir(), "model.onnx")
			if err := modelgen.WriteFile(path, m); err != nil {
				t.Fatal(err)
			}
			rc := liftRecipe(path, ds, 2)
			rc.ValData = ""
			if _, err := train.Run(context.Background(), filepath.Join(t.TempDir(), "run"), rc, train.Options{Threads: 1}); err != nil {
				t.Fatal(err)
			}
			if rc.Lift.Output != "out" {
				t.Errorf("the decoder ends at %q, want the scores %q", rc.Lift.Output, "out")
			}
		})
	}
}
