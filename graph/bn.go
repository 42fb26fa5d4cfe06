package graph

import (
	"fmt"
	"math"
)

// BatchNorm2d normalises each channel over N, H and W. In training mode it
// uses the batch statistics and updates the running statistics as PyTorch
// does (running = (1-Momentum)*running + Momentum*batch, with the unbiased
// batch variance); in inference mode it uses the running statistics.
// Weight (gamma) and Bias (beta) are trainable; RunningMean and RunningVar
// are buffers. Threads is the number of goroutines (0: the package
// default); channels are independent, so the results do not depend on it.
type BatchNorm2d struct {
	C                       int
	Eps, Momentum           float64
	Weight, Bias            *Param
	RunningMean, RunningVar *Param
	Threads                 int

	xhat   *Tensor
	invStd []float32
	train  bool
}

// NewBatchNorm2d returns a batch norm over c channels with gamma 1, beta 0,
// running mean 0, running variance 1, eps 1e-5 and momentum 0.1.
func NewBatchNorm2d(name string, c int) *BatchNorm2d {
	b := &BatchNorm2d{C: c, Eps: 1e-5, Momentum: 0.1}
	b.Weight = newParam(name+".weight", false, c)
	b.Bias = newParam(name+".bias", false, c)
	b.RunningMean = newParam(name+".running_mean", false, c)
	b.RunningVar = newParam(name+".running_var", false, c)
	for i := 0; i < c; i++ {
		b.Weight.Data[i] = 1
		b.RunningVar.Data[i] = 1
	}
	b.RunningMean.Grad, b.RunningVar.Grad = nil, nil
	return b
}

func (b *BatchNorm2d) setThreads(n int) { b.Threads = n }

// Params returns gamma and beta.
func (b *BatchNorm2d) Params() []*Param { return []*Param{b.Weight, b.Bias} }

// Buffers returns the running mean and variance.
func (b *BatchNorm2d) Buffers() []*Param { return []*Param{b.RunningMean, b.RunningVar} }

// Forward normalises x; in training mode it also updates the running
// statistics.
func (b *BatchNorm2d) Forward(x *Tensor, train bool) *Tensor {
	x.check("batchnorm forward")
	if x.C != b.C {
		panic(fmt.Sprintf("graph: batchnorm %s: input has %d channels, want %d", b.Weight.Name, x.C, b.C))
	}
	hw := x.H * x.W
	m := x.N * hw
	if train && m < 2 {
		panic(fmt.Sprintf("graph: batchnorm %s: training needs more than one value per channel", b.Weight.Name))
	}
	y := NewTensor(x.N, x.C, x.H, x.W)
	// The normalised input kept for Backward is reused from the last call
	// at the same shape: every value is written below, and allocating it
	// anew would zero it serially.
	if b.xhat == nil || !b.xhat.SameShape(x) {
		b.xhat = NewTensor(x.N, x.C, x.H, x.W)
	}
	if len(b.invStd) != b.C {
		b.invStd = make([]float32, b.C)
	}
	b.train = train
	parallel(threadsOr(b.Threads), b.C, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			var mean, variance float64
			if train {
				var s float64
				for n := 0; n < x.N; n++ {
					for _, v := range x.Data[(n*x.C+c)*hw:][:hw] {
						s += float64(v)
					}
				}
				mean = s / float64(m)
				var ss float64
				for n := 0; n < x.N; n++ {
					for _, v := range x.Data[(n*x.C+c)*hw:][:hw] {
						d := float64(v) - mean
						ss += d * d
					}
				}
				variance = ss / float64(m)
				mom := b.Momentum
				b.RunningMean.Data[c] = float32((1-mom)*float64(b.RunningMean.Data[c]) + mom*mean)
				b.RunningVar.Data[c] = float32((1-mom)*float64(b.RunningVar.Data[c]) + mom*ss/float64(m-1))
			} else {
				mean, variance = float64(b.RunningMean.Data[c]), float64(b.RunningVar.Data[c])
			}
			inv := 1 / math.Sqrt(variance+b.Eps)
			b.invStd[c] = float32(inv)
			g, be := b.Weight.Data[c], b.Bias.Data[c]
			mf, invf := float32(mean), float32(inv)
			for n := 0; n < x.N; n++ {
				off := (n*x.C + c) * hw
				xs := x.Data[off:][:hw]
				xh := b.xhat.Data[off:][:hw]
				ys := y.Data[off:][:hw]
				for i, v := range xs {
					h := (v - mf) * invf
					xh[i] = h
					ys[i] = g*h + be
				}
			}
		}
	})
	return y
}

// Backward accumulates the gamma and beta gradients and returns the input
// gradient, through the batch statistics in training mode and through the
// fixed running statistics in inference mode.
func (b *BatchNorm2d) Backward(dy *Tensor) *Tensor {
	if b.xhat == nil {
		panic("graph: batchnorm backward before forward")
	}
	dy.check("batchnorm backward")
	if !dy.SameShape(b.xhat) {
		panic(fmt.Sprintf("graph: batchnorm %s: gradient shape mismatch", b.Weight.Name))
	}
	hw := dy.H * dy.W
	m := float64(dy.N * hw)
	dx := NewTensor(dy.N, dy.C, dy.H, dy.W)
	parallel(threadsOr(b.Threads), b.C, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			var sg, sb float64
			for n := 0; n < dy.N; n++ {
				off := (n*dy.C + c) * hw
				xh := b.xhat.Data[off:][:hw]
				for i, g := range dy.Data[off:][:hw] {
					sb += float64(g)
					sg += float64(g) * float64(xh[i])
				}
			}
			b.Weight.Grad[c] += float32(sg)
			b.Bias.Grad[c] += float32(sb)
			k := b.Weight.Data[c] * b.invStd[c]
			mb, mg := float32(sb/m), float32(sg/m)
			for n := 0; n < dy.N; n++ {
				off := (n*dy.C + c) * hw
				xh := b.xhat.Data[off:][:hw]
				out := dx.Data[off:][:hw]
				for i, g := range dy.Data[off:][:hw] {
					if b.train {
						out[i] = k * (g - mb - xh[i]*mg)
					} else {
						out[i] = k * g
					}
				}
			}
		}
	})
	return dx
}
