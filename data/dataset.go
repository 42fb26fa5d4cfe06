package data

import (
	"crypto/sha256"
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

// byteLabels returns the label map of 8-bit label files that store class k
// as k+shift: raw value v becomes v-shift, except the values in void, which
// become ignore; values beyond 255 stay as they are.
func byteLabels(shift, ignore int32, void ...int) *labelMap {
	m := &labelMap{lut: make([]int32, 256), rest: -1}
	for v := range m.lut {
		m.lut[v] = int32(v) - shift
	}
	for _, v := range void {
		m.lut[v] = ignore
	}
	return m
}

// missing says what an empty dataset lacks, for Open's error.
func (d *fileDataset) missing() string { return d.what }

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
	colours      *colourMap // for colour label PNGs; nil rejects them
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

// Digest implements Digester: a hash of the image and label files' bytes and of what maps the
// label file to the sample's labels (the format, the class count, the ignore label).
func (d *fileDataset) Digest(i int) ([16]byte, error) {
	it := d.items[i]
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00", d.format, len(d.classes), d.ignore)
	for _, p := range []string{it.image, it.label} {
		b, err := os.ReadFile(p)
		if err != nil {
			return [16]byte{}, fmt.Errorf("data: %w", err)
		}
		fmt.Fprintf(h, "%d\x00", len(b))
		h.Write(b)
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// LoadLabel implements LabelLoader: it decodes, maps and checks the label of
// sample i without decoding the image.
func (d *fileDataset) LoadLabel(i int) (label []int32, h, w int, err error) {
	it := d.items[i]
	b, err := os.ReadFile(it.label)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: %w", err)
	}
	label, h, w, err = decodeLabelBytes(b, d.colours)
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

// pairFiles lists the images below imgDir (see IsImage) with their labels:
// the image imgDir/STEM.EXT goes with labDir/STEM.png, and every label maps
// through m. An image without its label is an error. With unique, two
// images of one stem (a.jpg and a.png) are an error too; without it both
// are listed with the same label.
func pairFiles(imgDir, labDir string, m *labelMap, unique bool) ([]item, error) {
	var items []item
	seen := map[string]string{}
	err := walkFiles(imgDir, func(path string) error {
		if !IsImage(path) {
			return nil
		}
		rel, err := filepath.Rel(imgDir, path)
		if err != nil {
			return err
		}
		stem := strings.TrimSuffix(rel, filepath.Ext(rel))
		if unique {
			if prev, ok := seen[stem]; ok {
				return fmt.Errorf("data: images %s and %s share the name %s", prev, path, filepath.ToSlash(stem))
			}
			seen[stem] = path
		}
		lab := filepath.Join(labDir, stem+".png")
		if _, err := os.Stat(lab); err != nil {
			return fmt.Errorf("data: image %s has no label: %s does not exist", path, lab)
		}
		items = append(items, item{name: filepath.ToSlash(stem), image: path, label: lab, m: m})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// imageExts are the file extensions (lower case) of the image formats that
// DecodeImage reads.
var imageExts = []string{".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}

// ImageExts returns the file extensions, lower case with the dot, that
// dataset listings and ListImages take as images: .bmp, .jpeg, .jpg, .png,
// .tif, .tiff and .webp.
func ImageExts() []string { return append([]string(nil), imageExts...) }

// IsImage reports whether path has one of the ImageExts, in any case.
func IsImage(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range imageExts {
		if e == ext {
			return true
		}
	}
	return false
}

// walkFiles calls fn for every file below root, in lexical order within each
// folder. It follows symbolic links to folders and files (root itself may be
// one) and skips a link to a folder that is already being walked, which
// would loop; a link to nothing is an error.
func walkFiles(root string, fn func(path string) error) error {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return walkDir(root, map[string]bool{real: true}, fn)
}

// walkDir walks dir; open holds the real paths of dir and its ancestors.
func walkDir(dir string, open map[string]bool, fn func(path string) error) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			st, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("data: broken symbolic link %s: %w", path, err)
			}
			mode = st.Mode().Type()
		}
		switch {
		case mode.IsRegular():
			if err := fn(path); err != nil {
				return err
			}
		case mode.IsDir():
			real, err := filepath.EvalSymlinks(path)
			if err != nil {
				return fmt.Errorf("data: %w", err)
			}
			if open[real] {
				continue // a link back to an ancestor
			}
			open[real] = true
			err = walkDir(path, open, fn)
			delete(open, real)
			if err != nil {
				return err
			}
		}
	}
	return nil
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
// folder contributes the files with an image extension (see IsImage) found
// below it, in lexical order, following symbolic links.
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
		err = walkFiles(p, func(path string) error {
			if IsImage(path) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("data: no images in %s", p)
		}
	}
	return out, nil
}
