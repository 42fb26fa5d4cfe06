// Package metrics measures semantic segmentation the way the field does:
// from one confusion matrix of pixel counts with the ignore label excluded.
//
// A Confusion accumulates label maps against predictions. Its Report gives,
// per class, the intersection over union (IoU), the accuracy (recall) and the
// Dice coefficient, and overall the pixel accuracy (aAcc), the means over
// classes (mIoU, mAcc, mDice) and the frequency-weighted IoU (fwIoU). A class
// that occurs neither in the labels nor in the predictions is marked absent
// (its values are NaN) and left out of the means; Report.Print says so under
// the aligned tables it writes, which follow mmsegmentation's layout with
// percentages to two decimals.
//
// A Result couples the matrix with class names, the number of images and the
// shards it covers, each with its images and the report it came from; it
// saves to and loads from JSON with the full matrix. Load refuses reports
// that cannot be right (negative counts, a matrix of the wrong size, counts
// whose sum overflows, images that do not add up, metrics that disagree with
// the matrix). Merge, MergeWith and MergeFiles sum results from several
// processes, refusing different class lists, shards counted twice or of
// different counts, missing shards (unless asked for a partial result) and
// counts that would overflow. Shard, ParseShard and ResolveShard split a
// dataset over the workers of a Kubernetes Indexed Job or a Slurm job array.
//
// Counts never wrap around: Add records an error instead of counting pixels
// that would overflow (see Confusion.Err), and Merge and Load return one.
//
// The plot functions draw a row-normalised confusion heat map, per-class IoU
// bars, training loss curves and per-class IoU bars grouped by loss as PNG
// files with gonum.org/v1/plot. WriteHTMLReport puts the summary, the
// per-class table, these plots and the worst images (image, ground truth,
// prediction) on one self-contained HTML page; MaskImage, WriteMaskPNG,
// WriteImagePNG and Palette draw the PNGs it shows.
//
// Add panics when the label and prediction slices differ in length, and
// NewConfusion when asked for fewer than one class: both are programming
// errors.
package metrics
