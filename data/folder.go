package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	if d.items, err = pairFiles(imgDir, labDir, nil, true); err != nil {
		return nil, err
	}
	return d, nil
}
