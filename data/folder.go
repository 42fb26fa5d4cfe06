package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	RegisterFormat("folder", Format{
		Open:   func(dir string, o Options) (Dataset, error) { return openFolder(dir, o) },
		Detect: func(dir string) bool { return hasDirs(dir, "images", "labels") },
		Layout: "images/, labels/",
	})
}

// openFolder opens DIR/images/**/NAME.{png,jpg,...} with DIR/labels/**/NAME.png.
func openFolder(dir string, o Options) (*fileDataset, error) {
	if !hasDirs(dir, "images", "labels") {
		return nil, layoutError(dir, "folder")
	}
	imgDir, labDir := filepath.Join(dir, "images"), filepath.Join(dir, "labels")
	var fromFile []string
	source := filepath.Join(dir, "classes.txt")
	if b, err := os.ReadFile(source); err == nil {
		if fromFile, err = parseClasses(string(b), source); err != nil {
			return nil, err
		}
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
	err = walkFiles(imgDir, func(path string) error {
		if !IsImage(path) {
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
