package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	RegisterFormat("voc", Format{
		Open:   func(dir string, o Options) (Dataset, error) { return openVOC(dir, o) },
		Detect: func(dir string) bool { return vocRoot(dir) != "" },
		Layout: "VOC2012 or VOCdevkit/VOC2012 with " + strings.Join(vocNeed, "/, ") + "/",
	})
}

// vocNeed are the folders of a VOC2012 root.
var vocNeed = []string{"JPEGImages", "SegmentationClass", "ImageSets/Segmentation"}

// vocRoot returns the VOC2012-style folder at or below dir, or "".
func vocRoot(dir string) string {
	for _, d := range []string{dir, filepath.Join(dir, "VOC2012"), filepath.Join(dir, "VOCdevkit", "VOC2012")} {
		if hasDirs(d, vocNeed...) {
			return d
		}
	}
	return ""
}

// VOCClasses are the names of the 21 PASCAL VOC classes (background first).
var VOCClasses = []string{
	"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
	"cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
	"train", "tvmonitor",
}

func openVOC(dir string, o Options) (*fileDataset, error) {
	root, classes, err := builtinRoot(dir, "voc", vocRoot, VOCClasses, o)
	if err != nil {
		return nil, err
	}
	ignore := o.IgnoreLabel()
	m := byteLabels(0, ignore, 255)
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
