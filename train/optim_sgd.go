package train

import "github.com/lmpseg/lmpseg/graph"

func init() {
	RegisterOptimizer("sgd", func(c OptimConfig) (Optimizer, error) {
		return &SGD{Momentum: c.Momentum, Nesterov: c.Nesterov, WeightDecay: c.WeightDecay}, nil
	})
}

// SGD is stochastic gradient descent with momentum, optional Nesterov momentum and L2 weight decay
// added to the gradient, with PyTorch's semantics: v = mu*v + g; step = g + mu*v (Nesterov) or v.
type SGD struct {
	Momentum, WeightDecay float64
	Nesterov              bool
	vel                   [][]float32
}

// Step implements Optimizer.
func (o *SGD) Step(params []*graph.Param, lr float64) {
	if o.vel == nil {
		o.vel = make([][]float32, len(params))
		for i, p := range params {
			o.vel[i] = make([]float32, len(p.Data))
		}
	}
	mu, wd := float32(o.Momentum), float32(o.WeightDecay)
	for i, p := range params {
		v, f := o.vel[i], float32(p.LR(lr))
		for j, g := range p.Grad {
			if p.Decay {
				g += wd * p.Data[j]
			}
			if mu != 0 {
				v[j] = mu*v[j] + g
				if o.Nesterov {
					g += mu * v[j]
				} else {
					g = v[j]
				}
			}
			p.Data[j] -= f * g
		}
	}
}

// MarshalBinary implements Optimizer.
func (o *SGD) MarshalBinary() ([]byte, error) { return marshalSlices(0, o.vel), nil }

// UnmarshalBinary implements Optimizer.
func (o *SGD) UnmarshalBinary(b []byte) error {
	_, v, err := unmarshalSlices(b)
	o.vel = v
	return err
}

// CheckState implements Optimizer.
func (o *SGD) CheckState(params []*graph.Param) error { return checkState(o.vel, 1, params) }
