// Package infer applies a segmentation model to images at their label resolution: an exported ONNX
// model run by onnxruntime (whose lmpseg metadata, when present, supplies the classes and the
// preprocessing), or a run folder's backbone and Go head. Inference is whole-image, resized (for
// static-shape models) or sliding-window with overlapping logits averaged. Evaluate streams a
// dataset through a Predictor, decoding images in parallel with inference, into a confusion matrix.
//
// The output adapter (PlanOutputs, ChooseOutput, OutputAdapter) is the counterpart of the onnx
// package's input adapter: it reads how a model from any toolkit delivers its segmentation. For
// each graph output it decides from the declaration (rank, element type, static sizes and dim
// names), the nodes producing it (a Conv-like node is NCHW by definition, a Transpose moves the
// class axis, Softmax and ArgMax name it, a Sigmoid makes a one-channel output a probability) and
// the model's metadata whether the output is class scores, NCHW or NHWC; a one-channel binary map,
// foreground where the value exceeds a threshold (0.5 after a Sigmoid, else 0), evaluated as two
// classes (background 0, foreground 1); or a label map of any integer type. Among several outputs
// it takes the one named, the only usable one, or the only one not named as an auxiliary head.
// OutputOptions (the --output, --output-layout and --binary-threshold flags) override it, and a
// choice it cannot make is an error that names the flag to give.
//
// A ClassMap maps a model's classes to a dataset's before the confusion matrix: from a file, by
// class name, or by ADE20K's reduce_zero_label convention. Pixels predicted as a dropped class
// count as no class, wrong for any labelled pixel.
package infer
