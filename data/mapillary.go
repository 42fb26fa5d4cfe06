package data

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

func init() {
	RegisterFormat("mapillary", Format{
		Open:   func(dir string, o Options) (Dataset, error) { return openMapillary(dir, o) },
		Detect: isMapillary,
		Layout: "Mapillary Vistas: config.json with training/ and validation/, each with images/ and labels/",
	})
}

// mapillaryVersions are the class configurations of Mapillary Vistas and
// the label folder below each split that goes with them: config.json with
// labels/ is the v1.2 release, the v2.0 release holds both versions.
var mapillaryVersions = []struct{ config, labels string }{
	{"config.json", "labels"},
	{"config_v1.2.json", "v1.2/labels"},
	{"config_v2.0.json", "v2.0/labels"},
}

// isMapillary reports whether dir holds a Mapillary Vistas configuration with
// a training or validation split.
func isMapillary(dir string) bool {
	for _, split := range []string{"training", "validation"} {
		if _, _, err := mapillaryConfig(dir, split); err == nil {
			return true
		}
	}
	return false
}

// mapillaryConfig returns the configuration file and the label folder of
// the given split in dir, preferring v1.2, or an error when there is none.
func mapillaryConfig(dir, split string) (config, labels string, err error) {
	for _, v := range mapillaryVersions {
		config := filepath.Join(dir, v.config)
		if st, err := os.Stat(config); err != nil || st.IsDir() {
			continue
		}
		if hasDirs(dir, split+"/images", split+"/"+v.labels) {
			return config, filepath.Join(dir, split, filepath.FromSlash(v.labels)), nil
		}
	}
	return "", "", fs.ErrNotExist
}

// mapillaryLabel is one entry of the "labels" list of a Mapillary Vistas
// config.json.
type mapillaryLabel struct {
	Name     string `json:"name"`     // e.g. "construction--flat--road"
	Readable string `json:"readable"` // e.g. "Road"
	Color    []int  `json:"color"`    // RGB
	Evaluate *bool  `json:"evaluate"` // false: not a benchmark class
}

// readMapillaryConfig reads the label list of a Mapillary Vistas
// configuration. It returns the class names (the labels that are evaluated,
// by readable name, or by name when readable names are missing or repeat),
// the map from label position to class (or ignore) and the label colours.
func readMapillaryConfig(path string, ignore int32) (classes []string, m *labelMap, cm *colourMap, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data: %w", err)
	}
	var cfg struct {
		Labels []mapillaryLabel `json:"labels"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, nil, nil, fmt.Errorf("data: %s: %w", path, err)
	}
	if len(cfg.Labels) == 0 {
		return nil, nil, nil, fmt.Errorf("data: %s lists no labels", path)
	}
	m = &labelMap{lut: make([]int32, max(256, len(cfg.Labels))), rest: -1}
	for i := range m.lut {
		m.lut[i] = -1 // not a label: an error when it occurs
	}
	if len(cfg.Labels) <= 255 {
		m.lut[255] = ignore
	}
	cm = &colourMap{ids: map[uint32]int32{}, source: path}
	var readable, names []string
	useReadable := true
	seen := map[string]bool{}
	for i, l := range cfg.Labels {
		if l.Name == "" {
			return nil, nil, nil, fmt.Errorf("data: %s: label %d has no name", path, i)
		}
		if len(l.Color) != 3 || !inByte(l.Color) {
			return nil, nil, nil, fmt.Errorf("data: %s: label %s has colour %v, want 3 values 0..255", path, l.Name, l.Color)
		}
		c := rgbKey(uint8(l.Color[0]), uint8(l.Color[1]), uint8(l.Color[2]))
		if prev, dup := cm.ids[c]; dup {
			return nil, nil, nil, fmt.Errorf("data: %s: labels %s and %s share the colour %v",
				path, cfg.Labels[prev].Name, l.Name, l.Color)
		}
		cm.ids[c] = int32(i)
		if l.Evaluate != nil && !*l.Evaluate {
			m.lut[i] = ignore
			continue
		}
		m.lut[i] = int32(len(names))
		names = append(names, l.Name)
		readable = append(readable, l.Readable)
		if l.Readable == "" || seen[l.Readable] {
			useReadable = false
		}
		seen[l.Readable] = true
	}
	if len(names) == 0 {
		return nil, nil, nil, fmt.Errorf("data: %s: no label is evaluated", path)
	}
	if useReadable {
		names = readable
	}
	return names, m, cm, nil
}

func inByte(v []int) bool {
	for _, x := range v {
		if x < 0 || x > 255 {
			return false
		}
	}
	return true
}

// openMapillary opens Mapillary Vistas: SPLIT/images/KEY.jpg with
// SPLIT/labels/KEY.png, the classes and colours coming from config.json.
// Labels may be index PNGs (paletted or gray: the value is the position in
// the config's label list) or colour PNGs (mapped by the config's colours).
// Labels whose "evaluate" is false, such as "Unlabeled", become the ignore
// label and the other labels are numbered in order.
func openMapillary(dir string, o Options) (*fileDataset, error) {
	split := adeSplit(o)
	config, labDir, err := mapillaryConfig(dir, split)
	if err != nil {
		if !isMapillary(dir) {
			return nil, layoutError(dir, "mapillary")
		}
		return nil, fmt.Errorf("data: mapillary split %q not found: expected %s with images/ and labels/; found %s",
			split, filepath.Join(dir, split), listDir(dir))
	}
	ignore := o.IgnoreLabel()
	fromFile, m, cm, err := readMapillaryConfig(config, ignore)
	if err != nil {
		return nil, err
	}
	classes, err := classNames(o, fromFile, config)
	if err != nil {
		return nil, err
	}
	imgDir := filepath.Join(dir, split, "images")
	d := &fileDataset{format: "mapillary", root: dir, what: "images in " + imgDir, classes: classes, ignore: ignore, colours: cm}
	if d.items, err = pairFiles(imgDir, labDir, m, false); err != nil {
		return nil, err
	}
	return d, nil
}
