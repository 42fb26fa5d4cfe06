package data

import (
	"image/color"
	"path/filepath"
)

func init() {
	RegisterFormat("camvid", Format{
		Open:   func(dir string, o Options) (Dataset, error) { return openCamVid(dir, o) },
		Detect: func(dir string) bool { return camvidRoot(dir) != "" },
		Layout: "CamVid with train/, trainannot/ (and val/, valannot/, test/, testannot/)",
	})
}

// CamVidClasses are the 11 CamVid classes of the SegNet benchmark, in the
// order of their label values 0..10; value 11 (Unlabelled) is ignored.
var CamVidClasses = []string{
	"Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
}

// CamVidPalette returns the colours of the 11 CamVid classes as the SegNet
// benchmark draws them.
func CamVidPalette() Palette {
	return Palette{
		{128, 128, 128, 255}, {128, 0, 0, 255}, {192, 192, 128, 255}, {128, 64, 128, 255},
		{60, 40, 222, 255}, {128, 128, 0, 255}, {192, 128, 128, 255}, {64, 64, 128, 255},
		{64, 0, 128, 255}, {64, 64, 0, 255}, {0, 128, 192, 255},
	}
}

// camvidColours maps the colours of colour label images to label values:
// the 11 classes in CamVidPalette's colours, the original CamVid sidewalk
// colour (0, 0, 192) to Pavement, and black (void) to 11.
func camvidColours() *colourMap {
	cm := &colourMap{ids: map[uint32]int32{}, source: "the camvid colours"}
	add := func(c color.RGBA, id int32) { cm.ids[rgbKey(c.R, c.G, c.B)] = id }
	for i, c := range CamVidPalette() {
		add(c, int32(i))
	}
	add(color.RGBA{0, 0, 192, 255}, 4)
	add(color.RGBA{0, 0, 0, 255}, 11)
	return cm
}

// camvidRoot returns the SegNet-style CamVid folder at or below dir, or "".
func camvidRoot(dir string) string {
	for _, d := range []string{dir, filepath.Join(dir, "CamVid")} {
		for _, split := range []string{"train", "val", "test"} {
			if hasDirs(d, split, split+"annot") {
				return d
			}
		}
	}
	return ""
}

// openCamVid opens the SegNet version of CamVid: SPLIT/NAME.png with
// SPLITannot/NAME.png, for the splits train, val and test. Labels hold
// 0..10 for the classes and 11 for void, which becomes the ignore label (as
// does 255); colour labels in CamVidPalette's colours are accepted too.
func openCamVid(dir string, o Options) (*fileDataset, error) {
	root, classes, err := builtinRoot(dir, "camvid", camvidRoot, CamVidClasses, o)
	if err != nil {
		return nil, err
	}
	ignore := o.IgnoreLabel()
	m := byteLabels(0, ignore, 11, 255)
	split := o.split()
	imgDir, labDir, err := splitDirs("camvid", split, root, "", "", "annot")
	if err != nil {
		return nil, err
	}
	d := &fileDataset{format: "camvid", root: root, what: "images in " + imgDir, classes: classes,
		ignore: ignore, colours: camvidColours()}
	if d.items, err = pairFiles(imgDir, labDir, m, false); err != nil {
		return nil, err
	}
	return d, nil
}
