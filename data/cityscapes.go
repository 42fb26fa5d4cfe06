package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	RegisterFormat("cityscapes", Format{
		Open:   func(dir string, o Options) (Dataset, error) { return openCityscapes(dir, o) },
		Detect: func(dir string) bool { return hasDirs(dir, "leftImg8bit", "gtFine") },
		Layout: "leftImg8bit/, gtFine/",
	})
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
	if !hasDirs(dir, "leftImg8bit", "gtFine") {
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
	train := byteLabels(0, ignore, 255)
	split := o.split()
	imgDir, gtDir, err := splitDirs("cityscapes", split, dir, "leftImg8bit", "gtFine", "")
	if err != nil {
		return nil, err
	}
	d := &fileDataset{format: "cityscapes", root: dir, what: "*_leftImg8bit.png in " + imgDir, classes: classes, ignore: ignore}
	const suffix = "_leftImg8bit.png"
	err = walkFiles(imgDir, func(path string) error {
		if !strings.HasSuffix(path, suffix) {
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
