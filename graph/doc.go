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
// NewHead builds a head from a HeadSpec: "linear" is one 1x1 convolution
// with bias from the features to the classes, and "fcn" is a 3x3
// convolution without bias, batch norm, ReLU, channel dropout and a 1x1
// convolution with bias, like torchvision's FCNHead. Weights are drawn from
// Kaiming normal distributions with a given seed and biases start at zero.
// Head.Forward returns low-resolution logits, and Head.Backward accumulates
// the parameter gradients; the features are frozen, so no gradient is
// computed for them. MarshalBinary and UnmarshalBinary store the spec,
// parameters and batch-norm buffers in a checksummed binary format, and
// ToONNX lowers the inference graph to ONNX nodes with batch norm folded
// into the convolution.
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
// SetThreads sets how many goroutines the kernels use (GOMAXPROCS by
// default). For a given thread count every result is bit-identical from
// run to run; reductions over workers add per-worker partial sums in a
// fixed order. gonum's GEMM may itself use up to GOMAXPROCS goroutines,
// which changes no result.
//
// # Errors and panics
//
// Invalid specs and corrupt checkpoints are data errors and are returned,
// wrapping ErrSpec or ErrCheckpoint. Shape mismatches between internal
// calls and labels outside [0, C) other than the ignore label are
// programmer errors (callers validate their data first) and panic with a
// message that starts with "graph:". A panic inside a worker goroutine
// cannot be recovered by the caller.
package graph
