package infer_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/internal/synth"
	"github.com/lmpseg/lmpseg/onnx"
)

// The evaluation pipeline benchmark: infer.Evaluate over synthetic 512x1024 images on the testdata
// demo backbone with 2 threads, reported as the time per image over the time of the model's
// onnxruntime forward pass alone on one image of that size ("x-backbone"), measured in the same
// benchmark; "cpu-x" is the same ratio in process CPU time, which the load of a shared machine
// does not move. Run it with
//
//	go test -run '^$' -bench EvalPipeline -benchtime 4x ./infer/
const (
	evalH, evalW = 512, 1024
	evalImages   = 4
	evalThreads  = 2
	evalBackbone = "demo_backbone.onnx"
	evalFeature  = "features"
	evalHeadSeed = 1
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvalPipeline evaluates N images with a Go head on the backbone's features
// (HeadScorer: the run-folder path, a linear head on "features") and with the whole model in
// onnxruntime (ModelScorer through infer.OpenModel: the demo model's class scores at stride 8, as
// an exported model gives them). The baseline of each is its own onnxruntime forward pass: the
// backbone to "features", the whole model.
func BenchmarkEvalPipeline(b *testing.B) {
	if _, err := onnx.InitRuntime(""); errors.Is(err, onnx.ErrNoRuntime) {
		b.Skipf("%v", err)
	} else if err != nil {
		b.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	model := filepath.Join(filepath.Dir(file), "..", "testdata", "models", evalBackbone)
	dir := filepath.Join(b.TempDir(), "ds")
	if err := synth.Generate(dir, synth.Options{Seed: 1, Train: 1, Val: evalImages, H: evalH, W: evalW}); err != nil {
		b.Fatal(err)
	}
	val, err := data.Open(filepath.Join(dir, "val"), "", data.Options{Ignore: 255})
	if err != nil {
		b.Fatal(err)
	}
	classes := len(val.Classes())
	b.Run("HeadScorer", func(b *testing.B) {
		bb, err := onnx.OpenBackbone(model, onnx.Options{Feature: evalFeature, Threads: evalThreads})
		if err != nil {
			b.Fatal(err)
		}
		defer bb.Close()
		x := make([]float32, 3*evalH*evalW)
		_, shape, err := bb.Run(x, 1, evalH, evalW)
		if err != nil {
			b.Fatal(err)
		}

		head, err := graph.NewHead(graph.HeadSpec{Kind: "linear", InChannels: int(shape[1]), Classes: classes}, evalHeadSeed)
		if err != nil {
			b.Fatal(err)
		}
		head.SetThreads(evalThreads)
		p := &infer.Predictor{Scorer: &infer.HeadScorer{Backbone: bb, Head: head}, Pre: data.ImageNet}
		evalBench(b, p, val, classes, func() error { _, _, err := bb.Run(x, 1, evalH, evalW); return err })
	})
	b.Run("Model", func(b *testing.B) {
		m, err := infer.OpenModel(model, infer.ModelOptions{Threads: evalThreads})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		sess := m.Predictor.Scorer.(*infer.ModelScorer).Session
		x := make([]float32, 3*evalH*evalW)
		evalBench(b, m.Predictor, val, classes, func() error { _, err := sess.Run(x, 1, 3, evalH, evalW); return err })
	})
}

// evalBench alternates one Evaluate over ds with as many forward passes alone and reports the
// ratios.
func evalBench(b *testing.B, p *infer.Predictor, ds data.Dataset, classes int, forward func() error) {
	b.Helper()
	eval := func() {
		if _, _, err := infer.Evaluate(context.Background(), p, ds, classes, infer.EvalOptions{Ignore: 255, Workers: evalThreads}); err != nil {
			b.Fatal(err)
		}
	}
	eval() // warm up
	var ev, fw, evCPU, fwCPU time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c0, t0 := cpuNow(), time.Now()
		eval()
		ev, evCPU = ev+time.Since(t0), evCPU+cpuNow()-c0
		c0, t0 = cpuNow(), time.Now()
		for range ds.Len() {
			if err := forward(); err != nil {
				b.Fatal(err)
			}
		}
		fw, fwCPU = fw+time.Since(t0), fwCPU+cpuNow()-c0
	}
	b.StopTimer()
	n := float64(b.N * ds.Len())
	b.ReportMetric(float64(ev)/n/1e6, "image-ms")
	b.ReportMetric(float64(fw)/n/1e6, "backbone-ms")
	b.ReportMetric(float64(ev)/float64(fw), "x-backbone")
	b.ReportMetric(float64(evCPU)/float64(fwCPU), "cpu-x")
}
