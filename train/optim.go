package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/lmpseg/lmpseg/graph"
)

// An Optimizer updates parameters from their accumulated gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr (each parameter's p.LR(lr)) to params, whose Grad fields hold the
	// gradients of the loss. The parameter list must be the same, in the same order, at every call.
	Step(params []*graph.Param, lr float64)
	// MarshalBinary and UnmarshalBinary save and restore the optimiser state for resuming.
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
	// CheckState reports restored state that does not fit params.
	CheckState(params []*graph.Param) error
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

// An OptimizerMaker builds an optimiser from its config.
type OptimizerMaker func(c OptimConfig) (Optimizer, error)

var optimizers = map[string]OptimizerMaker{}

// RegisterOptimizer makes an optimiser available under name (OptimConfig.Name, --optimizer). It
// panics on an empty or duplicate name: registration is a program's own setup.
func RegisterOptimizer(name string, m OptimizerMaker) {
	if name == "" || m == nil || optimizers[name] != nil {
		panic(fmt.Sprintf("train: RegisterOptimizer %q: empty, nil or registered twice", name))
	}
	optimizers[name] = m
}

// Optimizers returns the registered optimiser names, sorted.
func Optimizers() []string { return slices.Sorted(maps.Keys(optimizers)) }

// NewOptimizer returns the optimiser named by c.Name ("" is sgd).
func NewOptimizer(c OptimConfig) (Optimizer, error) {
	name := c.Name
	if name == "" {
		name = "sgd"
	}
	m := optimizers[name]
	if m == nil {
		return nil, fmt.Errorf("train: unknown optimizer %q (want one of %s)", c.Name, strings.Join(Optimizers(), ", "))
	}
	return m(c)
}

// checkState reports optimiser state (restored from a checkpoint) that does not fit params: one
// slice per parameter tensor of its size, so that Step never indexes out of range.
func checkState(state [][]float32, per int, params []*graph.Param) error {
	if len(state) == 0 {
		return nil
	}
	if len(state) != per*len(params) {
		return fmt.Errorf("train: optimizer state holds %d tensors, the head has %d parameters (x%d): the checkpoint comes from another optimizer or head", len(state), len(params), per)
	}
	for i, x := range state {
		if p := params[i%len(params)]; len(x) != len(p.Data) {
			return fmt.Errorf("train: optimizer state for %s has %d values, the parameter %d: the checkpoint comes from another optimizer or head", p.Name, len(x), len(p.Data))
		}
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
