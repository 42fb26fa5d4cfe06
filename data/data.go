package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultIgnore is the ignore label used when Options.Ignore is zero.
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

// Options configures Open.
type Options struct {
	// Ignore is the ignore label. Zero means DefaultIgnore (255), so the
	// zero Options value is the usual setting; 0 cannot be the ignore label.
	// For cityscapes and voc, the 255 stored in the files is mapped to Ignore.
	Ignore int32
	// NumClasses is the number of classes. Zero takes it from classes.txt
	// (folder) or from the format (19 for cityscapes, 21 for voc). When both
	// are known they must agree.
	NumClasses int
	// ClassNames, when set, names the classes (overriding classes.txt);
	// its length must agree with NumClasses when that is set.
	ClassNames []string
	// Split selects "train" or "val" for cityscapes and voc
	// (any split folder or ImageSets list name works); "" means "train".
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

// Formats lists the dataset layouts Open understands.
var Formats = []string{"folder", "cityscapes", "voc"}

// Open opens the dataset in dir. format is "folder", "cityscapes", "voc" or
// "" to detect the layout. Open lists the samples and checks that every image
// has a label file; images are decoded only by Load.
func Open(dir, format string, o Options) (Dataset, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data: %s is not a directory", dir)
	}
	if o.Ignore < 0 {
		return nil, fmt.Errorf("data: negative ignore label %d", o.Ignore)
	}
	if o.NumClasses < 0 {
		return nil, fmt.Errorf("data: negative number of classes %d", o.NumClasses)
	}
	if o.NumClasses > 0 && len(o.ClassNames) > 0 && len(o.ClassNames) != o.NumClasses {
		return nil, fmt.Errorf("data: %d class names given for %d classes", len(o.ClassNames), o.NumClasses)
	}
	if format == "" {
		format, err = Detect(dir)
		if err != nil {
			return nil, err
		}
	}
	var ds *fileDataset
	switch format {
	case "folder":
		ds, err = openFolder(dir, o)
	case "cityscapes":
		ds, err = openCityscapes(dir, o)
	case "voc":
		ds, err = openVOC(dir, o)
	default:
		return nil, fmt.Errorf("data: unknown dataset format %q (want %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return nil, err
	}
	if len(ds.items) == 0 {
		return nil, fmt.Errorf("data: %s dataset %s is empty (no %s)", format, dir, ds.what)
	}
	if int(ds.ignore) < len(ds.classes) {
		return nil, fmt.Errorf("data: ignore label %d is also a class index (%d classes)", ds.ignore, len(ds.classes))
	}
	return ds, nil
}

// layout describes the folders that identify a dataset layout.
type layout struct {
	format string
	need   []string
}

var layouts = []layout{
	{"folder", []string{"images", "labels"}},
	{"cityscapes", []string{"leftImg8bit", "gtFine"}},
	{"voc", []string{"JPEGImages", "SegmentationClass", "ImageSets/Segmentation"}},
}

func hasDirs(dir string, names []string) bool {
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// vocRoot returns the VOC2012-style folder at or below dir, or "".
func vocRoot(dir string) string {
	for _, d := range []string{dir, filepath.Join(dir, "VOC2012"), filepath.Join(dir, "VOCdevkit", "VOC2012")} {
		if hasDirs(d, layouts[2].need) {
			return d
		}
	}
	return ""
}

// Detect returns the format of the dataset in dir, or an error saying which
// layouts were expected and what dir holds.
func Detect(dir string) (string, error) {
	for _, l := range layouts[:2] {
		if hasDirs(dir, l.need) {
			return l.format, nil
		}
	}
	if vocRoot(dir) != "" {
		return "voc", nil
	}
	return "", layoutError(dir, "")
}

// layoutError describes what dir holds against the expected layouts
// (all of them when format is "").
func layoutError(dir, format string) error {
	var want []string
	for _, l := range layouts {
		if format != "" && l.format != format {
			continue
		}
		s := l.format + " (" + strings.Join(l.need, "/, ") + "/)"
		if l.format == "voc" {
			s = "voc (VOC2012 or VOCdevkit/VOC2012 with " + strings.Join(l.need, "/, ") + "/)"
		}
		want = append(want, s)
	}
	what := "no dataset layout"
	if format != "" {
		what = "the " + format + " layout"
	}
	return fmt.Errorf("data: %s does not match %s: expected %s; found %s",
		dir, what, strings.Join(want, " or "), listDir(dir))
}

func listDir(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "an unreadable folder (" + err.Error() + ")"
	}
	if len(ents) == 0 {
		return "an empty folder"
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	const max = 12
	if len(names) > max {
		names = append(names[:max], fmt.Sprintf("... (%d more)", len(names)-max))
	}
	return strings.Join(names, ", ")
}

// classNames resolves the class names from options, a file-provided list and
// a format default count.
func classNames(o Options, fromFile []string, source string) ([]string, error) {
	names := fromFile
	if len(o.ClassNames) > 0 {
		names = o.ClassNames
		source = "the given class names"
	}
	switch {
	case names != nil && o.NumClasses > 0 && len(names) != o.NumClasses:
		return nil, fmt.Errorf("data: %s lists %d classes but %d were asked for", source, len(names), o.NumClasses)
	case names != nil:
		return append([]string(nil), names...), nil
	case o.NumClasses > 0:
		names = make([]string, o.NumClasses)
		for i := range names {
			names[i] = fmt.Sprintf("class%d", i)
		}
		return names, nil
	}
	return nil, errors.New("data: " + source + " is missing and the number of classes is not given")
}
