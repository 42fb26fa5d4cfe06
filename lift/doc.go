// Package lift turns the tail of a pretrained ONNX model (the part of its
// graph between a tensor T and the output, for example a DeepLabV3, FCN or
// LR-ASPP decoder) into native graph layers initialised with the model's
// own weights, so that it can be fine-tuned in Go on top of a frozen
// backbone that onnxruntime runs, and written back to ONNX afterwards.
//
// # Lifting
//
// Lift(m, T, Options) returns a Net. The frozen part is what computing T
// needs (onnx.Cut(m, T)); every other node the output needs is lifted. The
// tail may read more tensors of the frozen part than T (LR-ASPP reads a
// low-level feature): Net.Inputs lists them, T first, then the others in
// the order the graph first reads them, and ForwardInputs takes them in
// that order (Forward is the one-input form). The shape subgraph that
// feeds Resize (Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Cast,
// Constant, Reshape and integer arithmetic) is evaluated on every forward
// pass from the shapes of the tensors it reads, which for a fixed input
// size is constant folding; where it reads the size of the model's image
// input, that size is Options.H x W (or the input's static size, or
// SetImageSize).
//
// The lifted operators are Conv (any kernel, strides, pads, dilations and
// groups, depthwise included, with or without bias; graph.GConv2d),
// BatchNormalization (graph.BatchNorm2d: batch statistics and running
// statistics updates in training, or kept in inference mode with
// Options.FreezeBN), Relu, Clip, HardSigmoid, HardSwish, Sigmoid, Mul and
// Add with broadcasting (a constant operand stays constant), Concat along
// the channels, Resize (linear or nearest; half_pixel, pytorch_half_pixel,
// align_corners and asymmetric), GlobalAveragePool, AveragePool, MaxPool,
// ReduceMean over H and W, and Dropout and Identity (the identity: an
// exported inference graph has no dropout). A tail with any other operator
// or attribute (cubic or antialiased resize, SAME padding, a 1-D or 3-D
// convolution, a reduction over other axes) is refused before anything is
// built, with an error wrapping ErrUnsupported that names the node and its
// operator and lists tensors from which lifting would work.
//
// The convolutions producing the class scores (the last Conv before the
// output through Resize, Identity and Dropout, on every branch of an Add)
// are replaced by freshly initialised ones when Options.Classes differs
// from the model's class count or Options.ResetClassifier is set;
// Options.Dropout puts a channel dropout in front of them for training,
// and Options.DropFinalResize ends the tail at their low-resolution
// scores (for graph.PixelCE).
//
// # Training, checkpoints and export
//
// Backward propagates through every lifted node in reverse order; a tensor
// read by several nodes sums their gradients, and work that only leads to
// frozen tensors is skipped. Params are the convolution weights and
// biases and the batch-norm scales and shifts, named after the model's
// initializers; Buffers are the batch-norm running statistics.
// MarshalBinary and UnmarshalBinary store them in a checksummed format; a
// checkpoint loads only into a net lifted the same way. ToONNX writes the
// lifted nodes back with the current weights (batch norms as
// BatchNormalization nodes, the shape subgraph as it was, so sizes stay
// dynamic), to be merged into the model with onnx.Merge; Net.Model builds
// the tail as an ONNX model of its own whose inputs are Net.Inputs, with
// reads of the image size folded to constants.
//
// Models exported by torch.onnx in inference mode have their batch norms
// folded into the convolutions, so their lifted tails train without batch
// norm (the folded biases take its place) and without dropout.
//
// # Errors and panics
//
// Models that cannot be lifted, malformed ones included, give errors
// prefixed "lift:". Inputs of the wrong count or shape passed to Forward,
// and Backward without Forward, are programmer errors and panic with a
// message starting with "lift:" or "graph:"; CheckTrainShape refuses up
// front the training batch of one that a batch norm after a global
// pooling cannot take.
package lift
