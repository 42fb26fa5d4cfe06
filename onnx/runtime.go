package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibVersion is the onnxruntime release whose C API the pinned
// onnxruntime_go binding was built against; any 1.24.x library is accepted.
const LibVersion = "1.24.1"

// libFile is the file name the project installer puts under
// third_party/onnxruntime/lib.
const libFile = "libonnxruntime.so." + LibVersion

// ErrNoRuntime is wrapped by InitRuntime's error when no onnxruntime library
// can be found.
var ErrNoRuntime = errors.New(`onnxruntime library not found: run "make onnxruntime" (scripts/install-onnxruntime.sh) or set ONNXRUNTIME_LIB`)

var (
	rtMu     sync.Mutex
	rtLoaded string
)

// InitRuntime loads the onnxruntime shared library and initializes its
// environment, returning the path of the library loaded. The library is
// looked for, in order, at libPath (the --ort-lib flag) when not empty, at
// $ONNXRUNTIME_LIB, at third_party/onnxruntime/lib/libonnxruntime.so.1.24.1
// under the folders of the executable and of the working directory and
// their parents (up to the folder holding go.mod), and finally through the
// dynamic loader's default search for libonnxruntime.so.1. An explicit
// libPath or $ONNXRUNTIME_LIB that cannot be loaded is an error; it is not
// skipped. The library must be onnxruntime 1.24.x.
//
// InitRuntime is idempotent and safe for concurrent use: once a library is
// loaded, later calls return its path whatever libPath they pass.
func InitRuntime(libPath string) (loaded string, err error) {
	rtMu.Lock()
	defer rtMu.Unlock()
	if ort.IsInitialized() {
		if rtLoaded == "" {
			rtLoaded = "(initialized outside package onnx)"
		}
		return rtLoaded, nil
	}
	type cand struct {
		path     string
		explicit string // the source, when a failure must not fall through
	}
	var cands []cand
	if libPath != "" {
		cands = append(cands, cand{libPath, "--ort-lib"})
	} else if env := os.Getenv("ONNXRUNTIME_LIB"); env != "" {
		cands = append(cands, cand{env, "ONNXRUNTIME_LIB"})
	} else {
		for _, p := range projectLibCandidates() {
			cands = append(cands, cand{p, ""})
		}
		cands = append(cands, cand{"libonnxruntime.so.1", ""}, cand{"libonnxruntime.so", ""})
	}
	var lastErr error
	for _, c := range cands {
		if c.explicit != "" || strings.ContainsRune(c.path, os.PathSeparator) {
			if _, err := os.Stat(c.path); err != nil {
				if c.explicit != "" {
					return "", fmt.Errorf("onnx: onnxruntime library %s (from %s) not found: %w", c.path, c.explicit, err)
				}
				continue
			}
		}
		err := loadRuntime(c.path)
		if err == nil {
			rtLoaded = c.path
			if abs, aerr := filepath.Abs(c.path); aerr == nil && strings.ContainsRune(c.path, os.PathSeparator) {
				rtLoaded = abs
			}
			return rtLoaded, nil
		}
		if c.explicit != "" || errors.Is(err, errWrongVersion) {
			return "", err
		}
		if strings.ContainsRune(c.path, os.PathSeparator) {
			// A project library that exists but does not load.
			lastErr = err
		}
	}
	if lastErr != nil {
		return "", lastErr
	}
	return "", fmt.Errorf("onnx: %w", ErrNoRuntime)
}

var errWrongVersion = errors.New("wrong onnxruntime version")

// loadRuntime checks the version of the library at path, then initializes
// ort with it, leaving ort uninitialized on failure.
func loadRuntime(path string) error {
	v, closeLib, err := libVersion(path)
	if err != nil {
		return fmt.Errorf("onnx: cannot load onnxruntime library %s: %s", path, err)
	}
	if !strings.HasPrefix(v, "1.24.") {
		closeLib()
		return fmt.Errorf("onnx: %w: %s is onnxruntime %s, but onnxruntime 1.24.x is needed (set --ort-lib or ONNXRUNTIME_LIB, or run \"make onnxruntime\")", errWrongVersion, path, v)
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return fmt.Errorf("onnx: initializing onnxruntime %s from %s: %s", v, path, trimLines(err.Error()))
	}
	return nil
}

// RuntimeLoaded returns the path of the library loaded by InitRuntime, or ""
// before a successful call.
func RuntimeLoaded() string {
	rtMu.Lock()
	defer rtMu.Unlock()
	return rtLoaded
}

// projectLibCandidates lists third_party/onnxruntime/lib/<libFile> under the
// executable's folder, the working directory, and their parents up to (and
// including) the first folder holding go.mod.
func projectLibCandidates() []string {
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	seen := map[string]bool{}
	var out []string
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, "third_party", "onnxruntime", "lib", libFile)
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return out
}
