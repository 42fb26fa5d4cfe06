package train

import (
	"math"
	"testing"

	"github.com/lmpseg/lmpseg/graph"
)

// quadratic returns a parameter at x0 whose loss is 0.5*|x|^2 (gradient x).
func setQuadGrad(p *graph.Param) {
	copy(p.Grad, p.Data)
}

func TestOptimizersMinimiseQuadratic(t *testing.T) {
	for _, c := range []OptimConfig{
		{Name: "sgd"}, {Name: "sgd", Momentum: 0.9}, {Name: "sgd", Momentum: 0.9, Nesterov: true},
		{Name: "adamw"}, {Name: "sgd", Momentum: 0.9, WeightDecay: 1e-4},
	} {
		o, err := NewOptimizer(c)
		if err != nil {
			t.Fatal(err)
		}
		p := &graph.Param{Name: "x", Data: []float32{3, -2, 0.5}, Grad: make([]float32, 3), Decay: true}
		for i := 0; i < 500; i++ {
			setQuadGrad(p)
			o.Step([]*graph.Param{p}, 0.05)
		}
		for _, v := range p.Data {
			if math.Abs(float64(v)) > 1e-2 {
				t.Errorf("%+v: did not converge: %v", c, p.Data)
				break
			}
		}
	}
}

func TestSGDMatchesPyTorchFormula(t *testing.T) {
	// Two steps by hand: v1 = g1, x1 = x0 - lr*(g1 + mu*v1) (nesterov); v2 = mu*v1 + g2 ...
	o := &SGD{Momentum: 0.5, Nesterov: true}
	p := &graph.Param{Data: []float32{1}, Grad: []float32{2}}
	o.Step([]*graph.Param{p}, 0.1) // v=2, step = 2+0.5*2 = 3, x = 1-0.3 = 0.7
	if math.Abs(float64(p.Data[0]-0.7)) > 1e-6 {
		t.Fatalf("after one step x = %v, want 0.7", p.Data[0])
	}
	p.Grad[0] = 1
	o.Step([]*graph.Param{p}, 0.1) // v = 0.5*2+1 = 2, step = 1+0.5*2 = 2, x = 0.5
	if math.Abs(float64(p.Data[0]-0.5)) > 1e-6 {
		t.Fatalf("after two steps x = %v, want 0.5", p.Data[0])
	}
}

func TestOptimizerStateRoundTrip(t *testing.T) {
	for _, name := range []string{"sgd", "adamw"} {
		a, _ := NewOptimizer(OptimConfig{Name: name, Momentum: 0.9})
		b, _ := NewOptimizer(OptimConfig{Name: name, Momentum: 0.9})
		pa := &graph.Param{Data: []float32{1, 2}, Grad: []float32{0.3, -0.1}}
		pb := &graph.Param{Data: []float32{1, 2}, Grad: []float32{0.3, -0.1}}
		a.Step([]*graph.Param{pa}, 0.1)
		b.Step([]*graph.Param{pb}, 0.1)
		s, _ := a.MarshalBinary()
		c, _ := NewOptimizer(OptimConfig{Name: name, Momentum: 0.9})
		if err := c.UnmarshalBinary(s); err != nil {
			t.Fatal(err)
		}
		pc := &graph.Param{Data: append([]float32(nil), pa.Data...), Grad: []float32{0.2, 0.2}}
		pb.Grad = []float32{0.2, 0.2}
		c.Step([]*graph.Param{pc}, 0.1)
		b.Step([]*graph.Param{pb}, 0.1)
		for i := range pb.Data {
			if pb.Data[i] != pc.Data[i] {
				t.Errorf("%s: restored optimizer diverges: %v vs %v", name, pc.Data, pb.Data)
			}
		}
		if err := c.UnmarshalBinary(s[:len(s)-3]); err == nil {
			t.Errorf("%s: truncated state accepted", name)
		}
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Base: 0.01, Power: 0.9, Total: 100, Warmup: 10, WarmupRatio: 0.1}
	if got := s.At(0); math.Abs(got-0.001) > 1e-12 {
		t.Errorf("lr(0) = %g, want 0.001 (warm-up start)", got)
	}
	if got, want := s.At(50), 0.01*math.Pow(0.5, 0.9); math.Abs(got-want) > 1e-12 {
		t.Errorf("lr(50) = %g, want %g", got, want)
	}
	if got := s.At(100); got != 0 {
		t.Errorf("lr(100) = %g, want 0", got)
	}
	for it := 11; it < 100; it++ {
		if s.At(it) > s.At(it-1) {
			t.Errorf("lr rises after warm-up at %d", it)
		}
	}
}
