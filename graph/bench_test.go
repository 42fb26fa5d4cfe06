package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

type stepSize struct {
	name             string
	n, c, h, w, H, W int
	classes          int
}

var stepSizes = []stepSize{
	{"Small", 1, 64, 32, 64, 256, 512, 19},
	{"Cityscapes", 1, 256, 128, 256, 1024, 2048, 19},
}

type stepData struct {
	x      *Tensor
	labels []int32
	ce, pr []float32
	coef   []float32
	ex     Exec // the thread count of the loss and resize kernels
}

func newStepData(s stepSize) *stepData {
	rng := rand.New(rand.NewPCG(1, 1))
	d := &stepData{x: randTensor(rng, s.n, s.c, s.h, s.w, 1)}
	np := s.n * s.H * s.W
	d.labels = randLabels(rng, np, s.classes, 0.05, 255)
	d.ce = make([]float32, np)
	d.pr = make([]float32, np)
	d.coef = make([]float32, np)
	return d
}

// uniformCoef stands in for the lmp package: the mean over valid pixels.
func uniformCoef(coef []float32, labels []int32, ignore int32) {
	valid := 0
	for _, l := range labels {
		if l != ignore {
			valid++
		}
	}
	for i, l := range labels {
		if l != ignore && valid > 0 {
			coef[i] = 1 / float32(valid)
		} else {
			coef[i] = 0
		}
	}
}

func fusedStep(h *Head, d *stepData, H, W int) {
	z := h.Forward(d.x, true)
	d.ex.PixelCE(d.ce, d.pr, z, d.labels, H, W, 255)
	uniformCoef(d.coef, d.labels, 255)
	dz := NewTensor(z.N, z.C, z.H, z.W)
	d.ex.PixelCEBackward(dz, z, d.labels, d.coef, H, W, 255)
	h.ZeroGrad()
	h.Backward(dz)
}

// naiveStep materialises the full-resolution logits and their gradient.
func naiveStep(h *Head, d *stepData, H, W int) {
	z := h.Forward(d.x, true)
	up := NewTensor(z.N, z.C, H, W)
	d.ex.ResizeBilinear(up, z)
	hw := H * W
	c := z.C
	parallel(threadsOr(d.ex.Threads), z.N*hw, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			n, p := i/hw, i%hw
			l := d.labels[i]
			if l == 255 {
				d.ce[i], d.pr[i] = 0, 1
				continue
			}
			base := n*c*hw + p
			m := up.Data[base]
			for k := 1; k < c; k++ {
				m = max(m, up.Data[base+k*hw])
			}
			var s float32
			for k := 0; k < c; k++ {
				s += exp32(up.Data[base+k*hw] - m)
			}
			zl := up.Data[base+int(l)*hw] - m
			d.ce[i] = float32(logf64(s)) - zl
			d.pr[i] = exp32(zl) / s
		}
	})
	uniformCoef(d.coef, d.labels, 255)
	// up becomes its own gradient in place.
	parallel(Threads(), z.N*hw, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			n, p := i/hw, i%hw
			l := d.labels[i]
			base := n*c*hw + p
			if l == 255 {
				for k := 0; k < c; k++ {
					up.Data[base+k*hw] = 0
				}
				continue
			}
			m := up.Data[base]
			for k := 1; k < c; k++ {
				m = max(m, up.Data[base+k*hw])
			}
			var s float32
			for k := 0; k < c; k++ {
				e := exp32(up.Data[base+k*hw] - m)
				up.Data[base+k*hw] = e
				s += e
			}
			inv := d.coef[i] / s
			for k := 0; k < c; k++ {
				up.Data[base+k*hw] *= inv
			}
			up.Data[base+int(l)*hw] -= d.coef[i]
		}
	})
	dz := NewTensor(z.N, z.C, z.H, z.W)
	d.ex.ResizeBilinearBackward(dz, up)
	h.ZeroGrad()
	h.Backward(dz)
}

// heapInUse returns the bytes of heap spans in use (HeapInuse), read
// without stopping the world.
func heapInUse() uint64 {
	ss := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(ss)
	return ss[0].Value.Uint64() + ss[1].Value.Uint64()
}

// heapPeak samples heapInUse every millisecond until stop is called and
// returns the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		if v := heapInUse(); v > peak.Load() {
			peak.Store(v)
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		return peak.Load()
	}
}

// cpuTime returns the user plus system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchStep(b *testing.B, s stepSize, threads int, step func(*Head, *stepData, int, int)) {
	if threads == 1 {
		// gonum's GEMM spawns its own goroutines up to GOMAXPROCS.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	h, err := NewHead(HeadSpec{Kind: "linear", InChannels: s.c, Classes: s.classes}, 1)
	if err != nil {
		b.Fatal(err)
	}
	h.SetThreads(threads)
	d := newStepData(s)
	d.ex = Exec{Threads: threads}
	runtime.GC()
	base := heapInUse()
	stop := heapPeak()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step(h, d, s.H, s.W)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	peak := stop()
	// CPU time is reported beside wall time because the development machine
	// is shared: with one thread it is the kernel's own cost.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(peak)/(1<<20), "MB-peak")
	b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "MB-step")
}

func BenchmarkStepFused(b *testing.B) {
	for _, s := range stepSizes {
		for _, t := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, t), func(b *testing.B) { benchStep(b, s, t, fusedStep) })
		}
	}
}

func BenchmarkStepNaive(b *testing.B) {
	for _, s := range stepSizes {
		for _, t := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, t), func(b *testing.B) { benchStep(b, s, t, naiveStep) })
		}
	}
}

// BenchmarkParts times the pieces of the fused step separately.
func BenchmarkParts(b *testing.B) {
	for _, s := range stepSizes {
		for _, t := range []int{1, runtime.GOMAXPROCS(0)} {
			setup := func(b *testing.B) (*Head, *stepData, *Tensor, *Tensor) {
				h, _ := NewHead(HeadSpec{Kind: "linear", InChannels: s.c, Classes: s.classes}, 1)
				h.SetThreads(t)
				d := newStepData(s)
				d.ex = Exec{Threads: t}
				z := h.Forward(d.x, true)
				uniformCoef(d.coef, d.labels, 255)
				return h, d, z, NewTensor(z.N, z.C, z.H, z.W)
			}
			run := func(name string, f func(h *Head, d *stepData, z, dz *Tensor)) {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", name, s.name, t), func(b *testing.B) {
					if t == 1 {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
					}
					h, d, z, dz := setup(b)
					cpu0 := cpuTime()
					b.ResetTimer()
					for b.Loop() {
						f(h, d, z, dz)
					}
					b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
				})
			}
			run("HeadForward", func(h *Head, d *stepData, z, dz *Tensor) { h.Forward(d.x, true) })
			run("PixelCE", func(h *Head, d *stepData, z, dz *Tensor) { d.ex.PixelCE(d.ce, d.pr, z, d.labels, s.H, s.W, 255) })
			run("PixelCEBackward", func(h *Head, d *stepData, z, dz *Tensor) {
				d.ex.PixelCEBackward(dz, z, d.labels, d.coef, s.H, s.W, 255)
			})
			run("HeadBackward", func(h *Head, d *stepData, z, dz *Tensor) { h.Backward(dz) })
		}
	}
}

// TestStepFusedMatchesNaive checks that the two benchmarked steps compute
// the same losses and gradients, so that the benchmarks compare equal work.
func TestStepFusedMatchesNaive(t *testing.T) {
	s := stepSize{"tiny", 2, 8, 8, 16, 64, 128, 5}
	hf, _ := NewHead(HeadSpec{Kind: "linear", InChannels: s.c, Classes: s.classes}, 1)
	hn, _ := NewHead(HeadSpec{Kind: "linear", InChannels: s.c, Classes: s.classes}, 1)
	df, dn := newStepData(s), newStepData(s)
	// Whole ignored cells exercise the skip path.
	for i := 0; i < 3*s.W; i++ {
		df.labels[i], dn.labels[i] = 255, 255
	}
	fusedStep(hf, df, s.H, s.W)
	naiveStep(hn, dn, s.H, s.W)
	if d := maxAbsDiff(df.ce, dn.ce); d > 1e-5 {
		t.Errorf("CE differs by %g", d)
	}
	if d := maxAbsDiff(df.pr, dn.pr); d > 1e-5 {
		t.Errorf("probabilities differ by %g", d)
	}
	for i, p := range hf.Params() {
		q := hn.Params()[i]
		var scale float64
		for _, v := range q.Grad {
			scale = max(scale, math.Abs(float64(v)))
		}
		if d := maxAbsDiff(p.Grad, q.Grad); d > 1e-4*max(1e-3, scale) {
			t.Errorf("%s gradient differs by %g", p.Name, d)
		}
	}
}
