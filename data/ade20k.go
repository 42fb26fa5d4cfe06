package data

import "path/filepath"

func init() {
	RegisterFormat("ade20k", Format{
		Open:   func(dir string, o Options) (Dataset, error) { return openADE20K(dir, o) },
		Detect: func(dir string) bool { return adeRoot(dir) != "" },
		Layout: "ADEChallengeData2016 with images/ and annotations/, each with training/ and validation/",
	})
}

// ADE20KClasses are the names of the 150 classes of the ADE20K scene
// parsing benchmark (ADEChallengeData2016, SceneParsing150), in the order of
// their label values 1..150, each the first name of its WordNet synonyms.
var ADE20KClasses = []string{
	"wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
	"cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
	"car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
	"armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
	"base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
	"refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
	"river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
	"countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel",
	"bus", "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
	"airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
	"poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool",
	"stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
	"food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher",
	"screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
	"pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
}

// adeRoot returns the ADEChallengeData2016 folder at or below dir, or "".
func adeRoot(dir string) string {
	for _, d := range []string{dir, filepath.Join(dir, "ADEChallengeData2016")} {
		if hasDirs(d, "images", "annotations") &&
			(hasDirs(d, "images/training", "annotations/training") || hasDirs(d, "images/validation", "annotations/validation")) {
			return d
		}
	}
	return ""
}

// adeSplit names the split folder of ADE20K-style layouts: "train" (or "")
// is training, "val" validation, anything else is taken as it is.
func adeSplit(o Options) string {
	switch s := o.split(); s {
	case "train":
		return "training"
	case "val":
		return "validation"
	default:
		return s
	}
}

// openADE20K opens ADEChallengeData2016: images/SPLIT/NAME.jpg with
// annotations/SPLIT/NAME.png. The annotations hold 0 for "other" and 1..150
// for the classes; as mmsegmentation's reduce_zero_label does, 0 becomes the
// ignore label and k becomes class k-1 (255 stays ignored).
func openADE20K(dir string, o Options) (*fileDataset, error) {
	root, classes, err := builtinRoot(dir, "ade20k", adeRoot, ADE20KClasses, o)
	if err != nil {
		return nil, err
	}
	ignore := o.IgnoreLabel()
	m := byteLabels(1, ignore, 0, 255)
	split := adeSplit(o)
	imgDir, labDir, err := splitDirs("ade20k", split, root, "images", "annotations", "")
	if err != nil {
		return nil, err
	}
	d := &fileDataset{format: "ade20k", root: root, what: "images in " + imgDir, classes: classes, ignore: ignore}
	if d.items, err = pairFiles(imgDir, labDir, m, false); err != nil {
		return nil, err
	}
	return d, nil
}
