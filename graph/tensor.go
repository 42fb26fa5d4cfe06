package graph

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Tensor is a dense NCHW float32 tensor: element (n, c, y, x) lies at
// Data[((n*C+c)*H+y)*W+x].
type Tensor struct {
	N, C, H, W int
	Data       []float32
}

// NewTensor returns a zeroed tensor of shape n x c x h x w.
func NewTensor(n, c, h, w int) *Tensor {
	if n < 0 || c < 0 || h < 0 || w < 0 {
		panic(fmt.Sprintf("graph: negative tensor shape %dx%dx%dx%d", n, c, h, w))
	}
	return &Tensor{N: n, C: c, H: h, W: w, Data: make([]float32, n*c*h*w)}
}

// Len returns the number of elements N*C*H*W.
func (t *Tensor) Len() int { return t.N * t.C * t.H * t.W }

// SameShape reports whether t and u have the same shape.
func (t *Tensor) SameShape(u *Tensor) bool {
	return t.N == u.N && t.C == u.C && t.H == u.H && t.W == u.W
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	u := &Tensor{N: t.N, C: t.C, H: t.H, W: t.W, Data: make([]float32, len(t.Data))}
	copy(u.Data, t.Data)
	return u
}

// check panics when the length of Data does not match the shape.
func (t *Tensor) check(what string) {
	if len(t.Data) != t.Len() {
		panic(fmt.Sprintf("graph: %s: tensor %dx%dx%dx%d holds %d values", what, t.N, t.C, t.H, t.W, len(t.Data)))
	}
}

// Param is a trainable parameter (or a non-trainable buffer) with its
// gradient. Decay reports whether weight decay applies to it; LRMult, when
// not 0, scales the learning rate the optimisers give it (see LR).
type Param struct {
	Name   string
	Shape  []int
	Data   []float32
	Grad   []float32
	Decay  bool
	LRMult float64
}

func newParam(name string, decay bool, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return &Param{Name: name, Shape: append([]int(nil), shape...), Data: make([]float32, n), Grad: make([]float32, n), Decay: decay}
}

// Layer is one differentiable operation over NCHW tensors. Backward must be
// called after Forward with the gradient of the output; it accumulates the
// parameter gradients and returns the gradient of the input (nil when the
// layer was told not to compute it).
type Layer interface {
	Forward(x *Tensor, train bool) *Tensor
	Backward(dy *Tensor) *Tensor
	Params() []*Param
}

// Threads returns the default number of goroutines of the kernels, runtime.GOMAXPROCS(0): the
// number used by layers, heads and Exec values whose own thread count is 0. Give a count where the
// work is done, with Head.SetThreads, a layer's Threads field or an Exec value; results are
// deterministic for a given count.
func Threads() int { return runtime.GOMAXPROCS(0) }

// threadsOr returns n when it is positive, else the default Threads().
func threadsOr(n int) int {
	if n > 0 {
		return n
	}
	return Threads()
}

// parallel splits [0, n) into at most t contiguous chunks and calls
// fn(worker, lo, hi) for each, concurrently. The split depends only on n and
// t.
func parallel(t, n int, fn func(worker, lo, hi int)) int {
	if t > n {
		t = n
	}
	if t <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return 1
	}
	var wg sync.WaitGroup
	for w := 0; w < t; w++ {
		lo, hi := w*n/t, (w+1)*n/t
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	wg.Wait()
	return t
}

// workers returns the number of chunks parallel(t, n, ...) will use.
func workers(t, n int) int {
	if t > n {
		t = n
	}
	if t < 1 {
		t = 1
	}
	return t
}

// ErrShape is matched (with errors.Is) by the errors that TensorFrom,
// Head.CheckInput and HeadSpec.CheckTrainShape return.
var ErrShape = errors.New("graph: bad tensor shape")

// shapeError is an error whose message is its own but which matches
// ErrShape.
type shapeError struct{ msg string }

func (e *shapeError) Error() string        { return e.msg }
func (e *shapeError) Is(target error) bool { return target == ErrShape }

func shapeErrorf(format string, args ...any) error {
	return &shapeError{msg: fmt.Sprintf(format, args...)}
}

// TensorFrom returns the NCHW tensor of shape (a rank-4 shape as onnx
// reports it) over data, without copying data. It returns an error
// matching ErrShape unless shape has rank 4, every dimension is positive
// and len(data) is their product.
func TensorFrom(data []float32, shape []int64) (*Tensor, error) {
	if len(shape) != 4 {
		return nil, shapeErrorf("graph: tensor shape %v has rank %d, want 4 (NCHW)", shape, len(shape))
	}
	n := int64(1)
	for _, d := range shape {
		if d < 1 {
			return nil, shapeErrorf("graph: tensor shape %v has a dimension below 1", shape)
		}
		if n > math.MaxInt/d {
			return nil, shapeErrorf("graph: tensor shape %v is too large", shape)
		}
		n *= d
	}
	if n != int64(len(data)) {
		return nil, shapeErrorf("graph: tensor shape %v needs %d values, got %d", shape, n, len(data))
	}
	return &Tensor{N: int(shape[0]), C: int(shape[1]), H: int(shape[2]), W: int(shape[3]), Data: data}, nil
}
