// Package export writes a trained run as one ONNX model: the run's backbone cut at its feature
// tensor (pruning what no longer feeds it), the head lowered to ONNX nodes (BatchNorm folded into
// Conv), a bilinear resize of the logits back to the input size (half_pixel, as in training), and
// optionally a Softmax or ArgMax. The model's metadata (infer.Metadata) holds the classes, palette
// and preprocessing, so that evaluation and prediction need no extra flags.
//
// Every export is checked before it is kept: the file is written under a temporary name, run in
// onnxruntime on a deterministic probe input and compared with the Go forward pass, and renamed
// over the destination only when the largest logit difference relative to the logits' scale
// (max |Δ| ÷ max(1, max |logit|)) is within the tolerance. A model the user had at the
// destination is never lost to a failed export, and the run's own backbone is never overwritten.
package export
