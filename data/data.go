package data

// DefaultIgnore is the ignore label used when Options.Ignore is zero. It is
// the project's one default ignore label: other packages should use this
// constant rather than define their own.
const DefaultIgnore int32 = 255

// Sample is one decoded image with its label map.
//
// Image holds 3 planes of H*W values in RGB order (channel-major, CHW) with
// values in 0..255. Label holds H*W class indices, row-major; pixels that
// carry the ignore label are excluded from losses and metrics.
type Sample struct {
	Name  string
	H, W  int
	Image []float32
	Label []int32
}

// Dataset is a random-access collection of samples. Implementations are safe
// for concurrent use by multiple goroutines.
type Dataset interface {
	// Len returns the number of samples.
	Len() int
	// Name returns a stable name of sample i (its relative path stem).
	Name(i int) string
	// Load decodes sample i. Label values are either class indices below
	// len(Classes()) or the ignore label; anything else is an error.
	Load(i int) (*Sample, error)
	// Classes returns the class names, one per class index.
	Classes() []string
}

// LabelLoader is implemented by datasets that can decode a label map without
// decoding the image. LabelHistogram uses it when available.
type LabelLoader interface {
	LoadLabel(i int) (label []int32, h, w int, err error)
}

// Digester is implemented by datasets that can tell, without decoding, whether sample i has
// changed: Digest hashes what the sample is made from (its files' bytes and how they are read).
// Two samples with one digest decode to the same Sample.
type Digester interface {
	Digest(i int) ([16]byte, error)
}

// Options configures Open.
type Options struct {
	// Ignore is the ignore label. Zero means DefaultIgnore (255), so the
	// zero Options value is the usual setting; 0 cannot be the ignore label.
	// The values that a format's files use for "no class" (255 in
	// cityscapes, voc, ade20k, mapillary and camvid files, 0 in ade20k, 11 in
	// camvid) are mapped to Ignore.
	Ignore int32
	// NumClasses is the number of classes. Zero takes it from classes.txt
	// (folder), config.json (mapillary) or from the format (19 for
	// cityscapes, 21 for voc, 150 for ade20k, 11 for camvid). When both are
	// known they must agree.
	NumClasses int
	// ClassNames, when set, names the classes (overriding classes.txt and
	// the format's names); its length must agree with NumClasses when that
	// is set.
	ClassNames []string
	// Split selects "train" or "val" for the formats with splits (all but
	// folder); "" means "train". Any split folder or ImageSets list name
	// works; for ade20k and mapillary "train" and "val" name the folders
	// training and validation.
	Split string
}

// IgnoreLabel returns the effective ignore label of o.
func (o Options) IgnoreLabel() int32 {
	if o.Ignore == 0 {
		return DefaultIgnore
	}
	return o.Ignore
}

func (o Options) split() string {
	if o.Split == "" {
		return "train"
	}
	return o.Split
}
