// Package demo is lmpseg's main job on its embedded default: it generates the synthetic
// long-tailed street dataset and the demo backbone, trains a linear head with every loss for the
// same budget over several seeds through the library (train.Run), and ce and the first LMP
// setting again with each class sampler (class-uniform and performance, see train.ClassSampler),
// evaluates each run, exports the first LMP run (export.Run) and checks that onnxruntime
// evaluates the file to the Go path's numbers, then writes the comparison as a table, report.md,
// report.json and plots.
package demo
