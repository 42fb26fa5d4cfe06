// Package graph implements the trainable segmentation head of lmpseg in
// native Go: NCHW float32 tensors, the layers the heads need (convolution,
// batch norm, ReLU, channel dropout and bilinear resize) with forward and
// backward passes, the linear and FCN heads, and a fused loss that
// upsamples low-resolution logits to label resolution on the fly.
package graph
