// Package modelgen builds the project's own ONNX models in Go, so that tests
// and the demo never need a download.
//
// Every model is a ModelProto of the protobuf binding
// github.com/advancedclimatesystems/gonnx/onnx with IR version 8, the default
// domain at opset 17 and producer "lmpseg-modelgen". Weights are fixed:
// designed filters (colour axes, Sobel, Laplacian and Gabor kernels) plus
// Gaussian noise drawn from a PCG generator with a fixed seed per model, so the
// encoded bytes are identical on every run. Float initializers are stored as
// little-endian raw_data, and Marshal encodes deterministically.
//
// All models take an input "image" of RGB float32 NCHW, normalised per channel
// as (pixel - Mean) / Std with the ImageNet statistics on the 0..255 range.
// The metadata_props say so under MetaPreprocess, in the form lmpseg export
// writes; MetaFeature and MetaStride name the suggested feature tensor.
//
// TinyDynS4 and TinyStaticS8 are small test backbones (dynamic and static
// input shape, features at strides 4 and 8). DemoBackbone is the demo's
// "pretrained" backbone: hand-designed colour, chroma, edge, texture and
// context channels at stride 8 in a tensor named "features", followed by a
// fixed random classifier; it costs about 10 ms for a 256x512 image on one core.
//
// The three models are committed under testdata/models. Run
//
//	go generate ./internal/modelgen
//
// to rewrite them; a test fails when the committed files differ from what the
// code generates.
package modelgen
