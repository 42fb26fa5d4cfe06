//go:build unix

package lift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// The benchmarks of this file do what scripts/bench_lift_torch.py does in
// PyTorch, so that the two can be compared at the same thread count; see
// docs/performance.md, "Lifted decoder".

// deepLabHeadModel returns torchvision's DeepLabV3-MobileNetV3-Large
// classifier as torch.onnx writes it in inference mode (batch norms folded
// into the convolutions, no dropout), behind a stand-in backbone (a 1x1
// convolution of stride 16 from the image to 960 channels), and the name
// of the backbone's output.
func deepLabHeadModel() (*onnx.Model, string) {
	b := newMB(14)
	feat := b.conv("image", 3, 960, convOpt{k: 1, stride: 16, bias: true})
	cr := func(x string, cin, cout int, o convOpt) string {
		o.bias = true
		return b.node("Relu", []string{b.conv(x, cin, cout, o)})
	}
	br := []string{cr(feat, 960, 256, convOpt{k: 1})}
	for _, d := range []int{12, 24, 36} {
		br = append(br, cr(feat, 960, 256, convOpt{k: 3, pad: d, dil: d}))
	}
	pool := cr(b.node("GlobalAveragePool", []string{feat}), 960, 256, convOpt{k: 1})
	br = append(br, b.resizeTo(pool, feat, "linear", "pytorch_half_pixel"))
	x := cr(b.node("Concat", br, onnx.AttrInt("axis", 1)), 1280, 256, convOpt{k: 1})
	x = cr(x, 256, 256, convOpt{k: 3, pad: 1})
	return b.model(b.conv(x, 256, 21, convOpt{k: 1, bias: true})), feat
}

// heapPeak samples every 5 ms, until stop is called, the bytes of heap
// objects (live and garbage not yet swept) and the bytes the last
// collection found live; stop returns the largest value of each (a
// sampler that woke more often would preempt the benchmark's goroutines
// at one thread noticeably).
func heapPeak() (stop func() (objects, live uint64)) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var objects, live uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			objects = max(objects, s[0].Value.Uint64())
			live = max(live, s[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return objects, live
	}
}

// cpuTime returns the user and system time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchThreads runs step as sub-benchmarks threads=1 and threads=2, with
// GOMAXPROCS set to the thread count (PyTorch's torch.set_num_threads),
// after one untimed warm-up step, and reports the CPU milliseconds per
// step, the peak heap in MB (objects, garbage not yet collected included)
// and the peak of what the collections found live.
func benchThreads(b *testing.B, setThreads func(int), step func()) {
	for _, t := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(t))
			setThreads(t)
			step()
			runtime.GC()
			stop := heapPeak()
			c0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				step()
			}
			b.StopTimer()
			cpu := cpuTime() - c0
			objects, live := stop()
			b.ReportMetric(float64(objects)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(live)/(1<<20), "peak-live-MB")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkLiftDeepLabHead measures a training step (forward, then
// backward with a fixed output gradient) of the lifted DeepLabV3 head on
// a 1x960x64x128 feature, 1/16 of 1024x2048, up to its class scores
// (DropFinalResize), at 1 and 2 threads: /Go builds the folded head with
// the tests' model builder, /Zoo lifts torchvision's own exported model
// from $LMPSEG_ZOO (skipped without it).
func BenchmarkLiftDeepLabHead(b *testing.B) {
	run := func(b *testing.B, m *onnx.Model, from string) {
		net, err := Lift(m, from, Options{Output: "", H: 1024, W: 2048, DropFinalResize: true})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		x := graph.NewTensor(1, 960, 64, 128)
		copy(x.Data, randData(rng, len(x.Data)))
		y := net.Forward(x, false)
		if y.C != 21 || y.H != 64 || y.W != 128 {
			b.Fatalf("head output %dx%dx%dx%d, want 1x21x64x128", y.N, y.C, y.H, y.W)
		}
		dy := graph.NewTensor(y.N, y.C, y.H, y.W)
		copy(dy.Data, randData(rng, len(dy.Data)))
		benchThreads(b, net.SetThreads, func() {
			net.ZeroGrad()
			net.Forward(x, true)
			net.Backward(dy)
		})
	}
	b.Run("Go", func(b *testing.B) {
		m, from := deepLabHeadModel()
		run(b, m, from)
	})
	b.Run("Zoo", func(b *testing.B) {
		dir := os.Getenv("LMPSEG_ZOO")
		if dir == "" {
			b.Skip("LMPSEG_ZOO is not set")
		}
		m, err := onnx.Load(filepath.Join(dir, "deeplabv3_mobilenet_v3_large_opset17_dyn.onnx"))
		if err != nil {
			b.Skip(err)
		}
		run(b, m, zooFrom(m.Proto.GetGraph()))
	})
}

// BenchmarkDilatedConv measures forward and backward (weights, bias and
// input) of a 3x3 convolution 256->256 with dilation and padding 12 (the
// first ASPP rate) on 1x256x128x256, at 1 and 2 threads.
func BenchmarkDilatedConv(b *testing.B) {
	c := graph.NewGConv2d("aspp", graph.ConvSpec{InC: 256, OutC: 256, Groups: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1,
		PadT: 12, PadL: 12, PadB: 12, PadR: 12, DilH: 12, DilW: 12, Bias: true})
	rng := rand.New(rand.NewPCG(1, 1))
	copy(c.Weight.Data, randData(rng, len(c.Weight.Data)))
	for i := range c.Weight.Data {
		c.Weight.Data[i] *= float32(math.Sqrt(2.0 / (256 * 9)))
	}
	copy(c.Bias.Data, randData(rng, len(c.Bias.Data)))
	x := graph.NewTensor(1, 256, 128, 256)
	copy(x.Data, randData(rng, len(x.Data)))
	dy := graph.NewTensor(1, 256, 128, 256)
	copy(dy.Data, randData(rng, len(dy.Data)))
	benchThreads(b, func(t int) { c.Threads = t }, func() {
		clear(c.Weight.Grad)
		clear(c.Bias.Grad)
		c.Forward(x, true)
		c.Backward(dy)
	})
}
