package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/lmpseg/lmpseg/graph"
)

// An Optimizer updates parameters from their accumulated gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr to params, whose Grad fields hold the
	// gradients of the loss. The parameter list must be the same, in the same order, at every call.
	Step(params []*graph.Param, lr float64)
	// MarshalBinary and UnmarshalBinary save and restore the optimiser state for resuming.
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// OptimConfig selects and parameterises an optimiser.
type OptimConfig struct {
	Name        string  `json:"name"` // sgd | adamw
	Momentum    float64 `json:"momentum"`
	Nesterov    bool    `json:"nesterov"`
	WeightDecay float64 `json:"weight_decay"`
	Beta1       float64 `json:"beta1,omitempty"`
	Beta2       float64 `json:"beta2,omitempty"`
	Eps         float64 `json:"eps,omitempty"`
	ClipNorm    float64 `json:"clip_norm,omitempty"` // 0: no clipping
}

// NewOptimizer returns the optimiser named by c.Name.
func NewOptimizer(c OptimConfig) (Optimizer, error) {
	switch c.Name {
	case "sgd", "":
		return &SGD{Momentum: c.Momentum, Nesterov: c.Nesterov, WeightDecay: c.WeightDecay}, nil
	case "adamw":
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
	}
	return nil, fmt.Errorf("train: unknown optimizer %q (want sgd or adamw)", c.Name)
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
	mu, wd, f := float32(o.Momentum), float32(o.WeightDecay), float32(lr)
	for i, p := range params {
		v := o.vel[i]
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
	eps, f, wd := float32(o.Eps), float32(lr), float32(o.WeightDecay)
	for i, p := range params {
		m, v := o.m[i], o.v[i]
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

// ClipGradNorm scales all gradients so that their global L2 norm is at most maxNorm, and returns
// the norm before clipping. maxNorm <= 0 only measures.
func ClipGradNorm(params []*graph.Param, maxNorm float64) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.Grad {
			s += float64(g) * float64(g)
		}
	}
	n := math.Sqrt(s)
	if maxNorm > 0 && n > maxNorm {
		f := float32(maxNorm / (n + 1e-12))
		for _, p := range params {
			for j := range p.Grad {
				p.Grad[j] *= f
			}
		}
	}
	return n
}

func marshalSlices(t int64, s [][]float32) []byte {
	n := 16
	for _, x := range s {
		n += 8 + 4*len(x)
	}
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint64(b, uint64(t))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	for _, x := range s {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(x)))
		for _, v := range x {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

func unmarshalSlices(b []byte) (int64, [][]float32, error) {
	bad := errors.New("train: corrupt optimizer state")
	if len(b) < 16 {
		return 0, nil, bad
	}
	t := int64(binary.LittleEndian.Uint64(b))
	k := binary.LittleEndian.Uint64(b[8:])
	b = b[16:]
	if k > uint64(len(b))/8 {
		return 0, nil, bad
	}
	var s [][]float32
	if k > 0 {
		s = make([][]float32, k)
	}
	for i := range s {
		if len(b) < 8 {
			return 0, nil, bad
		}
		n := binary.LittleEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b))/4 {
			return 0, nil, bad
		}
		x := make([]float32, n)
		for j := range x {
			x[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
		b = b[4*n:]
		s[i] = x
	}
	if len(b) != 0 {
		return 0, nil, bad
	}
	return t, s, nil
}
