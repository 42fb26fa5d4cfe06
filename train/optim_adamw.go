package train

import (
	"errors"
	"math"

	"github.com/lmpseg/lmpseg/graph"
)

func init() {
	RegisterOptimizer("adamw", func(c OptimConfig) (Optimizer, error) {
		o := &AdamW{Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, WeightDecay: c.WeightDecay}
		if o.Beta1 == 0 {
			o.Beta1 = 0.9
		}
		if o.Beta2 == 0 {
			o.Beta2 = 0.999
		}
		if o.Eps == 0 {
			o.Eps = 1e-8
		}
		return o, nil
	})
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter): p -= lr*(m̂/(sqrt(v̂)+eps) + wd*p).
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	t                              int64
	m, v                           [][]float32
}

// Step implements Optimizer.
func (o *AdamW) Step(params []*graph.Param, lr float64) {
	if o.m == nil {
		o.m = make([][]float32, len(params))
		o.v = make([][]float32, len(params))
		for i, p := range params {
			o.m[i] = make([]float32, len(p.Data))
			o.v[i] = make([]float32, len(p.Data))
		}
	}
	o.t++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := float32(1 - math.Pow(o.Beta1, float64(o.t)))
	c2 := float32(1 - math.Pow(o.Beta2, float64(o.t)))
	eps, wd := float32(o.Eps), float32(o.WeightDecay)
	for i, p := range params {
		m, v, f := o.m[i], o.v[i], float32(p.LR(lr))
		for j, g := range p.Grad {
			m[j] = b1*m[j] + (1-b1)*g
			v[j] = b2*v[j] + (1-b2)*g*g
			upd := (m[j] / c1) / (float32(math.Sqrt(float64(v[j]/c2))) + eps)
			if p.Decay {
				upd += wd * p.Data[j]
			}
			p.Data[j] -= f * upd
		}
	}
}

// MarshalBinary implements Optimizer.
func (o *AdamW) MarshalBinary() ([]byte, error) {
	return marshalSlices(o.t, append(append([][]float32{}, o.m...), o.v...)), nil
}

// UnmarshalBinary implements Optimizer.
func (o *AdamW) UnmarshalBinary(b []byte) error {
	t, s, err := unmarshalSlices(b)
	if err != nil {
		return err
	}
	if len(s)%2 != 0 {
		return errors.New("train: corrupt adamw state: odd number of moment slices")
	}
	o.t, o.m, o.v = t, s[:len(s)/2], s[len(s)/2:]
	if len(s) == 0 {
		o.m, o.v = nil, nil
	}
	return nil
}

// CheckState implements Optimizer.
func (o *AdamW) CheckState(params []*graph.Param) error {
	return checkState(append(append([][]float32{}, o.m...), o.v...), 2, params)
}
