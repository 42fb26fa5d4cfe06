package onnx

import (
	"path/filepath"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// benchModel writes a small conv net ending at stride 8 and returns its
// path; both the runner and the bare session open this same file.
func benchModel(b *testing.B) string {
	b.Helper()
	needRuntime(b)
	m := &Model{Proto: buildNet(netSpec{channels: []int{16, 32, 64}})}
	cut, err := Cut(m, "stage3")
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "bench.onnx")
	if err := cut.Save(p); err != nil {
		b.Fatal(err)
	}
	return p
}

var benchSizes = []struct {
	name string
	h, w int
}{{"Small", 64, 128}, {"Large", 256, 512}}

// bareSession is the baseline: onnxruntime_go used directly.
type bareSession struct {
	s *ort.DynamicAdvancedSession
}

func openBare(b *testing.B, p string, threads int) *bareSession {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			b.Fatal(err)
		}
	}
	// As the runner's sessions (Options.Spin false).
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		b.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSession(p, []string{"image"}, []string{"stage3"}, opts)
	if err != nil {
		b.Fatal(err)
	}
	return &bareSession{s}
}

func (s *bareSession) run(b *testing.B, x []float32, h, w int) []float32 {
	in, err := ort.NewTensor(ort.NewShape(1, 3, int64(h), int64(w)), x)
	if err != nil {
		b.Fatal(err)
	}
	outs := []ort.Value{nil}
	if err := s.s.Run([]ort.Value{in}, outs); err != nil {
		b.Fatal(err)
	}
	d := outs[0].(*ort.Tensor[float32]).GetData()
	in.Destroy()
	outs[0].Destroy()
	return d
}

func BenchmarkBackbone(b *testing.B) {
	p := benchModel(b)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			bb, err := OpenBackbone(p, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer bb.Close()
			x := ramp(3 * sz.h * sz.w)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := bb.Run(x, 1, sz.h, sz.w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBareSession(b *testing.B) {
	p := benchModel(b)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			s := openBare(b, p, 0)
			defer s.s.Destroy()
			x := ramp(3 * sz.h * sz.w)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.run(b, x, sz.h, sz.w)
			}
		})
	}
}

// BenchmarkBackboneOverhead alternates runner and bare calls on the same
// model and input in one run and reports the runner's time over the bare
// session's as "ratio" (1.05 is 5% overhead). The T1 variants run both
// with one intra-op thread, which isolates the per-call overhead from
// thread-pool scheduling noise on a busy machine.
func BenchmarkBackboneOverhead(b *testing.B) {
	p := benchModel(b)
	for _, sz := range benchSizes {
		for _, threads := range []int{0, 1} {
			name := sz.name
			if threads == 1 {
				name += "T1"
			}
			b.Run(name, func(b *testing.B) { overhead(b, p, sz.h, sz.w, threads) })
		}
	}
}

func overhead(b *testing.B, p string, h, w, threads int) {
	bb, err := OpenBackbone(p, Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	s := openBare(b, p, threads)
	defer s.s.Destroy()
	x := ramp(3 * h * w)
	// Warm both up and check they agree.
	f, _, err := bb.Run(x, 1, h, w)
	if err != nil {
		b.Fatal(err)
	}
	if d := maxAbsDiff(f, s.run(b, x, h, w)); d != 0 {
		b.Fatalf("runner and bare session differ by %g", d)
	}
	var tRunner, tBare time.Duration
	b.ResetTimer()
	runner := func() {
		t0 := time.Now()
		if _, _, err := bb.Run(x, 1, h, w); err != nil {
			b.Fatal(err)
		}
		tRunner += time.Since(t0)
	}
	bare := func() {
		t0 := time.Now()
		s.run(b, x, h, w)
		tBare += time.Since(t0)
	}
	for i := 0; i < b.N; i++ {
		// Swap the order every iteration so that neither side
		// always follows the other (thread pools spin after a run).
		if i%2 == 0 {
			runner()
			bare()
		} else {
			bare()
			runner()
		}
	}
	b.ReportMetric(float64(tRunner)/float64(tBare), "ratio")
	b.ReportMetric(float64(tRunner.Nanoseconds())/float64(b.N), "runner-ns/op")
	b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "bare-ns/op")
}

// BenchmarkBackboneEarly compares a backbone reading an early tensor of a
// 12-layer chain (relu2, after 3 of its 13 convolutions) with one reading
// its final output, alternating calls on the same input, and reports the
// time of the early one over the final one as "early/output". Since the
// session runs only what feeds its feature, it should be near 3/13, and
// below 0.5.
func BenchmarkBackboneEarly(b *testing.B) {
	needRuntime(b)
	p := writeModel(b, b.TempDir(), "deep.onnx", deepNet(12, 16, false))
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			early, err := OpenBackbone(p, Options{Feature: "relu2"})
			if err != nil {
				b.Fatal(err)
			}
			defer early.Close()
			final, err := OpenBackbone(p, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer final.Close()
			x := ramp(3 * sz.h * sz.w)
			var tEarly, tFinal time.Duration
			run := func(bb *Backbone, d *time.Duration) {
				t0 := time.Now()
				if _, _, err := bb.Run(x, 1, sz.h, sz.w); err != nil {
					b.Fatal(err)
				}
				*d += time.Since(t0)
			}
			run(early, new(time.Duration))
			run(final, new(time.Duration))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					run(early, &tEarly)
					run(final, &tFinal)
				} else {
					run(final, &tFinal)
					run(early, &tEarly)
				}
			}
			b.ReportMetric(float64(tEarly)/float64(tFinal), "early/output")
		})
	}
}

// demoBackbone is the project's realistic test backbone and its feature.
func demoBackbone(b *testing.B) string {
	b.Helper()
	needRuntime(b)
	p, err := filepath.Abs(filepath.Join("..", "testdata", "models", "demo_backbone.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkBackboneRun runs the demo backbone (feature "features") on a
// batch of 2 images, Small 128x256 and Large 512x1024, with -benchmem
// figures per run: "Run" returns features in new memory every call,
// "RunInto" writes them into the caller's buffer of the last call.
func BenchmarkBackboneRun(b *testing.B) {
	p := demoBackbone(b)
	for _, sz := range []struct {
		name string
		h, w int
	}{{"Small", 128, 256}, {"Large", 512, 1024}} {
		for _, mode := range []string{"Run", "RunInto"} {
			b.Run(sz.name+"/"+mode, func(b *testing.B) {
				bb, err := OpenBackbone(p, Options{Feature: "features", Threads: 2})
				if err != nil {
					b.Fatal(err)
				}
				defer bb.Close()
				const n = 2
				x := ramp(n * 3 * sz.h * sz.w)
				var dst []float32
				run := func() {
					var f []float32
					var err error
					if mode == "RunInto" {
						f, _, err = bb.RunInto(dst, x, n, sz.h, sz.w)
						dst = f
					} else {
						f, _, err = bb.Run(x, n, sz.h, sz.w)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				run()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					run()
				}
			})
		}
	}
}
