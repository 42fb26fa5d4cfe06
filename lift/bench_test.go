package lift

import (
	"math/rand/v2"
	"testing"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// BenchmarkNet measures the lifted ASPP-like miniature: inference
// forward, a training forward and backward, and, as the baseline for the
// ratios, onnxruntime running the same tail (Net.Model) with one thread.
func BenchmarkNet(b *testing.B) {
	for _, sz := range []struct {
		name string
		h, w int
	}{{"Small", 32, 40}, {"Large", 128, 160}} {
		m, from, _ := asppModel()
		net, err := Lift(m, from, Options{H: sz.h, W: sz.w, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		x := graph.NewTensor(2, 12, sz.h/4, sz.w/4)
		copy(x.Data, randData(rng, len(x.Data)))
		b.Run(sz.name+"/forward", func(b *testing.B) {
			for b.Loop() {
				net.Forward(x, false)
			}
		})
		b.Run(sz.name+"/train", func(b *testing.B) {
			y := net.Forward(x, true)
			dy := graph.NewTensor(y.N, y.C, y.H, y.W)
			copy(dy.Data, randData(rng, len(dy.Data)))
			for b.Loop() {
				net.Forward(x, true)
				net.Backward(dy)
			}
		})
		b.Run(sz.name+"/onnxruntime", func(b *testing.B) {
			if _, err := onnx.InitRuntime(""); err != nil {
				b.Skip(err)
			}
			tail, err := net.Model(m, 2)
			if err != nil {
				b.Fatal(err)
			}
			s, err := onnx.NewSession(tail, nil, onnx.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				if _, err := s.Run(x.Data, x.N, x.C, x.H, x.W); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
