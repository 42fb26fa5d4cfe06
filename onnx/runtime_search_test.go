package onnx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// searchLayout is a folder tree for the search order: the executable in
// bin/, the working directory work/ (a module root), the user cache in
// cache/.
type searchLayout struct {
	root string
}

func (l searchLayout) places() searchPlaces {
	return searchPlaces{
		exeDir:   filepath.Join(l.root, "bin"),
		workDir:  filepath.Join(l.root, "work", "sub"),
		cacheDir: filepath.Join(l.root, "cache", "lmpseg", "onnxruntime", LibVersion, "lib"),
	}
}

// Places of a library in a searchLayout, relative to its root.
const (
	atExe     = "bin/" + libFile
	atExeLib  = "lib/" + libFile
	atExeProj = "third_party/onnxruntime/lib/" + libFile
	atWork    = "work/third_party/onnxruntime/lib/" + libFile
	atCache   = "cache/lmpseg/onnxruntime/" + LibVersion + "/lib/" + libFile
)

// linkFile hard-links (or copies) src to dst, making dst's folder.
func linkFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src, dst); err == nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestRuntimeSearchOrder walks the search order over fake libraries: ones
// that report onnxruntime 1.24.1 ("good"), 1.20.0 ("old"), and files that
// are no library at all ("junk"). The dynamic loader's own search is
// switched off so that the outcome does not depend on the machine.
func TestRuntimeSearchOrder(t *testing.T) {
	libs := t.TempDir()
	kinds := map[string]string{
		"good": fakeLib(t, libs, LibVersion),
		"old":  fakeLib(t, libs, "1.20.0"),
		"junk": filepath.Join(libs, "junk.so"),
	}
	if err := os.WriteFile(kinds["junk"], []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	noSystem := func(path string) (string, error) {
		if !isFile(path) {
			return "", errors.New("test: the system search is off")
		}
		return probeLib(path)
	}
	every := map[string]string{atExe: "good", atExeLib: "good", atExeProj: "good", atWork: "good", atCache: "good"}
	cases := []struct {
		name       string
		files      map[string]string // place -> kind
		flag, env  string            // places (relative) or absolute names
		want       string            // place used; "" none
		wantSource string
		wantErr    []string // substrings of the error when none is used
		wantIs     []error
		reasons    map[string]string // source -> substring of its reason
	}{
		{name: "flag first", files: every, flag: atCache, env: atWork, want: atCache, wantSource: SourceFlag,
			reasons: map[string]string{SourceEnv: "not searched: --ort-lib", SourceExe: "not searched: --ort-lib", SourceSystem: "not searched"}},
		{name: "env next", files: every, env: atWork, want: atWork, wantSource: SourceEnv,
			reasons: map[string]string{SourceFlag: "not given", SourceExe: "not searched: ONNXRUNTIME_LIB"}},
		{name: "executable folder", files: every, want: atExe, wantSource: SourceExe,
			reasons: map[string]string{SourceFlag: "not given", SourceEnv: "not set", SourceCache: "not tried"}},
		{name: "executable ../lib", files: map[string]string{atExeLib: "good", atExeProj: "good", atWork: "good", atCache: "good"}, want: atExeLib, wantSource: SourceExeLib,
			reasons: map[string]string{SourceExe: "not found"}},
		{name: "executable ../third_party", files: map[string]string{atExeProj: "good", atWork: "good", atCache: "good"}, want: atExeProj, wantSource: SourceExeProject},
		{name: "working directory", files: map[string]string{atWork: "good", atCache: "good"}, want: atWork, wantSource: SourceWorkDir},
		{name: "user cache", files: map[string]string{atCache: "good"}, want: atCache, wantSource: SourceCache,
			reasons: map[string]string{SourceWorkDir: "not found", SourceSystem: "not tried"}},
		{name: "junk passed over", files: map[string]string{atExe: "junk", atCache: "good"}, want: atCache, wantSource: SourceCache,
			reasons: map[string]string{SourceExe: "cannot load onnxruntime library"}},
		{name: "old version passed over", files: map[string]string{atExe: "old", atExeLib: "good"}, want: atExeLib, wantSource: SourceExeLib,
			reasons: map[string]string{SourceExe: "onnxruntime 1.20.0, but 1.24.x is needed"}},
		{name: "soname in the executable folder", files: map[string]string{"bin/libonnxruntime.so.1": "good"}, want: "bin/libonnxruntime.so.1", wantSource: SourceExe},
		{name: "nothing", wantErr: []string{`"lmpseg runtime install"`, "ONNXRUNTIME_LIB"}, wantIs: []error{ErrNoRuntime},
			reasons: map[string]string{SourceExe: "not found", SourceCache: "not found", SourceSystem: "system search is off"}},
		{name: "only an old one", files: map[string]string{atCache: "old"}, wantErr: []string{"onnxruntime 1.20.0", "lmpseg runtime install"}, wantIs: []error{ErrNoRuntime, errWrongVersion}},
		{name: "flag missing", files: every, flag: "nope/" + libFile, wantErr: []string{"--ort-lib", "not found"}, wantIs: []error{os.ErrNotExist},
			reasons: map[string]string{SourceFlag: "not found", SourceExe: "not searched: --ort-lib"}},
		{name: "env junk", files: every, env: "junk.so", wantErr: []string{"ONNXRUNTIME_LIB", "cannot load"},
			reasons: map[string]string{SourceExe: "not searched: ONNXRUNTIME_LIB"}},
	}
	for _, c := range cases {
		l := searchLayout{root: t.TempDir()}
		if err := os.MkdirAll(filepath.Join(l.root, "work", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l.root, "work", "go.mod"), []byte("module x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for place, kind := range c.files {
			linkFile(t, kinds[kind], filepath.Join(l.root, place))
		}
		if err := os.WriteFile(filepath.Join(l.root, "junk.so"), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := l.places()
		abs := func(s string) string {
			if s == "" {
				return ""
			}
			return filepath.Join(l.root, s)
		}
		p.flag, p.env = abs(c.flag), abs(c.env)
		cs, used, err := p.search(noSystem)
		if c.want != "" {
			if err != nil || used < 0 {
				t.Errorf("%s: error %v, want %s used", c.name, err, c.want)
				continue
			}
			if got := cs[used]; got.Path != abs(c.want) || got.Source != c.wantSource || !got.Used || got.Version != LibVersion {
				t.Errorf("%s: used %+v, want %s from %s", c.name, got, abs(c.want), c.wantSource)
			}
			for i, x := range cs {
				if x.Used != (i == used) {
					t.Errorf("%s: candidate %d %+v: Used %v", c.name, i, x, x.Used)
				}
			}
		} else {
			if err == nil || used >= 0 {
				t.Errorf("%s: used %d, error %v; want an error", c.name, used, err)
				continue
			}
			checkContains(t, c.name+": error", err.Error(), c.wantErr)
			for _, w := range c.wantIs {
				if !errors.Is(err, w) {
					t.Errorf("%s: error %q does not wrap %v", c.name, err, w)
				}
			}
		}
		for src, w := range c.reasons {
			found := false
			for _, x := range cs {
				if x.Source == src {
					found = true
					if !strings.Contains(x.Reason, w) {
						t.Errorf("%s: %s candidate %s: reason %q, want it to contain %q", c.name, src, x.Path, x.Reason, w)
					}
				}
			}
			if !found {
				t.Errorf("%s: no %s candidate in %+v", c.name, src, cs)
			}
		}
	}
}

// TestRuntimeCandidateOrder checks the listed order of the candidates.
func TestRuntimeCandidateOrder(t *testing.T) {
	l := searchLayout{root: t.TempDir()}
	p := l.places()
	p.workDir = filepath.Join(l.root, "work") // no go.mod: the walk goes up to the root
	var got []string
	for _, c := range p.candidates() {
		got = append(got, c.Source)
	}
	want := []string{SourceFlag, SourceEnv, SourceExe, SourceExeLib, SourceExeProject, SourceWorkDir}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("sources %v, want them to start with %v", got, want)
		}
	}
	rest := got[len(want):]
	for len(rest) > 0 && rest[0] == SourceWorkDir {
		rest = rest[1:]
	}
	if len(rest) != 3 || rest[0] != SourceCache || rest[1] != SourceSystem || rest[2] != SourceSystem {
		t.Errorf("sources %v: want the working directory's parents, then %s, then %s twice", got, SourceCache, SourceSystem)
	}
}

// runtimeHelper runs InitRuntime through TestInitRuntimeHelper in the test
// binary exe, from the folder wd, with env added to a copy of the
// environment without ONNXRUNTIME_LIB, LD_LIBRARY_PATH and XDG_CACHE_HOME.
func runtimeHelper(t *testing.T, exe, wd string, env ...string) string {
	t.Helper()
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ONNXRUNTIME_LIB=") && !strings.HasPrefix(kv, "LD_LIBRARY_PATH=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			base = append(base, kv)
		}
	}
	return runInitHelper(t, exe, wd, base, "", env)
}

// TestRuntimeFromAnywhere runs a copy of the test binary placed as make
// build places bin/lmpseg, from an unrelated folder, with the real library
// in each place in turn: beside the executable's folder, in the user cache,
// nowhere.
func TestRuntimeFromAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	needRuntime(t)
	lib := RuntimeLoaded()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	exe := filepath.Join(root, "checkout", "bin", "lmpseg.test")
	linkFile(t, self, exe)
	elsewhere := filepath.Join(root, "elsewhere")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(root, "cache")
	cacheLib := filepath.Join(cache, "lmpseg", "onnxruntime", LibVersion, "lib", libFile)
	projLib := filepath.Join(root, "checkout", "third_party", "onnxruntime", "lib", libFile)
	junk := filepath.Join(root, "checkout", "bin", libFile)
	env := []string{"XDG_CACHE_HOME=" + cache, "HOME=" + root}
	steps := []struct {
		name string
		put  []string // where the library is linked
		junk bool     // a junk file in the executable's folder
		want string
	}{
		{"checkout", []string{projLib, cacheLib}, false, "OK " + projLib},
		{"user cache", []string{cacheLib}, false, "OK " + cacheLib},
		{"junk beside the executable", []string{cacheLib}, true, "OK " + cacheLib},
		{"nowhere", nil, false, "ERR "},
	}
	for _, s := range steps {
		os.Remove(projLib)
		os.Remove(cacheLib)
		os.Remove(junk)
		for _, p := range s.put {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(lib, p); err != nil {
				t.Fatal(err)
			}
		}
		if s.junk {
			if err := os.WriteFile(junk, []byte("junk"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got := runtimeHelper(t, exe, elsewhere, env...)
		switch {
		case s.want == "ERR " && strings.HasPrefix(got, "OK "):
			t.Logf("%s: a system onnxruntime was found (%s); not-found case not checked", s.name, got)
		case s.want == "ERR ":
			if !strings.Contains(got, `"lmpseg runtime install"`) {
				t.Errorf("%s: got %q, want the error to name lmpseg runtime install", s.name, got)
			}
		case got != s.want:
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
}

// fakeArchive returns a gzipped tar holding files (name -> content).
func fakeArchive(t *testing.T, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingWriter counts the bytes written and whether it was closed.
type countingWriter struct {
	n      int64
	total  int64
	closed bool
}

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
func (w *countingWriter) Close() error                { w.closed = true; return nil }

func processUmask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

// TestRuntimeInstall installs a fake library from a local server: the
// first source fails, the second serves the library among other files.
func TestRuntimeInstall(t *testing.T) {
	lib := "\x7fELF a fake onnxruntime library"
	sum := sha256.Sum256([]byte(lib))
	want := hex.EncodeToString(sum[:])
	member := "package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
	good := fakeArchive(t, [][2]string{{"package/package.json", "{}"}, {member, lib}, {"package/README.md", "x"}})
	other := fakeArchive(t, [][2]string{{member, lib + " changed"}})
	noLib := fakeArchive(t, [][2]string{{"package/package.json", "{}"}})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/good.tgz":
			w.Write(good)
		case "/other.tgz":
			w.Write(other)
		case "/nolib.tgz":
			w.Write(noLib)
		case "/notgz.tgz":
			w.Write([]byte("<html>blocked</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src := func(p string) RuntimeSource { return RuntimeSource{Name: p, URL: srv.URL + p, Member: member} }
	cases := []struct {
		name    string
		sources []RuntimeSource
		wantErr []string // empty: installed
	}{
		{"missing, then good", []RuntimeSource{src("/missing.tgz"), src("/good.tgz")}, nil},
		{"not gzip, no library, then good", []RuntimeSource{src("/notgz.tgz"), src("/nolib.tgz"), src("/good.tgz")}, nil},
		{"member as ./name", []RuntimeSource{{Name: "dot", URL: srv.URL + "/good.tgz", Member: "./" + member}}, nil},
		{"wrong hash", []RuntimeSource{src("/other.tgz")}, []string{"sha256", "refusing", "/other.tgz"}},
		{"every source fails", []RuntimeSource{src("/missing.tgz"), src("/nolib.tgz")}, []string{"no source worked", "404", "holds no"}},
	}
	umask := processUmask()
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "lib")
		var bars []*countingWriter
		var notes []string
		o := InstallOptions{Dir: dir, Sources: c.sources, SHA256: want,
			Progress: func(total int64, name string) io.Writer {
				w := &countingWriter{total: total}
				bars = append(bars, w)
				return w
			},
			Log: func(f string, a ...any) { notes = append(notes, f) },
		}
		got, err := InstallRuntime(context.Background(), o)
		leftovers, _ := filepath.Glob(filepath.Join(dir, "*.partial-*"))
		if len(leftovers) > 0 {
			t.Errorf("%s: temporary files left: %v", c.name, leftovers)
		}
		if len(c.wantErr) > 0 {
			if err == nil {
				t.Errorf("%s: installed %s, want an error", c.name, got)
				continue
			}
			checkContains(t, c.name+": error", err.Error(), c.wantErr)
			if _, serr := os.Stat(filepath.Join(dir, libFile)); serr == nil {
				t.Errorf("%s: a library was installed despite the error", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != filepath.Join(dir, libFile) {
			t.Errorf("%s: installed at %s, want %s", c.name, got, filepath.Join(dir, libFile))
		}
		b, err := os.ReadFile(got)
		if err != nil || string(b) != lib {
			t.Errorf("%s: installed content %q, %v; want %q", c.name, b, err, lib)
		}
		for _, l := range []string{"libonnxruntime.so.1", "libonnxruntime.so"} {
			b, err := os.ReadFile(filepath.Join(dir, l))
			if err != nil || string(b) != lib {
				t.Errorf("%s: %s reads %q, %v", c.name, l, b, err)
			}
		}
		if st, err := os.Stat(got); err != nil || st.Mode().Perm() != 0o755&^umask {
			t.Errorf("%s: mode %v, %v; want %v", c.name, st.Mode().Perm(), err, 0o755&^umask)
		}
		if len(bars) == 0 {
			t.Errorf("%s: no progress shown", c.name)
		}
		for i, w := range bars {
			if !w.closed || w.n == 0 || w.total <= 0 || w.n > w.total {
				t.Errorf("%s: progress %d: %+v", c.name, i, *w)
			}
		}
		if len(c.sources) > 1 && len(notes) < len(c.sources)-1 {
			t.Errorf("%s: notes %q, want one per failed source", c.name, notes)
		}
	}

	// A library already installed is kept without a request; Force fetches again.
	dir := filepath.Join(t.TempDir(), "lib")
	o := InstallOptions{Dir: dir, Sources: []RuntimeSource{src("/good.tgz")}, SHA256: want}
	if _, err := InstallRuntime(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	before := hits.Load()
	if _, err := InstallRuntime(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != before {
		t.Errorf("installing again fetched %d archives; want none", hits.Load()-before)
	}
	o.Force = true
	if _, err := InstallRuntime(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != before+1 {
		t.Errorf("forced install fetched %d archives; want 1", hits.Load()-before)
	}

	// From a local file: checked against the hash, no request.
	local := filepath.Join(t.TempDir(), "local.so")
	if err := os.WriteFile(local, []byte(lib), 0o644); err != nil {
		t.Fatal(err)
	}
	before = hits.Load()
	o = InstallOptions{Dir: filepath.Join(t.TempDir(), "lib"), From: local, SHA256: want, Sources: []RuntimeSource{src("/good.tgz")}}
	if _, err := InstallRuntime(context.Background(), o); err != nil || hits.Load() != before {
		t.Errorf("--from: %v, %d requests", err, hits.Load()-before)
	}
	o.SHA256, o.Force = strings.Repeat("0", 64), true
	if _, err := InstallRuntime(context.Background(), o); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("--from with another hash: %v, want a refusal", err)
	}

	// A cancelled context stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o = InstallOptions{Dir: filepath.Join(t.TempDir(), "lib"), Sources: []RuntimeSource{src("/good.tgz"), src("/good.tgz")}, SHA256: want}
	if _, err := InstallRuntime(ctx, o); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

// TestRuntimeDefaultSources checks that the built-in sources are the ones
// of scripts/install-onnxruntime.sh.
func TestRuntimeDefaultSources(t *testing.T) {
	srcs := DefaultRuntimeSources()
	if srcs == nil {
		t.Skip("no pinned build for this platform")
	}
	script, err := os.ReadFile(filepath.Join("..", "scripts", "install-onnxruntime.sh"))
	if err != nil {
		t.Skip(err)
	}
	s := string(script)
	if !strings.Contains(s, LibSHA256) {
		t.Errorf("the script does not pin sha256 %s", LibSHA256)
	}
	if len(srcs) != 2 || !strings.Contains(srcs[0].URL, "github.com/microsoft/onnxruntime/releases") || !strings.Contains(srcs[1].URL, "registry.npmjs.org/onnxruntime-node") {
		t.Errorf("sources %+v: want the release archive, then npm", srcs)
	}
	for _, src := range srcs {
		if !strings.Contains(src.URL, LibVersion) {
			t.Errorf("source %s: URL %s does not name %s", src.Name, src.URL, LibVersion)
		}
		base := filepath.Base(src.Member)
		if !strings.Contains(s, base) {
			t.Errorf("source %s: member %s not in the script", src.Name, base)
		}
	}
}
