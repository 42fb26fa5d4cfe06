// Package infer applies a segmentation model to images at their label resolution: an exported ONNX
// model run by onnxruntime (whose lmpseg metadata, when present, supplies the classes and the
// preprocessing), or a run folder's backbone and Go head. Inference is whole-image, resized (for
// static-shape models) or sliding-window with overlapping logits averaged. Evaluate streams a
// dataset through a Predictor, decoding images in parallel with inference, into a confusion matrix.
package infer
