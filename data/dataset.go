package data

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// labelMap translates raw label values from a file into labels.
// Values below len(lut) map through lut; others map to rest, or stay as
// they are when rest is negative.
type labelMap struct {
	lut  []int32
	rest int32
}

func (m *labelMap) apply(v int32) int32 {
	if m == nil {
		return v
	}
	if int(v) < len(m.lut) {
		return m.lut[v]
	}
	if m.rest >= 0 {
		return m.rest
	}
	return v
}

type item struct {
	name, image, label string
	m                  *labelMap
}

// fileDataset is a Dataset of image/label file pairs.
type fileDataset struct {
	format, root string
	what         string // what an empty dataset lacks, for the error message
	items        []item
	classes      []string
	ignore       int32
}

func (d *fileDataset) Len() int          { return len(d.items) }
func (d *fileDataset) Name(i int) string { return d.items[i].name }
func (d *fileDataset) Classes() []string { return d.classes }

// String describes the dataset, for logs.
func (d *fileDataset) String() string {
	return fmt.Sprintf("%s dataset %s: %d samples, %d classes", d.format, d.root, len(d.items), len(d.classes))
}

// Load implements Dataset.
func (d *fileDataset) Load(i int) (*Sample, error) {
	it := d.items[i]
	b, err := os.ReadFile(it.image)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	img, h, w, err := DecodeImage(b)
	if err != nil {
		return nil, fmt.Errorf("data: decode image %s: %w", it.image, err)
	}
	lab, lh, lw, err := d.LoadLabel(i)
	if err != nil {
		return nil, err
	}
	if lh != h || lw != w {
		return nil, fmt.Errorf("data: image %s is %dx%d but its label %s is %dx%d (width x height)",
			it.image, w, h, it.label, lw, lh)
	}
	return &Sample{Name: it.name, H: h, W: w, Image: img, Label: lab}, nil
}

// LoadLabel implements LabelLoader: it decodes, maps and checks the label of
// sample i without decoding the image.
func (d *fileDataset) LoadLabel(i int) (label []int32, h, w int, err error) {
	it := d.items[i]
	b, err := os.ReadFile(it.label)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: %w", err)
	}
	label, h, w, err = decodeLabelBytes(b)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: decode label %s: %w", it.label, err)
	}
	k := int32(len(d.classes))
	for j, raw := range label {
		v := it.m.apply(raw)
		if (v < 0 || v >= k) && v != d.ignore {
			return nil, 0, 0, fmt.Errorf("data: label %s: pixel (x=%d, y=%d) has value %d, "+
				"which is neither a class (0..%d) nor the ignore label %d",
				it.label, j%w, j/w, raw, k-1, d.ignore)
		}
		label[j] = v
	}
	return label, h, w, nil
}

var imageExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".bmp": true, ".tif": true, ".tiff": true, ".webp": true,
}

// openFolder opens DIR/images/**/NAME.{png,jpg,...} with DIR/labels/**/NAME.png.
func openFolder(dir string, o Options) (*fileDataset, error) {
	if !hasDirs(dir, layouts[0].need) {
		return nil, layoutError(dir, "folder")
	}
	imgDir, labDir := filepath.Join(dir, "images"), filepath.Join(dir, "labels")
	var fromFile []string
	source := filepath.Join(dir, "classes.txt")
	if b, err := os.ReadFile(source); err == nil {
		fromFile = parseClasses(string(b))
		if len(fromFile) == 0 {
			return nil, fmt.Errorf("data: %s lists no classes", source)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data: %w", err)
	}
	classes, err := classNames(o, fromFile, source)
	if err != nil {
		return nil, err
	}
	d := &fileDataset{format: "folder", root: dir, what: "images in " + imgDir, classes: classes, ignore: o.IgnoreLabel()}
	seen := map[string]string{}
	err = filepath.WalkDir(imgDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !imageExts[strings.ToLower(filepath.Ext(path))] {
			return nil
		}
		rel, err := filepath.Rel(imgDir, path)
		if err != nil {
			return err
		}
		stem := strings.TrimSuffix(rel, filepath.Ext(rel))
		if prev, ok := seen[stem]; ok {
			return fmt.Errorf("data: images %s and %s share the name %s", prev, path, filepath.ToSlash(stem))
		}
		seen[stem] = path
		lab := filepath.Join(labDir, stem+".png")
		if _, err := os.Stat(lab); err != nil {
			return fmt.Errorf("data: image %s has no label: %s does not exist", path, lab)
		}
		d.items = append(d.items, item{name: filepath.ToSlash(stem), image: path, label: lab})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// parseClasses reads one class name per line; blank lines and lines
// starting with '#' are skipped.
func parseClasses(s string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		names = append(names, l)
	}
	return names
}

// CityscapesClasses are the names of the 19 Cityscapes training classes.
var CityscapesClasses = []string{
	"road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
	"vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
	"motorcycle", "bicycle",
}

// cityscapesIDs lists the labelId of each trainId.
var cityscapesIDs = []int32{7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33}

// CityscapesTrainID maps a Cityscapes labelId to its trainId (0..18), or to
// ignore for the classes not used in training.
func CityscapesTrainID(labelID, ignore int32) int32 {
	for t, id := range cityscapesIDs {
		if id == labelID {
			return int32(t)
		}
	}
	return ignore
}

func openCityscapes(dir string, o Options) (*fileDataset, error) {
	if !hasDirs(dir, layouts[1].need) {
		return nil, layoutError(dir, "cityscapes")
	}
	classes, err := classNames(o, CityscapesClasses, "the cityscapes class list")
	if err != nil {
		return nil, err
	}
	ignore := o.IgnoreLabel()
	ids := &labelMap{lut: make([]int32, 256), rest: ignore}
	for v := range ids.lut {
		ids.lut[v] = CityscapesTrainID(int32(v), ignore)
	}
	train := &labelMap{lut: make([]int32, 256), rest: -1}
	for v := range train.lut {
		train.lut[v] = int32(v)
	}
	train.lut[255] = ignore
	split := o.split()
	imgDir := filepath.Join(dir, "leftImg8bit", split)
	gtDir := filepath.Join(dir, "gtFine", split)
	if !hasDirs(dir, []string{"leftImg8bit/" + split, "gtFine/" + split}) {
		return nil, fmt.Errorf("data: cityscapes split %q not found: expected %s and %s; found leftImg8bit/ with %s",
			split, imgDir, gtDir, listDir(filepath.Join(dir, "leftImg8bit")))
	}
	d := &fileDataset{format: "cityscapes", root: dir, what: "*_leftImg8bit.png in " + imgDir, classes: classes, ignore: ignore}
	const suffix = "_leftImg8bit.png"
	err = filepath.WalkDir(imgDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !strings.HasSuffix(path, suffix) {
			return nil
		}
		rel, err := filepath.Rel(imgDir, path)
		if err != nil {
			return err
		}
		stem := strings.TrimSuffix(rel, suffix)
		it := item{name: filepath.ToSlash(stem), image: path, m: train}
		it.label = filepath.Join(gtDir, stem+"_gtFine_labelTrainIds.png")
		if _, err := os.Stat(it.label); err != nil {
			it.label = filepath.Join(gtDir, stem+"_gtFine_labelIds.png")
			it.m = ids
			if _, err := os.Stat(it.label); err != nil {
				return fmt.Errorf("data: image %s has no label: neither %s nor %s exists", path,
					filepath.Join(gtDir, stem+"_gtFine_labelTrainIds.png"), it.label)
			}
		}
		d.items = append(d.items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// VOCClasses are the names of the 21 PASCAL VOC classes (background first).
var VOCClasses = []string{
	"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
	"cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
	"train", "tvmonitor",
}

func openVOC(dir string, o Options) (*fileDataset, error) {
	root := vocRoot(dir)
	if root == "" {
		return nil, layoutError(dir, "voc")
	}
	classes, err := classNames(o, VOCClasses, "the voc class list")
	if err != nil {
		return nil, err
	}
	ignore := o.IgnoreLabel()
	m := &labelMap{lut: make([]int32, 256), rest: -1}
	for v := range m.lut {
		m.lut[v] = int32(v)
	}
	m.lut[255] = ignore
	list := filepath.Join(root, "ImageSets", "Segmentation", o.split()+".txt")
	b, err := os.ReadFile(list)
	if err != nil {
		return nil, fmt.Errorf("data: voc split %q: %w", o.split(), err)
	}
	d := &fileDataset{format: "voc", root: root, what: "ids in " + list, classes: classes, ignore: ignore}
	for _, id := range strings.Fields(string(b)) {
		it := item{
			name:  id,
			image: filepath.Join(root, "JPEGImages", id+".jpg"),
			label: filepath.Join(root, "SegmentationClass", id+".png"),
			m:     m,
		}
		if _, err := os.Stat(it.image); err != nil {
			return nil, fmt.Errorf("data: %s lists %s but image %s does not exist", list, id, it.image)
		}
		if _, err := os.Stat(it.label); err != nil {
			return nil, fmt.Errorf("data: image %s has no label: %s does not exist", it.image, it.label)
		}
		d.items = append(d.items, it)
	}
	return d, nil
}

// LoadImage decodes one image file into a Sample without a label, for
// prediction. The name is the file's base name without its extension.
func LoadImage(path string) (*Sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	img, h, w, err := DecodeImage(b)
	if err != nil {
		return nil, fmt.Errorf("data: decode image %s: %w", path, err)
	}
	base := filepath.Base(path)
	return &Sample{Name: strings.TrimSuffix(base, filepath.Ext(base)), H: h, W: w, Image: img}, nil
}

// ListImages expands paths into image files: a file is taken as it is, a
// folder contributes the files with an image extension (.png, .jpg, .jpeg,
// .bmp, .tif, .tiff, .webp, any case) found below it, in lexical order.
func ListImages(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(path))] {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("data: no images in %s", p)
		}
	}
	return out, nil
}
