package graph

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
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
// gradient. Decay reports whether weight decay applies to it.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
	Decay bool
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

var numThreads atomic.Int64

// SetThreads sets the number of goroutines that the convolution, resize and
// loss kernels use. n < 1 restores the default, runtime.GOMAXPROCS(0).
// Results are deterministic for a given thread count.
func SetThreads(n int) {
	if n < 1 {
		n = 0
	}
	numThreads.Store(int64(n))
}

// Threads returns the number of goroutines the kernels use.
func Threads() int {
	if n := int(numThreads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// parallel splits [0, n) into at most Threads() contiguous chunks and calls
// fn(worker, lo, hi) for each, concurrently. The split depends only on n and
// the thread count.
func parallel(n int, fn func(worker, lo, hi int)) int {
	t := Threads()
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

// workers returns the number of chunks parallel(n, ...) will use.
func workers(n int) int {
	t := Threads()
	if t > n {
		t = n
	}
	if t < 1 {
		t = 1
	}
	return t
}
