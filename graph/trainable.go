package graph

import (
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// Trainable is what training puts on top of the frozen features: a Head
// (a new linear or fcn head) or a decoder lifted from the backbone's own
// graph (package lift). Training, checkpoints, validation, inference on a
// run and export see only this interface.
//
// Forward returns the class scores at the features' (low) resolution,
// which the pixel losses upsample to the labels; Backward takes their
// gradient after a Forward in training mode. CheckTensor says, before
// Forward (which panics on a mismatch), whether the net accepts x.
// MarshalBinary stores the parameters and buffers in a checkpoint;
// ToONNX writes the net as ONNX nodes reading input and producing output,
// with the current weights, every new name starting with prefix.
type Trainable interface {
	Forward(x *Tensor, train bool) *Tensor
	Backward(dy *Tensor)
	Params() []*Param
	ZeroGrad()
	SetDropoutSeed(seed uint64)
	SetThreads(n int)
	CheckTensor(x *Tensor) error
	Classes() int
	MarshalBinary() ([]byte, error)
	ToONNX(input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto, error)
}

var _ Trainable = (*Head)(nil)

// Classes returns the number of classes the head scores.
func (h *Head) Classes() int { return h.spec.Classes }

// CheckTensor is CheckInput for the channel count of x.
func (h *Head) CheckTensor(x *Tensor) error { return h.CheckInput(x.C) }

// LR returns the learning rate of p when the base rate is lr: lr times
// p.LRMult, or lr when LRMult is 0 (parameters that set none).
func (p *Param) LR(lr float64) float64 {
	if p.LRMult == 0 {
		return lr
	}
	return lr * p.LRMult
}

// Packed tensors carry several NCHW tensors of one batch, of different
// channel counts and sizes, as one N x L x 1 x 1 tensor, so that a net
// reading several frozen tensors (LR-ASPP reads a high- and a low-level
// feature) travels through the pipeline, and the feature cache, as one
// feature. Per sample, each tensor in turn is stored as its C, H and W
// (as float32 values) followed by its C*H*W values.

// PackTensors returns the packed form of ts, which must share their batch
// size; it panics otherwise (a programmer error).
func PackTensors(ts []*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("graph: PackTensors of no tensors")
	}
	n, per := ts[0].N, 0
	for _, t := range ts {
		t.check("PackTensors")
		if t.N != n {
			panic(fmt.Sprintf("graph: PackTensors: batch sizes %d and %d", n, t.N))
		}
		per += 3 + t.C*t.H*t.W
	}
	dst := NewTensor(n, per, 1, 1)
	o := 0
	for k := 0; k < n; k++ {
		for _, t := range ts {
			m := t.C * t.H * t.W
			dst.Data[o], dst.Data[o+1], dst.Data[o+2] = float32(t.C), float32(t.H), float32(t.W)
			copy(dst.Data[o+3:o+3+m], t.Data[k*m:(k+1)*m])
			o += 3 + m
		}
	}
	return dst
}

// UnpackTensors returns the k tensors packed in p by PackTensors. Data that
// is not such a packing (sizes that are not positive integers, a length
// that does not add up, samples of different shapes) gives an error
// matching ErrShape.
func UnpackTensors(p *Tensor, k int) ([]*Tensor, error) {
	if p.H != 1 || p.W != 1 || p.N < 1 || k < 1 {
		return nil, shapeErrorf("graph: a packed tensor of %d tensors is N x L x 1 x 1, not %dx%dx%dx%d", k, p.N, p.C, p.H, p.W)
	}
	dims := func(d []float32) (c, h, w int, ok bool) {
		v := [3]int{}
		for i := range v {
			f := float64(d[i])
			if !(f >= 1 && f <= 1<<24) || f != math.Trunc(f) {
				return 0, 0, 0, false
			}
			v[i] = int(f)
		}
		return v[0], v[1], v[2], true
	}
	shapes := make([][3]int, k)
	o := 0
	for i := range shapes {
		if o+3 > p.C {
			return nil, shapeErrorf("graph: packed tensor of %d values per sample ends inside tensor %d of %d", p.C, i+1, k)
		}
		c, h, w, ok := dims(p.Data[o : o+3])
		if !ok || o+3+c*h*w > p.C {
			return nil, shapeErrorf("graph: packed tensor %d of %d has a bad size header %v", i+1, k, p.Data[o:o+3])
		}
		shapes[i] = [3]int{c, h, w}
		o += 3 + c*h*w
	}
	if o != p.C {
		return nil, shapeErrorf("graph: packed tensor holds %d values per sample, its %d tensors %d", p.C, k, o)
	}
	ts := make([]*Tensor, k)
	for i, s := range shapes {
		ts[i] = NewTensor(p.N, s[0], s[1], s[2])
	}
	for n := 0; n < p.N; n++ {
		o := n * p.C
		for i, t := range ts {
			m := t.C * t.H * t.W
			if c, h, w, _ := dims(p.Data[o : o+3]); c != t.C || h != t.H || w != t.W {
				return nil, shapeErrorf("graph: packed tensor %d is %dx%dx%d in sample %d but %dx%dx%d in sample 1", i+1, c, h, w, n+1, t.C, t.H, t.W)
			}
			copy(t.Data[n*m:(n+1)*m], p.Data[o+3:o+3+m])
			o += 3 + m
		}
	}
	return ts, nil
}
