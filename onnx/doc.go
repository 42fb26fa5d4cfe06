// Package onnx reads, edits, writes and runs ONNX models for lmpseg.
//
// Models are held as the protobuf types of
// github.com/advancedclimatesystems/gonnx/onnx, decoded and encoded with
// google.golang.org/protobuf. Load and Decode check that the bytes really
// are a model (a graph, an IR version and at least one input that is not an
// initializer) and return one-line errors otherwise; Decode never panics.
// Save writes back everything it read, fields this package does not know
// included, and keeps tensors stored in external data files external,
// linking or copying the data files next to the output when needed.
//
// Cut, ExposeOutputs and Merge do graph surgery. Cut ends a model at any
// tensor and prunes what no longer feeds it; ExposeOutputs makes
// intermediate tensors graph outputs; Merge appends a head's nodes and
// initializers to a backbone and checks names and data flow. A tensor name
// that does not exist gives an error that lists the nearest names.
//
// InitRuntime finds and loads the onnxruntime shared library (an explicit
// path, then $ONNXRUNTIME_LIB, then the project's third_party folder, then
// the system) and checks that it is onnxruntime 1.24.x, the version of the C
// API the onnxruntime_go binding is built against. OpenBackbone opens a
// model in onnxruntime for reading one tensor, pruned to the nodes that feed
// it, on the device that Options.Device names, and Backbone.Run turns NCHW
// float32 batches into that tensor. Devices are execution providers that
// register themselves by name (RegisterProvider, one file each: ep_cpu.go,
// ep_cuda.go); Devices lists them. OpenSession runs all outputs of a whole model, whatever
// their element type, converting them to float32. Both take NCHW float32
// images whatever the model's input: an NHWC input is fed transposed
// images, a uint8 input the values rounded and clamped to 0..255, a float16
// input the values rounded to float16, and a model with a static batch of 1
// is run image by image with its outputs stacked (Session.InputLayout says
// what was decided); float16 outputs are cast to float32 inside the graph.
// Input shapes that a static model does not accept are refused before
// onnxruntime is called.
// Every onnxruntime value a run creates is destroyed before Run returns.
//
// Load puts nodes that are not in topological order (onnxruntime runs such
// models) in order with SortNodes, a stable sort that keeps a valid order
// unchanged; a graph with a cycle is an error. Pruning follows producers
// whatever the node order.
//
// Inspect describes a model (IR version, opsets, inputs and outputs with
// symbolic dimensions, an operator histogram, parameter count and size)
// and, with a probe size, runs the model at that size and at 1.5 times it
// to list the tensors that could serve as features: float tensors of rank
// 4 whose first dimension is the batch, whose channel count stays the same
// and whose height and width follow the input, in NCHW or (marked) NHWC
// layout, with their strides. A probe does not expose the tensors
// themselves, which would keep all of them in memory at once: a Shape node
// after each one makes its shape the output, so that onnxruntime frees the
// tensor as in a plain forward pass, and element types come from a session
// that is created without weights and never run. Scalars, integer tensors
// of quantized models and float16 tensors therefore never reach the
// conversion of outputs. CheckFeature says whether one tensor can carry a
// head and, when not, why, listing the candidates.
//
// Functions that receive data return errors, prefixed "onnx: ", and never
// panic on bad models or batches.
package onnx
