// Package graph implements the trainable segmentation head of lmpseg in
// native Go, on top of frozen backbone features that onnxruntime computes.
//
// # Tensors, parameters and layers
//
// A Tensor is a dense NCHW float32 array. A Param is a named trainable
// array with its gradient; Decay tells the optimiser whether weight decay
// applies. Every Layer has a Forward pass, a Backward pass that accumulates
// parameter gradients and returns the input gradient, and its Params. The
// layers are Conv2d (stride 1, any kernel size, padding, dilation, optional
// bias), BatchNorm2d (batch statistics in training, running statistics at
// inference, PyTorch's momentum convention), ReLU, Dropout2d (whole
// channels, its own seeded generator) and Resize (bilinear, align_corners =
// false). Convolutions use gonum's BLAS: a 1x1 kernel without padding is a
// direct GEMM per image, larger kernels go through im2col over bands of
// output rows so that the column buffer stays small.
//
// # Heads
//
// NewHead builds a head from a HeadSpec. The kinds live in a registry, one
// file each (head_linear.go, head_fcn.go): a kind supplies its defaults,
// its layers, the names and sizes of the tensors its checkpoint holds, its
// ONNX lowering and its check of training batch shapes, so a new kind
// touches only its own file and its test; HeadKinds lists them and an
// unknown kind is an error naming the known ones. "linear" is one 1x1
// convolution with bias from the features to the classes, and "fcn" is a
// 3x3 convolution without bias, batch norm, ReLU, channel dropout and a
// 1x1 convolution with bias, like torchvision's FCNHead. Weights are drawn
// from Kaiming normal distributions with a given seed and biases start at
// zero. Head.Forward returns low-resolution logits, and Head.Backward
// accumulates the parameter gradients; the features are frozen, so no
// gradient is computed for them. MarshalBinary and UnmarshalBinary store
// the spec, parameters and batch-norm buffers in a checksummed binary
// format, and ToONNX lowers the inference graph to ONNX nodes (built with
// package onnx's constructors) with batch norm folded into the
// convolution.
//
// Input that would make Forward panic can be refused up front:
// Head.CheckInput compares the features' channel count with the head's,
// and HeadSpec.CheckTrainShape says whether a training batch is large
// enough (an fcn head's batch norm needs more than one feature value per
// channel). UnmarshalBinary into a built head refuses a checkpoint of
// another head. TensorFrom turns data and an onnx shape into a Tensor
// after checking them.
//
// # The fused loss
//
// The loss is computed at label resolution, as the networks of the LMP
// paper do, without ever holding the N x C x H x W upsampled logits.
// PixelCE upsamples the logits bilinearly on the fly and writes, per label
// pixel, the softmax cross-entropy and the probability of the true class;
// a pooling loss (package lmp) turns those into per-pixel coefficients,
// and PixelCEBackward scatters coef * (softmax - onehot) back through the
// bilinear taps into the low-resolution logit gradient. Both walk the label
// map in cells of pixels that share their four source logits; inside a
// cell the exponentials follow a multiplicative recurrence, so only four
// exponentials per class and cell are evaluated (with a fast float32 exp
// whose relative error is below 1e-6). The results agree with the
// materialised computation to a few parts in a million. Memory therefore
// grows with the number of pixels, not with pixels times classes.
//
// # Threads and determinism
//
// The thread count is given where the work is done: Head.SetThreads for a
// head's layers, the Threads field of Conv2d, BatchNorm2d and Resize, and
// an Exec value for the free-standing kernels (Exec.PixelCE,
// Exec.PixelCEBackward, Exec.ArgmaxUpsampled, Exec.ResizeBilinear and its
// backward); the package-level functions of those names are the zero
// Exec's. A count below 1 means the package default, GOMAXPROCS; there is no
// package-wide setting, so two heads in one process never interfere. For a given thread count every result
// is bit-identical from run to run; reductions over workers add
// per-worker partial sums in a fixed order. gonum's GEMM may itself use up
// to GOMAXPROCS goroutines, which changes no result.
//
// # Resampling
//
// The bilinear maps and kernels are package resample's, shared with data
// and infer: ResizeBilinear uses its Weighted form, and the fused loss and
// ArgmaxUpsampled walk its Axis maps.
//
// # Errors and panics
//
// Invalid specs and corrupt or mismatched checkpoints are data errors and
// are returned, wrapping ErrSpec or ErrCheckpoint; shapes refused by
// TensorFrom, CheckInput and CheckTrainShape give errors matching ErrShape.
// Shape mismatches between internal
// calls and labels outside [0, C) other than the ignore label are
// programmer errors (callers validate their data first) and panic with a
// message that starts with "graph:". A panic inside a worker goroutine
// cannot be recovered by the caller.
package graph
