// Package resample holds the bilinear resampling kernels that graph, data
// and infer share, so that every upsampling in lmpseg maps coordinates the
// same way.
//
// # Coordinates
//
// All maps use half-pixel centres (align_corners = false), the semantics of
// PyTorch's interpolate(mode="bilinear", align_corners=False) and of ONNX
// Resize with coordinate_transformation_mode half_pixel and mode linear:
// output sample d of an axis resized from in to out samples reads the
// source position src = (d+0.5)*in/out - 0.5, clamped at 0 below, between
// the taps floor(src) and floor(src)+1, the upper tap clamped at in-1.
// BilinearAxis computes that map once per axis as an Axis (the two taps
// and the weight of the upper one, 0 where both taps coincide); the fused
// loss and the upsampled argmax of package graph walk the same Axis values
// as the kernels here.
//
// # Kernels
//
// A separable bilinear resize interpolates along x within two source rows
// and then between them along y. Two algebraically equal forms are kept
// because they round differently in float32 and existing results must not
// change: Weighted, (1-l)*a + l*b, is the form of graph.ResizeBilinear and
// of the Go side of the ONNX parity checks; Lerp, a + l*(b-a), is the form
// of data's image augmentation. Bilinear resizes whole planes in the
// Weighted form; BilinearForm takes the form; Window computes a rectangle
// of one resized plane (data's crop-while-resizing) and Row one output row
// (for callers that parallelise over rows). RowAdjoint is the transpose of
// a Weighted row, for back-propagation.
//
// # Errors
//
// Mismatched lengths and sizes are programmer errors and panic with a
// message that starts with "resample:".
package resample
