package onnx

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// LibVersion is the onnxruntime release whose C API the pinned
// onnxruntime_go binding was built against; any 1.24.x library is accepted.
const LibVersion = "1.24.1"

// libFile is the file name the project installer and InstallRuntime write.
const libFile = "libonnxruntime.so." + LibVersion

// ErrNoRuntime is wrapped by InitRuntime's error when no usable onnxruntime
// library is found.
var ErrNoRuntime = errors.New(`no usable onnxruntime library found: run "lmpseg runtime install", or in a checkout of lmpseg run "make onnxruntime", or set ONNXRUNTIME_LIB; "lmpseg runtime" shows where lmpseg looked`)

var (
	rtMu     sync.Mutex
	rtLoaded string
)

// The sources of RuntimeCandidate, in search order.
const (
	SourceFlag       = "--ort-lib"
	SourceEnv        = "ONNXRUNTIME_LIB"
	SourceExe        = "executable"        // the executable's folder
	SourceExeLib     = "executable ../lib" // lib/ beside the executable's folder
	SourceExeProject = "executable ../third_party"
	SourceWorkDir    = "working directory" // third_party/ in the working directory or a parent
	SourceCache      = "user cache"        // RuntimeCacheDir, where InstallRuntime writes
	SourceSystem     = "system"            // the dynamic loader's own search
)

// RuntimeCandidate is one place where InitRuntime looks for the onnxruntime
// library, with what was found there.
type RuntimeCandidate struct {
	// Source names the rule that gave the candidate (one of the Source
	// constants).
	Source string
	// Path is the library file, a bare file name for the system loader's
	// search, or "" when the source is not set.
	Path string
	// Version is the library's onnxruntime version, when it could be read.
	Version string
	// Used reports that this is the library InitRuntime loads.
	Used bool
	// Reason says why the candidate was or was not used.
	Reason string

	explicit bool // a failure is an error, not a reason to look further
}

// searchPlaces are the inputs of the search order, kept apart from the
// process so that tests can build candidate lists for any layout.
type searchPlaces struct {
	flag, env string // --ort-lib and $ONNXRUNTIME_LIB
	exeDir    string // the folder of the executable, symlinks resolved ("" if unknown)
	workDir   string
	cacheDir  string // RuntimeCacheDir ("" if the system has no cache folder)
}

func currentPlaces(libPath string) searchPlaces {
	p := searchPlaces{flag: libPath, env: os.Getenv("ONNXRUNTIME_LIB")}
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		p.exeDir = filepath.Dir(exe)
	}
	p.workDir, _ = os.Getwd()
	p.cacheDir, _ = RuntimeCacheDir()
	return p
}

// RuntimeCacheDir returns the folder in the user's cache directory where
// InstallRuntime puts the library and InitRuntime looks for it:
// os.UserCacheDir()/lmpseg/onnxruntime/1.24.1/lib.
func RuntimeCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("onnx: no user cache folder for onnxruntime: %w", err)
	}
	return filepath.Join(d, "lmpseg", "onnxruntime", LibVersion, "lib"), nil
}

// libNames are the file names looked for in a folder, the versioned one
// first.
func libNames() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libonnxruntime." + LibVersion + ".dylib", "libonnxruntime.dylib"}
	}
	return []string{libFile, "libonnxruntime.so.1", "libonnxruntime.so"}
}

// inDir returns the first library file of libNames present in dir, or the
// versioned name when there is none.
func inDir(dir string) string {
	names := libNames()
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(dir, names[0])
}

// candidates lists the search order for p. --ort-lib, when given, is the
// only candidate tried, and so is $ONNXRUNTIME_LIB without it; the others
// are listed, marked as not searched.
func (p searchPlaces) candidates() []RuntimeCandidate {
	var cs []RuntimeCandidate
	add := func(src, path string) { cs = append(cs, RuntimeCandidate{Source: src, Path: path}) }
	cs = append(cs, RuntimeCandidate{Source: SourceFlag, Path: p.flag, explicit: true})
	cs = append(cs, RuntimeCandidate{Source: SourceEnv, Path: p.env, explicit: true})
	if p.exeDir != "" {
		up := filepath.Dir(p.exeDir)
		add(SourceExe, inDir(p.exeDir))
		add(SourceExeLib, inDir(filepath.Join(up, "lib")))
		add(SourceExeProject, inDir(filepath.Join(up, "third_party", "onnxruntime", "lib")))
	}
	for _, path := range workDirCandidates(p.workDir) {
		add(SourceWorkDir, path)
	}
	if p.cacheDir != "" {
		add(SourceCache, inDir(p.cacheDir))
	}
	for _, n := range libNames()[1:] {
		add(SourceSystem, n)
	}
	// Drop repeats (the executable in the working directory's bin/, say).
	seen := map[string]bool{}
	out := cs[:0]
	for _, c := range cs {
		if c.Path != "" && !c.explicit {
			if seen[c.Path] {
				continue
			}
			seen[c.Path] = true
		}
		out = append(out, c)
	}
	return out
}

// workDirCandidates lists third_party/onnxruntime/lib/<libFile> under dir
// and its parents up to (and including) the first folder holding go.mod.
func workDirCandidates(dir string) []string {
	if dir == "" {
		return nil
	}
	var out []string
	for {
		out = append(out, filepath.Join(dir, "third_party", "onnxruntime", "lib", libFile))
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return out
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return out
		}
		dir = parent
	}
}

// isFile reports whether a candidate path names a file rather than a bare
// name for the dynamic loader's search.
func isFile(path string) bool { return strings.ContainsRune(path, os.PathSeparator) }

// search walks the candidates of p in order, calling try on each one that
// exists until try succeeds, and records in every candidate why it was or
// was not used. It returns the candidates, the index of the one used (-1
// if none) and the error to report when none was: the failure of an
// explicit candidate, or ErrNoRuntime joined to the first failure.
func (p searchPlaces) search(try func(path string) (version string, err error)) ([]RuntimeCandidate, int, error) {
	cs := p.candidates()
	stop := len(cs) // candidates from stop on are not searched
	for i, c := range cs {
		if c.explicit && c.Path != "" {
			stop = i + 1
			break
		}
	}
	used := -1
	var firstErr, explicitErr error
	for i := range cs {
		c := &cs[i]
		switch {
		case c.explicit && c.Path == "":
			c.Reason = "not set"
			if c.Source == SourceFlag {
				c.Reason = "not given"
			}
			continue
		case i >= stop:
			c.Reason = "not searched: " + cs[stop-1].Source + " is given"
			continue
		case used >= 0:
			c.Reason = "not tried: an earlier library is used"
			continue
		}
		if isFile(c.Path) || c.explicit {
			if _, err := os.Stat(c.Path); err != nil {
				c.Reason = "not found"
				if c.explicit {
					explicitErr = fmt.Errorf("onnx: onnxruntime library %s (from %s) not found: %w", c.Path, c.Source, err)
				}
				continue
			}
		}
		v, err := try(c.Path)
		c.Version = v
		switch {
		case err == nil:
			c.Used, c.Reason, used = true, "used", i
		case c.explicit:
			c.Reason, explicitErr = reasonOf(err, v), fmt.Errorf("%w (from %s)", err, c.Source)
		case !isFile(c.Path) && strings.Contains(err.Error(), "cannot open shared object file"):
			c.Reason = "not found by the dynamic loader (LD_LIBRARY_PATH, ldconfig)"
		default:
			c.Reason = reasonOf(err, v)
			if firstErr == nil && isFile(c.Path) {
				firstErr = err
			}
		}
	}
	switch {
	case used >= 0:
		return cs, used, nil
	case explicitErr != nil:
		return cs, -1, explicitErr
	case firstErr != nil:
		return cs, -1, fmt.Errorf("%w; %w", firstErr, ErrNoRuntime)
	}
	return cs, -1, fmt.Errorf("onnx: %w", ErrNoRuntime)
}

// reasonOf shortens the error of loading a candidate of version v (""
// when it could not be read) to the candidate's reason.
func reasonOf(err error, v string) string {
	if errors.Is(err, errWrongVersion) {
		return "onnxruntime " + v + ", but 1.24.x is needed"
	}
	return strings.TrimPrefix(err.Error(), "onnx: ")
}

// InitRuntime loads the onnxruntime shared library and initializes its
// environment, returning the path of the library loaded. The library is
// looked for, in order:
//
//   - at libPath (the --ort-lib flag) when not empty;
//   - at $ONNXRUNTIME_LIB;
//   - in the executable's folder, then in ../lib and
//     ../third_party/onnxruntime/lib beside it (the layout of make build's
//     bin/lmpseg in a checkout);
//   - at third_party/onnxruntime/lib in the working directory and its
//     parents up to the folder holding go.mod;
//   - in RuntimeCacheDir, where "lmpseg runtime install" puts it;
//   - through the dynamic loader's own search for libonnxruntime.so.1.
//
// In a folder the names libonnxruntime.so.1.24.1, libonnxruntime.so.1 and
// libonnxruntime.so are tried in that order. An explicit libPath or
// $ONNXRUNTIME_LIB ends the search: if it cannot be loaded, that is the
// error. Elsewhere a library that cannot be loaded, or is not onnxruntime
// 1.24.x, is passed over; if none is usable the error wraps ErrNoRuntime
// (and the first failure). SearchRuntime reports the same search without
// loading anything.
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
	cs, used, err := currentPlaces(libPath).search(loadRuntime)
	if err != nil {
		return "", err
	}
	rtLoaded = cs[used].Path
	if abs, aerr := filepath.Abs(rtLoaded); aerr == nil && isFile(rtLoaded) {
		rtLoaded = abs
	}
	return rtLoaded, nil
}

// SearchRuntime walks InitRuntime's search order for libPath without
// initializing onnxruntime: each candidate library is opened to read its
// version and closed again. The candidate marked Used is the one
// InitRuntime would load, and err is the error it would return. What
// InitRuntime has already loaded in this process, if anything, is
// RuntimeLoaded's answer, not SearchRuntime's.
func SearchRuntime(libPath string) (cs []RuntimeCandidate, err error) {
	cs, _, err = currentPlaces(libPath).search(probeLib)
	return cs, err
}

var errWrongVersion = errors.New("wrong onnxruntime version")

// checkVersion returns the error for a library of version v, nil for 1.24.x.
func checkVersion(path, v string) error {
	if strings.HasPrefix(v, "1.24.") {
		return nil
	}
	return fmt.Errorf("onnx: %w: %s is onnxruntime %s, but onnxruntime 1.24.x is needed (run \"lmpseg runtime install\", or set --ort-lib or ONNXRUNTIME_LIB)", errWrongVersion, path, v)
}

// probeLib reads the version of the library at path, then closes it.
func probeLib(path string) (string, error) {
	v, closeLib, err := libVersion(path)
	if err != nil {
		return "", fmt.Errorf("onnx: cannot load onnxruntime library %s: %s", path, err)
	}
	closeLib()
	return v, checkVersion(path, v)
}

// loadRuntime checks the version of the library at path, then initializes
// ort with it, leaving ort uninitialized on failure.
func loadRuntime(path string) (string, error) {
	v, closeLib, err := libVersion(path)
	if err != nil {
		return "", fmt.Errorf("onnx: cannot load onnxruntime library %s: %s", path, err)
	}
	if err := checkVersion(path, v); err != nil {
		closeLib()
		return v, err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return v, fmt.Errorf("onnx: initializing onnxruntime %s from %s: %s", v, path, trimLines(err.Error()))
	}
	return v, nil
}

// RuntimeLoaded returns the path of the library loaded by InitRuntime, or ""
// before a successful call.
func RuntimeLoaded() string {
	rtMu.Lock()
	defer rtMu.Unlock()
	return rtLoaded
}

// LibSHA256 is the sha256 of the onnxruntime 1.24.1 CPU library for
// linux/amd64 that InstallRuntime accepts (the one in the official release
// archive and in the onnxruntime-node@1.24.1 npm package).
const LibSHA256 = "53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4"

// RuntimeSource is a gzipped tar archive holding the onnxruntime library.
type RuntimeSource struct {
	Name   string // shown in messages
	URL    string
	Member string // the library's path inside the archive
}

// DefaultRuntimeSources returns where InstallRuntime fetches onnxruntime
// 1.24.1 from, in order: the official release archive, then the
// onnxruntime-node@1.24.1 package of the npm registry (which ships the same
// library). It returns nil on platforms other than linux/amd64, for which
// no library hash is pinned.
func DefaultRuntimeSources() []RuntimeSource {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return nil
	}
	return []RuntimeSource{
		{
			Name:   "onnxruntime release " + LibVersion,
			URL:    "https://github.com/microsoft/onnxruntime/releases/download/v" + LibVersion + "/onnxruntime-linux-x64-" + LibVersion + ".tgz",
			Member: "onnxruntime-linux-x64-" + LibVersion + "/lib/" + libFile,
		},
		{
			Name:   "npm onnxruntime-node@" + LibVersion,
			URL:    "https://registry.npmjs.org/onnxruntime-node/-/onnxruntime-node-" + LibVersion + ".tgz",
			Member: "package/bin/napi-v6/linux/x64/libonnxruntime.so.1",
		},
	}
}

// InstallOptions configure InstallRuntime. The zero value installs the
// pinned library from DefaultRuntimeSources into RuntimeCacheDir.
type InstallOptions struct {
	// Dir is the folder to install into; "" is RuntimeCacheDir.
	Dir string
	// From, when not empty, is a library file to copy instead of
	// downloading (it must have the pinned hash too).
	From string
	// Sources are tried in order; nil is DefaultRuntimeSources.
	Sources []RuntimeSource
	// SHA256 is the hex sha256 the library must have; "" is LibSHA256.
	SHA256 string
	// Client fetches the sources; nil is a client with short connect and
	// header timeouts that honours the proxy environment variables.
	Client *http.Client
	// Force replaces a library already installed.
	Force bool
	// Progress, when not nil, is called once per download with its size
	// (-1 when unknown) and source name; the bytes read are written to
	// the writer it returns, which is closed at the end of the download
	// when it is an io.Closer.
	Progress func(total int64, name string) io.Writer
	// Log, when not nil, receives notes (a source that failed, say).
	Log func(format string, args ...any)
}

// InstallRuntime puts onnxruntime 1.24.1 into o.Dir (RuntimeCacheDir by
// default) as libonnxruntime.so.1.24.1, with the links libonnxruntime.so.1
// and libonnxruntime.so, and returns the library's path. The library is
// streamed out of the first source archive that can be fetched and kept
// only if its sha256 is o.SHA256; a library already there with that hash
// is kept unless o.Force. The file is written under a temporary name and
// renamed, so that an interrupted install leaves nothing half-written.
// Its mode is 0755 less the umask.
func InstallRuntime(ctx context.Context, o InstallOptions) (string, error) {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = RuntimeCacheDir(); err != nil {
			return "", err
		}
	}
	want := strings.ToLower(o.SHA256)
	if want == "" {
		want = LibSHA256
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dst := filepath.Join(dir, libFile)
	if !o.Force {
		if sum, err := Sha256(dst); err == nil && sum == want {
			logf("onnxruntime %s is already installed in %s", LibVersion, dir)
			return dst, linkLib(dir)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("onnx: installing onnxruntime: %w", err)
	}
	if o.From != "" {
		f, err := os.Open(o.From)
		if err != nil {
			return "", fmt.Errorf("onnx: installing onnxruntime: %w", err)
		}
		defer f.Close()
		if err := writeLib(dst, f, want, o.From); err != nil {
			return "", err
		}
		return dst, linkLib(dir)
	}
	sources := o.Sources
	if sources == nil {
		sources = DefaultRuntimeSources()
		if sources == nil {
			return "", fmt.Errorf("onnx: no onnxruntime %s build is pinned for %s/%s: install onnxruntime 1.24.x and set ONNXRUNTIME_LIB (or give --from FILE with its sha256)", LibVersion, runtime.GOOS, runtime.GOARCH)
		}
	}
	client := o.Client
	if client == nil {
		client = installClient()
	}
	var fails []string
	for _, src := range sources {
		err := fetchLib(ctx, client, src, dst, want, o.Progress)
		if err == nil {
			return dst, linkLib(dir)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("onnx: installing onnxruntime: %w", ctx.Err())
		}
		logf("%s: %v", src.Name, err)
		fails = append(fails, src.Name+": "+err.Error())
	}
	return "", fmt.Errorf("onnx: installing onnxruntime %s: no source worked (%s); download it by hand and use --from FILE, or set ONNXRUNTIME_LIB", LibVersion, strings.Join(fails, "; "))
}

// installClient is the default HTTP client of InstallRuntime: it gives up
// quickly on a host it cannot reach (the release host is blocked on many
// machines) but not on a slow download.
func installClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
}

// fetchLib streams the archive of src and writes its library member to
// dst if it has the sha256 want.
func fetchLib(ctx context.Context, client *http.Client, src RuntimeSource, dst, want string, progress func(int64, string) io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", src.URL, resp.Status)
	}
	var body io.Reader = resp.Body
	if progress != nil {
		if w := progress(resp.ContentLength, src.Name); w != nil {
			body = io.TeeReader(body, w)
			if c, ok := w.(io.Closer); ok {
				defer c.Close()
			}
		}
	}
	zr, err := gzip.NewReader(body)
	if err != nil {
		return fmt.Errorf("%s: not a gzip archive: %w", src.URL, err)
	}
	tr := tar.NewReader(zr)
	member := path.Clean(strings.TrimPrefix(src.Member, "./"))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s holds no %s", src.URL, src.Member)
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", src.URL, err)
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) != member {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s in %s is not a regular file", src.Member, src.URL)
		}
		return writeLib(dst, tr, want, src.Name)
	}
}

// writeLib copies r to a temporary file beside dst and renames it to dst
// if its sha256 is want; from names r in messages.
func writeLib(dst string, r io.Reader, want, from string) error {
	tmp := fmt.Sprintf("%s.partial-%d-%d", dst, os.Getpid(), time.Now().UnixNano())
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755) // less the umask
	if err != nil {
		return fmt.Errorf("onnx: installing onnxruntime: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("onnx: installing onnxruntime from %s: %w", from, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		os.Remove(tmp)
		return fmt.Errorf("onnx: the library from %s has sha256 %s, not the pinned %s; refusing it", from, got, want)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("onnx: installing onnxruntime: %w", err)
	}
	return nil
}

// linkLib makes libonnxruntime.so.1 and libonnxruntime.so in dir point at
// the versioned library, as the project installer does.
func linkLib(dir string) error {
	for _, l := range [][2]string{{"libonnxruntime.so.1", libFile}, {"libonnxruntime.so", "libonnxruntime.so.1"}} {
		p := filepath.Join(dir, l[0])
		if t, err := os.Readlink(p); err == nil && t == l[1] {
			continue
		}
		os.Remove(p)
		if err := os.Symlink(l[1], p); err != nil {
			return fmt.Errorf("onnx: installing onnxruntime: %w", err)
		}
	}
	return nil
}
