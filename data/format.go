package data

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Format is a dataset layout that Open understands. Each layout registers
// itself with RegisterFormat.
type Format struct {
	// Open lists the samples of the dataset in dir (an existing directory)
	// and checks that every image has a label. Open checks the options'
	// numbers before, and rejects empty datasets and an ignore label that
	// is a class index after calling it.
	Open func(dir string, o Options) (Dataset, error)
	// Detect reports whether dir has this layout. It only looks at which
	// files and folders exist, and reports false on any error.
	Detect func(dir string) bool
	// Layout describes what the layout expects, for error messages, for
	// example "images/, labels/".
	Layout string
}

var (
	formatsMu sync.RWMutex
	formats   = map[string]Format{}
)

// RegisterFormat makes the layout f available to Open and Detect under
// name. It panics when name is empty or already registered, or when f lacks
// Open or Detect: those are programming errors.
func RegisterFormat(name string, f Format) {
	if name == "" || f.Open == nil || f.Detect == nil {
		panic(fmt.Sprintf("data: RegisterFormat(%q): empty name or missing Open or Detect", name))
	}
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if _, dup := formats[name]; dup {
		panic(fmt.Sprintf("data: RegisterFormat: format %q registered twice", name))
	}
	formats[name] = f
}

// Formats returns the names of the registered dataset layouts, sorted.
func Formats() []string {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	return slices.Sorted(maps.Keys(formats))
}

func lookupFormat(name string) (Format, bool) {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	f, ok := formats[name]
	return f, ok
}

// Open opens the dataset in dir. format is a registered layout (see Formats:
// "folder", "cityscapes", "voc", ...) or "" to detect it. Open lists the
// samples and checks that every image has a label file; images are decoded
// only by Load.
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
	f, ok := lookupFormat(format)
	if !ok {
		return nil, fmt.Errorf("data: unknown dataset format %q (want %s)", format, strings.Join(Formats(), ", "))
	}
	ds, err := f.Open(dir, o)
	if err != nil {
		return nil, err
	}
	if ds.Len() == 0 {
		what := ""
		if m, ok := ds.(interface{ missing() string }); ok {
			what = " (no " + m.missing() + ")"
		}
		return nil, fmt.Errorf("data: %s dataset %s is empty%s", format, dir, what)
	}
	if ignore := o.IgnoreLabel(); int(ignore) < len(ds.Classes()) {
		return nil, fmt.Errorf("data: ignore label %d is also a class index (%d classes)", ignore, len(ds.Classes()))
	}
	return ds, nil
}

// Detect returns the format of the dataset in dir: the one registered layout
// that matches. When none or several match, the error says which layouts
// were expected and what dir holds.
func Detect(dir string) (string, error) {
	var match []string
	for _, name := range Formats() {
		f, _ := lookupFormat(name)
		if f.Detect(dir) {
			match = append(match, name)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", layoutError(dir, "")
	}
	return "", fmt.Errorf("data: %s matches several dataset layouts (%s); name the format", dir, strings.Join(match, ", "))
}

// layoutError describes what dir holds against the expected layout of
// format, or of all formats when format is "".
func layoutError(dir, format string) error {
	var want []string
	for _, name := range Formats() {
		if format != "" && name != format {
			continue
		}
		f, _ := lookupFormat(name)
		want = append(want, name+" ("+f.Layout+")")
	}
	what := "no dataset layout"
	if format != "" {
		what = "the " + format + " layout"
	}
	return fmt.Errorf("data: %s does not match %s: expected %s; found %s",
		dir, what, strings.Join(want, " or "), listDir(dir))
}

// builtinRoot returns the folder that root finds at or below dir (a layout
// error of format when it finds none) and the class names of a format with
// the built-in class list names, as classNames resolves them with o.
func builtinRoot(dir, format string, root func(dir string) string, names []string, o Options) (string, []string, error) {
	r := root(dir)
	if r == "" {
		return "", nil, layoutError(dir, format)
	}
	classes, err := classNames(o, names, "the "+format+" class list")
	if err != nil {
		return "", nil, err
	}
	return r, classes, nil
}

// hasDirs reports whether every slash-separated path in names is a folder
// below dir (following symbolic links).
func hasDirs(dir string, names ...string) bool {
	for _, n := range names {
		if !isFolder(filepath.Join(dir, filepath.FromSlash(n))) {
			return false
		}
	}
	return true
}

// isFolder reports whether path is a folder (following symbolic links).
func isFolder(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// splitDirs returns the image folder root/imgParent/SPLIT and the label
// folder root/labParent/SPLITlabSuffix of a split of format (imgParent and
// labParent may be ""). When either is missing the error names both and
// lists what imgParent holds.
func splitDirs(format, split, root, imgParent, labParent, labSuffix string) (imgDir, labDir string, err error) {
	imgDir = filepath.Join(root, imgParent, split)
	labDir = filepath.Join(root, labParent, split+labSuffix)
	if isFolder(imgDir) && isFolder(labDir) {
		return imgDir, labDir, nil
	}
	found := listDir(root)
	if imgParent != "" {
		found = imgParent + "/ with " + listDir(filepath.Join(root, imgParent))
	}
	return "", "", fmt.Errorf("data: %s split %q not found: expected %s and %s; found %s",
		format, split, imgDir, labDir, found)
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
		if isDir(filepath.Join(dir, n), e) {
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

// isDir reports whether the entry e at path is a folder or a symbolic link
// to one.
func isDir(path string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink != 0 {
		return isFolder(path)
	}
	return e.IsDir()
}
