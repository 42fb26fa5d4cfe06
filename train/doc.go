// Package train owns the optimisation of a segmentation head on frozen backbone features: the
// optimisers (SGD with momentum and Nesterov, AdamW), the learning-rate schedule (poly with linear
// warm-up), one training step (Step) kept apart from the loop (Run) that calls named hooks for
// logging, evaluation and checkpoints, the run folder with its atomic checkpoints, and the on-disk
// feature cache.
//
// Datasets and augmentation live in the top-level packages data and metrics. A run folder holds
// everything needed to rebuild the model: config.json (backbone path and sha256, feature tensor,
// preprocessing, classes, head spec, loss), the head weights, the optimiser state for resuming, and
// the logs metrics.jsonl and train.csv. Every file is written to a temporary file, synced and
// renamed, so a process killed at any moment leaves a loadable run.
package train
