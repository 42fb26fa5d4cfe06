package train_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/export"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/lmp"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// The pipeline benchmarks run the whole training or evaluation path on the testdata demo backbone
// (feature "features", 81 channels at stride 8) on synthetic 512x1024 images with 2 threads, and
// report the time per iteration over the time of the backbone's forward pass alone on a batch of
// the same shape, measured in the same benchmark, as "x-backbone". Run them with
//
//	go test -run '^$' -bench Pipeline -benchtime 8x ./train/
//
// LMPSEG_BENCH_BACKBONE and LMPSEG_BENCH_FEATURE put another backbone in the demo's place.
const (
	pipeH, pipeW   = 512, 1024
	pipeBatch      = 2
	pipeThreads    = 2
	pipeTrainFiles = 4
)

// pipeModel returns the backbone of the pipeline benchmarks and its feature: the demo backbone, or
// the model and tensor named by LMPSEG_BENCH_BACKBONE and LMPSEG_BENCH_FEATURE (for a backbone of
// realistic cost, e.g. a torchvision ResNet exported by scripts/zoo.py).
func pipeModel() (path, feature string) {
	if p := os.Getenv("LMPSEG_BENCH_BACKBONE"); p != "" {
		return p, os.Getenv("LMPSEG_BENCH_FEATURE")
	}
	return demoBackbonePath(), "features"
}

func demoBackbonePath() string {
	return filepath.Join(repoRoot(), "testdata", "models", "demo_backbone.onnx")
}

// pipeData generates the synthetic dataset of the pipeline benchmarks (seeded) and opens its
// training split.
func pipeData(b *testing.B) (dir string, ds data.Dataset) {
	b.Helper()
	dir = filepath.Join(b.TempDir(), "ds")
	if err := synth.Generate(dir, synth.Options{Seed: 1, Train: pipeTrainFiles, Val: 2, H: pipeH, W: pipeW}); err != nil {
		b.Fatal(err)
	}
	ds, err := data.Open(filepath.Join(dir, "train"), "", data.Options{Ignore: 255})
	if err != nil {
		b.Fatal(err)
	}
	return dir, ds
}

func pipeBackbone(b *testing.B) *onnx.Backbone {
	b.Helper()
	p, feat := pipeModel()
	bb, err := onnx.OpenBackbone(p, onnx.Options{Feature: feat, Threads: pipeThreads})
	if err != nil {
		b.Fatal(err)
	}
	return bb
}

// pipeAugment is the CLI's default augmentation: scale 0.5..2, a crop of the image size, flip.
func pipeAugment() train.Transform {
	aug := data.Augment{ScaleMin: 0.5, ScaleMax: 2, CropH: pipeH, CropW: pipeW, Flip: true, Ignore: 255, Pad: data.ImageNet.MeanPixel()}
	return func(s *data.Sample, rng *rand.Rand) (*data.Sample, error) { return s, aug.Apply(s, rng) }
}

// pipeStepper is the CLI's default recipe: a linear head, LMP (p 1.7, ratio 0.25), SGD.
func pipeStepper(b *testing.B, inC, classes int) *train.Stepper {
	b.Helper()
	head, err := graph.NewHead(graph.HeadSpec{Kind: "linear", InChannels: inC, Classes: classes}, 1)
	if err != nil {
		b.Fatal(err)
	}
	head.SetThreads(pipeThreads)
	loss, err := lmp.New("lmp", lmp.Options{P: 1.7, Ratio: 0.25})
	if err != nil {
		b.Fatal(err)
	}
	opt, err := train.NewOptimizer(train.OptimConfig{Name: "sgd", Momentum: 0.9, WeightDecay: 5e-4})
	if err != nil {
		b.Fatal(err)
	}
	return &train.Stepper{Head: head, Opt: opt, Loss: loss, Ignore: 255, Seed: 1, Threads: pipeThreads,
		Sched: train.Schedule{Base: 0.01, Total: 1 << 20}}
}

// timeBackbone returns the mean time of k forward passes of bb alone on x.
func timeBackbone(b *testing.B, bb onnx.Features, x []float32, n, h, w, k int) time.Duration {
	b.Helper()
	t0 := time.Now()
	for range k {
		if _, _, err := bb.Run(x, n, h, w); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0) / time.Duration(k)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// cpuTime returns the user plus system CPU time of the process. The development machine is
// shared, so wall-time ratios move with the load; CPU-time ratios ("cpu-x") do not, and on an
// otherwise idle machine they are the floor of the wall-time ratio with the same threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed returns the wall and CPU time of f.
func timed(f func()) (wall, cpu time.Duration) {
	c0, t0 := cpuTime(), time.Now()
	f()
	return time.Since(t0), cpuTime() - c0
}

// BenchmarkTrainPipeline times training iterations through Loop.Do: data loading (PNG decode),
// augmentation, preprocessing and the backbone in onnxruntime prefetched by the loop's producer
// goroutine while the head step (forward, fused upsample + CE, LMP, backward, SGD) runs. Each
// benchmark iteration is one training iteration; the loop runs b.N of them after one warm-up loop.
// Reported: iter-ms (wall time per iteration), backbone-ms (the backbone alone on a batch of the
// same shape), data-ms (decode and augment of a batch alone), step-ms (Stepper.Step alone),
// x-backbone (iter-ms / backbone-ms) and serial-x (the sum of the three parts over backbone-ms,
// what the iteration would cost without any overlap); cpu-x is the process CPU time per iteration
// over that of one backbone pass, and the parts' CPU times are given beside their wall times.
//
// "ImageSource" is train.ImageSource as train.Run uses it; "Recycled" is the same work with the
// input batch and the features written into a ring of buffers (onnx.Backbone.RunInto), which is
// what ImageSource could do: the loop holds at most three batches (the step's, the channel's and
// the one being produced), so a ring of three is never overwritten while in use.
func BenchmarkTrainPipeline(b *testing.B) {
	initORT(b)
	_, ds := pipeData(b)
	b.Run("ImageSource", func(b *testing.B) {
		bb := pipeBackbone(b)
		defer bb.Close()
		trainPipeline(b, ds, bb, &train.ImageSource{DS: ds, Backbone: bb, Pre: data.ImageNet, Transform: pipeAugment(), BatchSize: pipeBatch, Seed: 1})
	})
	b.Run("Recycled", func(b *testing.B) {
		bb := pipeBackbone(b)
		defer bb.Close()
		trainPipeline(b, ds, bb, &recycledSource{ds: ds, bb: bb, aug: pipeAugment()})
	})
}

// recycledSource is ImageSource with a ring of input and feature buffers and a plain sample order
// (sample it*batch+k, no shuffling: the order does not change the cost).
type recycledSource struct {
	ds   data.Dataset
	bb   *onnx.Backbone
	aug  train.Transform
	x    [3][]float32
	feat [3][]float32
}

func (s *recycledSource) Batch(ctx context.Context, it int) (*train.Batch, error) {
	samples := make([]*data.Sample, pipeBatch)
	errs := make([]error, pipeBatch)
	done := make(chan struct{}, pipeBatch)
	for k := range samples {
		go func() {
			defer func() { done <- struct{}{} }()
			g := it*pipeBatch + k
			smp, err := s.ds.Load(g % s.ds.Len())
			if err == nil {
				smp, err = s.aug(smp, train.SampleRNG(1, g/s.ds.Len(), g%s.ds.Len()))
			}
			samples[k], errs[k] = smp, err
		}()
	}
	for range samples {
		<-done
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r := it % len(s.x)
	per := 3 * pipeH * pipeW
	if len(s.x[r]) != pipeBatch*per {
		s.x[r] = make([]float32, pipeBatch*per)
	}
	bt := &train.Batch{H: pipeH, W: pipeW, Labels: make([]int32, 0, pipeBatch*pipeH*pipeW)}
	for k, smp := range samples {
		data.ImageNet.Apply(s.x[r][k*per:(k+1)*per], smp)
		bt.Labels = append(bt.Labels, smp.Label...)
		bt.Names = append(bt.Names, smp.Name)
	}
	f, shape, err := s.bb.RunInto(s.feat[r], s.x[r], pipeBatch, pipeH, pipeW)
	if err != nil {
		return nil, err
	}
	s.feat[r] = f
	if bt.Feat, err = graph.TensorFrom(f, shape); err != nil {
		return nil, err
	}
	return bt, nil
}

// trainPipeline is the body of BenchmarkTrainPipeline for one source.
func trainPipeline(b *testing.B, ds data.Dataset, bb *onnx.Backbone, src train.Source) {
	first, err := src.Batch(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	st := pipeStepper(b, first.Feat.C, len(ds.Classes()))
	run := b.TempDir()
	loop := func(iters int) time.Duration {
		l := &train.Loop{Stepper: st, Source: src, Run: run, Iters: iters, CkptEvery: 1 << 30}
		t0 := time.Now()
		if err := l.Do(context.Background()); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	loop(2) // warm up: thread pools, the session's output shapes, the stepper's buffers
	x := make([]float32, pipeBatch*3*pipeH*pipeW)
	for k := range pipeBatch {
		data.ImageNet.Apply(x[k*3*pipeH*pipeW:(k+1)*3*pipeH*pipeW], &data.Sample{H: pipeH, W: pipeW, Image: make([]float32, 3*pipeH*pipeW)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	var iter time.Duration
	_, iterCPU := timed(func() { iter = loop(b.N) })
	b.StopTimer()
	iter /= time.Duration(b.N)
	k := max(2, min(b.N, 6))
	var bbT time.Duration
	_, bbCPU := timed(func() { bbT = timeBackbone(b, bb, x, pipeBatch, pipeH, pipeW, k) })
	// The parts alone, for what overlaps what.
	aug := pipeAugment()
	c0, t0 := cpuTime(), time.Now()
	for i := range k {
		for s := range pipeBatch {
			smp, err := ds.Load((i*pipeBatch + s) % ds.Len())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := aug(smp, train.SampleRNG(1, 0, s)); err != nil {
				b.Fatal(err)
			}
		}
	}
	dataT, dataCPU := time.Since(t0)/time.Duration(k), (cpuTime()-c0)/time.Duration(k)
	c0, t0 = cpuTime(), time.Now()
	for i := range k {
		if _, err := st.Step(first, i); err != nil {
			b.Fatal(err)
		}
	}
	stepT, stepCPU := time.Since(t0)/time.Duration(k), (cpuTime()-c0)/time.Duration(k)
	bbCPU /= time.Duration(k)
	b.ReportMetric(ms(iter), "iter-ms")
	b.ReportMetric(ms(bbT), "backbone-ms")
	b.ReportMetric(ms(dataT), "data-ms")
	b.ReportMetric(ms(stepT), "step-ms")
	b.ReportMetric(float64(iter)/float64(bbT), "x-backbone")
	b.ReportMetric(float64(dataT+bbT+stepT)/float64(bbT), "serial-x")
	b.ReportMetric(float64(iterCPU)/float64(b.N)/float64(bbCPU), "cpu-x")
	b.ReportMetric(ms(bbCPU), "backbone-cpu-ms")
	b.ReportMetric(ms(dataCPU), "data-cpu-ms")
	b.ReportMetric(ms(stepCPU), "step-cpu-ms")
}

// BenchmarkFeatureCache compares a training batch read from a warm feature cache (CachedSource:
// decode for the content hash, read, float16 to float32) with the same batch computed (decode,
// preprocess, backbone), on the 512x1024 pipeline data. Reported: read-ms, compute-ms,
// speedup (compute over read) and bytes-per-image (the cache's file size per sample).
func BenchmarkFeatureCache(b *testing.B) {
	initORT(b)
	_, ds := pipeData(b)
	bb := pipeBackbone(b)
	defer bb.Close()
	cache, err := train.OpenFeatureCache(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	cached := &train.CachedSource{DS: ds, Backbone: bb, Pre: data.ImageNet, Cache: cache, Split: "train", BatchSize: pipeBatch, Seed: 1}
	direct := &train.ImageSource{DS: ds, Backbone: bb, Pre: data.ImageNet, BatchSize: pipeBatch, Seed: 1}
	iters := (ds.Len() + pipeBatch - 1) / pipeBatch
	for it := range iters { // fill the cache
		if _, err := cached.Batch(context.Background(), it); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := direct.Batch(context.Background(), 0); err != nil { // warm up the session
		b.Fatal(err)
	}
	var read, compute time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		it := i % iters
		t0 := time.Now()
		if _, err := cached.Batch(context.Background(), it); err != nil {
			b.Fatal(err)
		}
		read += time.Since(t0)
		t0 = time.Now()
		if _, err := direct.Batch(context.Background(), it); err != nil {
			b.Fatal(err)
		}
		compute += time.Since(t0)
	}
	b.StopTimer()
	ents, err := os.ReadDir(cache.Dir)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		size += fi.Size()
	}
	b.ReportMetric(ms(read)/float64(b.N), "read-ms")
	b.ReportMetric(ms(compute)/float64(b.N), "compute-ms")
	b.ReportMetric(float64(compute)/float64(read), "speedup")
	b.ReportMetric(float64(size)/float64(len(ents)), "bytes-per-image")
}

// BenchmarkEvalPipelineRun evaluates over the validation images with infer.Evaluate, reporting the
// time per image over the time of the model's onnxruntime forward pass alone on one image
// ("x-backbone", and "cpu-x" in CPU time): "Run" a run folder (train.OpenModel: the demo backbone
// and a linear head trained for one iteration, the head in Go), "Exported" the same run exported
// as one ONNX model (export.Run, logits output), whose forward pass is the whole model.
func BenchmarkEvalPipelineRun(b *testing.B) {
	initORT(b)
	dir, _ := pipeData(b)
	run := filepath.Join(b.TempDir(), "run")
	bbPath, bbFeature := pipeModel()
	rc := &train.Config{
		Backbone: bbPath, Feature: bbFeature, Preprocess: data.ImageNet,
		Data: filepath.Join(dir, "train"), Ignore: 255, Head: graph.HeadSpec{Kind: "linear"},
		Loss:  train.LossConfig{Name: "lmp", Options: lmp.Options{P: 1.7, Ratio: 0.25}},
		Optim: train.OptimConfig{Name: "sgd", Momentum: 0.9}, LR: 0.01, Iters: 1, Batch: 1,
		Scale: [2]float64{1, 1}, Seed: 1, CkptEvery: 1,
	}
	if _, err := train.Run(context.Background(), run, rc, train.Options{Threads: pipeThreads}); err != nil {
		b.Fatal(err)
	}
	val, err := data.Open(filepath.Join(dir, "val"), "", data.Options{Ignore: 255, NumClasses: len(rc.Classes)})
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, 3*pipeH*pipeW)
	b.Run("Run", func(b *testing.B) {
		m, err := train.OpenModel(run, infer.ModelOptions{Threads: pipeThreads})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		bb := m.Predictor.Scorer.(*infer.HeadScorer).Backbone
		evalVsForward(b, m.Predictor, val, len(rc.Classes), func() error { _, _, err := bb.Run(x, 1, pipeH, pipeW); return err })
	})
	b.Run("Exported", func(b *testing.B) {
		out := filepath.Join(b.TempDir(), "model.onnx")
		if _, err := export.Run(run, out, export.Options{}); err != nil {
			b.Fatal(err)
		}
		m, err := infer.OpenModel(out, infer.ModelOptions{Threads: pipeThreads})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		sess := m.Predictor.Scorer.(*infer.ModelScorer).Session
		evalVsForward(b, m.Predictor, val, len(rc.Classes), func() error { _, err := sess.Run(x, 1, 3, pipeH, pipeW); return err })
	})
}

// evalVsForward alternates one Evaluate over val with as many forward passes alone.
func evalVsForward(b *testing.B, p *infer.Predictor, val data.Dataset, classes int, forward func() error) {
	b.Helper()
	evalOnce := func() {
		if _, _, err := infer.Evaluate(context.Background(), p, val, classes, infer.EvalOptions{Ignore: 255, Workers: pipeThreads}); err != nil {
			b.Fatal(err)
		}
	}
	evalOnce()
	var ev, fw, evCPU, fwCPU time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w, c := timed(evalOnce)
		ev, evCPU = ev+w, evCPU+c
		w, c = timed(func() {
			for range val.Len() {
				if err := forward(); err != nil {
					b.Fatal(err)
				}
			}
		})
		fw, fwCPU = fw+w, fwCPU+c
	}
	b.StopTimer()
	n := float64(b.N * val.Len())
	b.ReportMetric(ms(ev)/n, "image-ms")
	b.ReportMetric(ms(fw)/n, "backbone-ms")
	b.ReportMetric(float64(ev)/float64(fw), "x-backbone")
	b.ReportMetric(float64(evCPU)/float64(fwCPU), "cpu-x")
}
